"""Train a byte-level BPE tokenizer with the same special tokens and chat template as the tiny model's.

`train_bpe_tokenizer(texts)` learns merges with the ``tokenizers`` library (`BpeTrainer`) over
Llama-3's pre-tokenization (its split regex, then GPT-2's byte-to-symbol mapping), so every byte
sequence, Chinese and emoji included, round-trips exactly. The vocabulary is laid out like
`kangaroo.model.tokenizer.build_byte_tokenizer()`, extended by the merges:

    0-255     the bytes (id = byte value)
    256-266   CHAT_TOKENS, then SPECIAL_VIDEO_TOKENS (special: never split, never made by merges)
    267-      merged tokens, in the order they were learned

``bos``, ``eos``, ``pad``, the post-processor (``bos`` added by plain ``tokenizer(text)``) and the
chat template (`llama3_chat_template()`) are those of the byte tokenizer, so `KangarooProcessor`
and the model work with either, and with a real Llama-3 tokenizer after `add_video_tokens`.

Text sources: `texts_from_records` (message texts of record JSONL files) and `texts_from_files`
(plain text, one document per line or per file). `compression_stats` measures tokens per
character for Chinese and for the other (English) text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .layout import SPECIAL_VIDEO_TOKENS
from .tokenizer import (
    CHAT_TOKENS,
    _byte_symbols,
    wrap_backend,
)

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = (*CHAT_TOKENS, *SPECIAL_VIDEO_TOKENS)  # ids 256-266, in this order
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)  # the bytes and the special tokens: no merges

# Llama-3's pre-tokenizer split (tokenizer.json of Meta-Llama-3-8B): contractions, letter runs
# with one leading non-letter, numbers of 1-3 digits, punctuation runs, newlines, spaces.
# A run of Chinese characters (letters, \p{L}) is one piece, inside which merges may span characters.
LLAMA3_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Runs counted as Chinese by `compression_stats`: CJK radicals, symbols and punctuation, Han
# ideographs (with extensions and compatibility forms), fullwidth forms.
_CHINESE_RUN_RE = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0002fa1f]+"
)


def train_bpe_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 4096,
    min_frequency: int = 2,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` (each one a document; consumed once).

    vocab_size:    the size of the whole vocabulary (bytes + special tokens + merges), at least
                   `MIN_VOCAB_SIZE` (267). A small corpus may stop short of it: training ends when
                   no pair occurs ``min_frequency`` times.
    min_frequency: the fewest occurrences of a pair for it to be merged.

    The vocabulary always starts from all 256 byte symbols, so any text round-trips and ids
    0-255 are the bytes.

    Deterministic: the same texts (in any order) give the same vocabulary and merges.
    Returns a `PreTrainedTokenizerFast` with ``bos`` ``<|begin_of_text|>``, ``eos`` ``<|eot_id|>``,
    ``pad`` ``<|pad|>`` and `llama3_chat_template()`; save it with ``save_pretrained``.
    Raises ``ValueError`` for a vocabulary below `MIN_VOCAB_SIZE`, ``min_frequency < 1``, a text
    that is not a string, or no text at all.
    """
    from tokenizers import pre_tokenizers, trainers

    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(
            f"vocab_size {vocab_size} is too small: the 256 bytes and {len(SPECIAL_TOKENS)} special tokens "
            f"need {MIN_VOCAB_SIZE}"
        )
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),  # the trainer's count: alphabet + merges
        min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend = _empty_backend()
    corpus = _CheckedTexts(texts)
    backend.train_from_iterator(corpus, trainer=trainer)
    if corpus.characters == 0:
        raise ValueError("no training text: every text was empty (or there were none)")
    trained = json.loads(backend.to_str())["model"]
    merges: list[tuple[str, str]] = [tuple(pair) for pair in trained["merges"]]
    return _assemble(_byte_symbols(), merges)


