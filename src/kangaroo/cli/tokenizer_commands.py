"""`kangaroo tokenizer train` and `kangaroo tokenizer show`: make a byte-level BPE tokenizer, look inside one."""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .app import DATA, _printable, _user_errors, app, console

tok_app = typer.Typer(
    help="Train a byte-level BPE tokenizer (kangaroo's special tokens and chat template), or show how "
    "one splits a text.",
    no_args_is_help=True,
)
app.add_typer(tok_app, name="tokenizer", rich_help_panel=DATA)

# Compression is measured on at most this much of the training text (a second pass over it).
STATS_MAX_CHARACTERS = 2_000_000


@tok_app.command("train")
def train_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tokenizer files (created).")],
    records: Annotated[
        list[Path] | None,
        typer.Option("--records", help="Record JSONL file whose message texts are trained on (repeatable)."),
    ] = None,
    text: Annotated[
        list[Path] | None,
        typer.Option("--text", help="Plain UTF-8 text file, one document per line (repeatable)."),
    ] = None,
    whole_files: Annotated[
        bool, typer.Option("--whole-files", help="Each --text file is one document, not one per line.")
    ] = False,
    vocab_size: Annotated[
        int, typer.Option("--vocab-size", help="Vocabulary size: 256 bytes + 11 special tokens + merges.")
    ] = 4096,
    min_frequency: Annotated[
        int, typer.Option("--min-frequency", help="Fewest occurrences of a pair for it to be merged.")
    ] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train a byte-level BPE tokenizer on record files and text files, and save it for transformers.

    The result has kangaroo's special tokens (ids 256-266) and the Llama-3 chat template, and loads
    with [bold]AutoTokenizer.from_pretrained(OUT)[/]. Prints the vocabulary size and the tokens per
    character of the training text, for Chinese and English separately.

    Example:
      $ [bold]kangaroo tokenizer train --records train.jsonl --text corpus.txt --vocab-size 4096 --out tok[/]
    """
    with _user_errors():
        from kangaroo.model.tokenizer_training import (
            MIN_VOCAB_SIZE,
            compression_stats,
            texts_from_files,
            texts_from_records,
            train_bpe_tokenizer,
        )

        if vocab_size < MIN_VOCAB_SIZE:
            raise ValueError(
                f"--vocab-size {vocab_size} is too small: the 256 bytes and {MIN_VOCAB_SIZE - 256} special "
                f"tokens need at least {MIN_VOCAB_SIZE}"
            )
        if min_frequency < 1:
            raise ValueError(f"--min-frequency must be >= 1, got {min_frequency}")
        record_files, text_files = records or [], text or []
        if not record_files and not text_files:
            raise ValueError("no input text: give --records FILE.jsonl and/or --text FILE.txt")

        def corpus() -> Iterator[str]:
            # texts_from_* check that every file exists when called, before anything is read
            sources = [
                texts_from_records(record_files),
                texts_from_files(text_files, whole_files=whole_files),
            ]
            return itertools.chain.from_iterable(sources)

        _check_output(out)
        counted = _Counter(corpus())
        started = time.perf_counter()
        tokenizer = train_bpe_tokenizer(counted, vocab_size=vocab_size, min_frequency=min_frequency)
        seconds = time.perf_counter() - started
        stats = compression_stats(tokenizer, corpus(), max_characters=STATS_MAX_CHARACTERS)
        _save(tokenizer, out)
    result: dict[str, Any] = {
        "out": str(out),
        "vocab_size": len(tokenizer),
        "requested_vocab_size": vocab_size,
        "texts": counted.count,
        "characters": counted.characters,
        "seconds": round(seconds, 3),
        "compression": {language: s.to_dict() for language, s in stats.items()},
    }
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    short = (
        ""
        if len(tokenizer) == vocab_size
        else f" (asked for {vocab_size}: no more pairs occur {min_frequency}+ times)"
    )
    console.print(
        f"Trained on {counted.count:,} texts, {counted.characters:,} characters, in {seconds:.1f} s: "
        f"vocabulary of [bold]{len(tokenizer):,}[/] tokens{short}.",
        highlight=False,
    )
    for language, s in stats.items():
        if s.characters:
            console.print(
                f"  {language}: {s.tokens_per_character:.3f} tokens per character "
                f"({s.tokens:,} tokens for {s.characters:,} characters, {s.utf8_bytes:,} bytes)",
                highlight=False,
            )
        else:
            console.print(f"  {language}: no text", highlight=False)
    console.print(f"Saved to [bold]{escape(str(out))}[/]", highlight=False)


@tok_app.command("show")
def show_command(
    directory: Annotated[Path, typer.Argument(help="Folder of a saved tokenizer (tokenizer.json).")],
    text: Annotated[str, typer.Argument(help="The text to encode.")],
    add_special_tokens: Annotated[
        bool,
        typer.Option(
            "--add-special-tokens/--no-special-tokens", help="Add bos, as plain tokenizer(text) does."
        ),
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print ids, tokens and their texts as JSON.")
    ] = False,
) -> None:
    """Show how a saved tokenizer splits a text: each token's id, piece and text.

    Special-token strings in TEXT are matched as special tokens, as the raw tokenizer does (the
    processor encodes user text differently: never as special tokens).

    Example:
      $ [bold]kangaroo tokenizer show tok "红色圆形向左移动"[/]
    """
    with _user_errors():
        tokenizer = _load(directory)
        ids = tokenizer.encode(text, add_special_tokens=add_special_tokens)
        pieces = tokenizer.convert_ids_to_tokens(ids)
        texts = [tokenizer.decode([i]) for i in ids]
        # what the text itself became: without the bos (or other tokens) the post-processor added
        body = tokenizer.encode(text, add_special_tokens=False)
        decoded = tokenizer.decode(body, skip_special_tokens=False)
    if as_json:
        payload = {
            "ids": ids,
            "tokens": pieces,
            "texts": texts,
            "decoded": decoded,
            "round_trip": decoded == text,
            "characters": len(text),
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    table = Table("#", "id", "token", "text", box=None, pad_edge=False)
    for n, (token_id, piece, piece_text) in enumerate(zip(ids, pieces, texts, strict=True)):
        table.add_row(str(n), str(token_id), escape(piece), escape(_printable(repr(piece_text))))
    console.print(table)
    console.print(
        f"{len(ids)} tokens for {len(text)} characters; decodes back exactly: {'yes' if decoded == text else 'no'}",
        highlight=False,
    )


class _Counter:
    """Passes texts through, counting them and their characters."""

    def __init__(self, texts: Iterator[str]) -> None:
        self._texts = texts
        self.count = 0
        self.characters = 0

    def __iter__(self) -> Iterator[str]:
        for text in self._texts:
            self.count += 1
            self.characters += len(text)
            yield text


def _check_output(out: Path) -> None:
    """Fail before training when ``out`` cannot become the output folder."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder")


def _save(tokenizer: Any, out: Path) -> None:
    """``save_pretrained`` into a scratch folder, then write each file into ``out`` (each file is
    replaced atomically, `kangaroo.io.atomic_write_bytes`; other files in ``out`` are kept)."""
    from kangaroo.io import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer.save_pretrained(scratch)
        for file in sorted(Path(scratch).iterdir()):
            atomic_write_bytes(out / file.name, file.read_bytes())


def _load(directory: Path) -> Any:
    from transformers import AutoTokenizer

    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such folder")
    if not (directory / "tokenizer.json").is_file() and not (directory / "tokenizer_config.json").is_file():
        raise FileNotFoundError(
            f"{directory}: no tokenizer.json or tokenizer_config.json; is it a saved tokenizer?"
        )
    return AutoTokenizer.from_pretrained(directory, local_files_only=True)