def _empty_backend(
    vocab: dict[str, int] | None = None, merges: list[tuple[str, str]] | None = None
) -> Tokenizer:
    """A BPE ``tokenizers.Tokenizer`` with Llama-3's split regex and the byte-level mapping."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    model = models.BPE() if vocab is None else models.BPE(vocab=vocab, merges=merges or [])
    backend = Tokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    return backend


def _assemble(alphabet: Sequence[str], merges: Sequence[tuple[str, str]]) -> PreTrainedTokenizerFast:
    """Lay out the vocabulary (alphabet, special tokens, merged tokens in learning order) and wrap
    it like `build_byte_tokenizer()`."""

    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    for left, right in merges:
        merged = left + right
        # The split regex cuts every special-token string apart ("<|", "eot", "_", "id", "|>"),
        # so no merge can spell one; two merges may make the same string ("ab"+"c", "a"+"bc").
        assert merged not in SPECIAL_TOKENS, merged
        vocab.setdefault(merged, len(vocab))
    backend = _empty_backend(vocab, list(merges))
    tokenizer = wrap_backend(backend)
    assert tokenizer.bos_token_id == len(alphabet) and len(tokenizer) == len(vocab)
    return tokenizer


class _CheckedTexts:
    """Iterates over texts once, checking that each is a string and counting characters."""

    def __init__(self, texts: Iterable[str]) -> None:
        if isinstance(texts, str):
            raise ValueError("texts must be an iterable of strings, not one string")
        self._texts = texts
        self.count = 0
        self.characters = 0

    def __iter__(self) -> Iterator[str]:
        for text in self._texts:
            if not isinstance(text, str):
                raise ValueError(f"text {self.count} is a {type(text).__name__}, not a string")
            self.count += 1
            self.characters += len(text)
            yield text


# ---------------------------------------------------------------------------------- text sources


def texts_from_records(paths: Iterable[str | PathLike[str]]) -> Iterator[str]:
    """The text of every message of every record in JSONL record files, one text per message.

    A record is ``{"messages": [{"role", "content": str | [{"type": "text", "text": ...},
    {"type": "video"}, ...]}], ...}``; a message's text parts are joined, empty texts skipped.
    Raises ``FileNotFoundError`` at once when a file is missing, and ``ValueError`` (naming
    ``file:line``) for a line that is not a record, while iterating.
    """
    files = _existing_files(paths)
    return _record_texts(files)


def _record_texts(files: list[Path]) -> Iterator[str]:
    for path in files:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(_checked_lines(path, lines), start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
                for text in _message_texts(record, f"{path}:{number}"):
                    if text:
                        yield text


def _message_texts(record: Any, where: str) -> Iterator[str]:
    messages = record.get("messages") if isinstance(record, Mapping) else None
    if not isinstance(messages, list):
        raise ValueError(f"{where}: a record needs a list of 'messages'")
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            texts = []
            for part in content:
                if not isinstance(part, Mapping):
                    raise ValueError(f"{where}: message {i} has a content part that is not an object")
                if part.get("type") == "text":
                    if not isinstance(part.get("text"), str):
                        raise ValueError(f"{where}: message {i} has a text part without a string 'text'")
                    texts.append(part["text"])
            yield "".join(texts)
        else:
            raise ValueError(f"{where}: message {i} needs 'content', a string or a list of parts")


def texts_from_files(paths: Iterable[str | PathLike[str]], whole_files: bool = False) -> Iterator[str]:
    """Plain UTF-8 text files as documents: one per non-empty line (without its line break), or
    with ``whole_files`` one per file.

    Raises ``FileNotFoundError`` at once when a file is missing, and ``ValueError`` naming the
    file when it is not UTF-8, while iterating.
    """
    files = _existing_files(paths)
    return _file_texts(files, whole_files)


def _file_texts(files: list[Path], whole_files: bool) -> Iterator[str]:
    for path in files:
        with path.open(encoding="utf-8", newline="") as lines:
            if whole_files:
                text = "".join(_checked_lines(path, lines))
                if text:
                    yield text
                continue
            for line in _checked_lines(path, lines):
                line = line.rstrip("\r\n")
                if line:
                    yield line


def _checked_lines(path: Path, lines: Iterable[str]) -> Iterator[str]:
    """The lines of an open text file, with a decoding error turned into a ``ValueError`` naming it."""
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a chunk)"
            ) from None
        yield line


def _existing_files(paths: Iterable[str | PathLike[str]]) -> list[Path]:
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
    return files


# ---------------------------------------------------------------------------------- measurement


@dataclass(frozen=True)
class CompressionStats:
    """How many tokens some text takes: ``tokens / characters`` (lower is better)."""

    characters: int
    utf8_bytes: int
    tokens: int

    @property
    def tokens_per_character(self) -> float:
        return self.tokens / self.characters if self.characters else 0.0

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "tokens_per_character": round(self.tokens_per_character, 4)}


def split_chinese(text: str) -> tuple[list[str], list[str]]:
    """``text`` cut into runs of Chinese (Han and CJK punctuation, fullwidth forms) and runs of
    everything else: ``(chinese_runs, other_runs)``."""
    chinese, other = [], []
    previous = 0
    for match in _CHINESE_RUN_RE.finditer(text):
        if match.start() > previous:
            other.append(text[previous : match.start()])
        chinese.append(match.group(0))
        previous = match.end()
    if previous < len(text):
        other.append(text[previous:])
    return chinese, other


def compression_stats(
    tokenizer: Any, texts: Iterable[str], max_characters: int | None = None
) -> dict[str, CompressionStats]:
    """Tokens per character of ``texts`` under ``tokenizer`` (no special tokens), separately for
    Chinese runs and for the rest (``"english"``: Latin text, digits, spaces, punctuation).

    Each run is encoded on its own, so figures for mixed text are approximate at run boundaries.
    ``max_characters`` stops after the text that crosses it (for large corpora).
    Returns ``{"english": CompressionStats, "chinese": CompressionStats}``.
    """
    runs: dict[str, list[str]] = {"english": [], "chinese": []}
    seen = 0
    for text in texts:
        chinese, other = split_chinese(text)
        runs["chinese"] += chinese
        runs["english"] += other
        seen += len(text)
        if max_characters is not None and seen >= max_characters:
            break
    out = {}
    for language, pieces in runs.items():
        encoded = tokenizer(pieces, add_special_tokens=False)["input_ids"] if pieces else []
        out[language] = CompressionStats(
            characters=sum(map(len, pieces)),
            utf8_bytes=sum(len(p.encode("utf-8")) for p in pieces),
            tokens=sum(map(len, encoded)),
        )
    return out
