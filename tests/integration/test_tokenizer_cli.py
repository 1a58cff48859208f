"""`kangaroo tokenizer train` and `kangaroo tokenizer show` on generated record and text files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer
from typer.testing import CliRunner

import kangaroo.cli.tokenizer_commands  # noqa: F401 - registers `kangaroo tokenizer`
from kangaroo.cli import app
from kangaroo.model.layout import VideoTokenLayout
from kangaroo.model.tokenizer_training import MIN_VOCAB_SIZE
from kangaroo.processing import KangarooProcessor

pytestmark = pytest.mark.integration

COLORS = [("red", "红色"), ("blue", "蓝色"), ("green", "绿色"), ("yellow", "黄色"), ("black", "黑色")]
SHAPES = [("circle", "圆形"), ("square", "正方形"), ("triangle", "三角形"), ("star", "星形")]
MOVES = [
    ("moves left", "向左移动"),
    ("moves right", "向右移动"),
    ("jumps up", "向上跳"),
    ("falls down", "向下落"),
]


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Records with English questions and answers (video parts included), and a Chinese text file."""
    folder = tmp_path_factory.mktemp("corpus")
    records, chinese = folder / "records.jsonl", folder / "chinese.txt"
    with records.open("w", encoding="utf-8") as r, chinese.open("w", encoding="utf-8") as c:
        for color, color_zh in COLORS:
            for shape, shape_zh in SHAPES:
                for move, move_zh in MOVES:
                    record = {
                        "id": f"{color}-{shape}-{move}",
                        "video": "clip.mp4",
                        "messages": [
                            {
                                "role": "user",
                                "content": [
                                    {"type": "video"},
                                    {"type": "text", "text": f"What does the {color} {shape} do?"},
                                ],
                            },
                            {"role": "assistant", "content": f"The {color} {shape} {move}."},
                        ],
                    }
                    r.write(json.dumps(record, ensure_ascii=False) + "\n")
                    c.write(f"{color_zh}{shape_zh}{move_zh}。\n")
    return records, chinese


@pytest.fixture(scope="module")
def trained(corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    records, chinese = corpus
    out = tmp_path_factory.mktemp("tok") / "bilingual"
    result = invoke(
        "tokenizer",
        "train",
        "--records",
        records,
        "--text",
        chinese,
        "--vocab-size",
        700,
        "--out",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_train_writes_a_transformers_tokenizer(trained: tuple[Path, dict]) -> None:
    out, summary = trained
    assert summary["out"] == str(out)
    assert summary["texts"] == 2 * 80 + 80  # two messages per record, one line per Chinese sentence
    assert summary["requested_vocab_size"] == 700
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert len(tokenizer) == summary["vocab_size"]
    assert MIN_VOCAB_SIZE < summary["vocab_size"] <= 700
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (256, 260, 261)
    english, chinese = summary["compression"]["english"], summary["compression"]["chinese"]
    assert english["characters"] > 0 and chinese["characters"] > 0
    assert english["tokens_per_character"] < 0.5
    assert chinese["tokens_per_character"] < 1.0
    for text in ["The blue star jumps up.", "蓝色星形向上跳。", "a 🦘 <video> ☃"]:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == text
    # the saved tokenizer drives the processor
    processor = KangarooProcessor(tokenizer, VideoTokenLayout(image_size=56, patch_size=14))
    messages = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "红色圆形 <|eot_id|>?"}]}
    ]
    ids = processor.encode(messages, [2])
    assert processor.decode(ids) == "user\n\n红色圆形 <|eot_id|>?assistant\n\n"
    assert int((ids == tokenizer.eos_token_id).sum()) == 1


def test_train_prints_a_summary(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    records, chinese = corpus
    result = invoke(
        "tokenizer", "train", "--records", records, "--text", chinese, "--vocab-size", 300, "--out", tmp_path
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "vocabulary of 300 tokens" in text and "asked for" not in text
    assert "english:" in text and "chinese:" in text and "tokens per character" in text
    assert f"Saved to {tmp_path}" in text
    assert (tmp_path / "tokenizer.json").is_file()
    assert [p.name for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}-")] == []


def test_train_is_deterministic(
    corpus: tuple[Path, Path], trained: tuple[Path, dict], tmp_path: Path
) -> None:
    records, chinese = corpus
    result = invoke(
        "tokenizer", "train", "--text", chinese, "--records", records, "--vocab-size", 700, "--out", tmp_path
    )
    assert result.exit_code == 0, result.output
    first = json.loads((trained[0] / "tokenizer.json").read_text(encoding="utf-8"))
    again = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert first["model"] == again["model"]


def test_show(trained: tuple[Path, dict]) -> None:
    out, _ = trained
    text = "红色圆形 moves <|eot_id|> 🦘"
    result = invoke("tokenizer", "show", out, text, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert shown["ids"] == tokenizer.encode(text)
    assert shown["ids"][0] == 256 and 260 in shown["ids"]  # bos; the typed special token is matched
    assert shown["tokens"] == tokenizer.convert_ids_to_tokens(shown["ids"])
    assert shown["round_trip"] is True and shown["decoded"] == text
    assert len(shown["ids"]) < len(text.encode()) + 1

    plain = json.loads(
        invoke("tokenizer", "show", out, "green circle", "--no-special-tokens", "--json").stdout
    )
    assert plain["ids"] == tokenizer.encode("green circle", add_special_tokens=False)

    table = invoke("tokenizer", "show", out, "蓝色 square")
    assert table.exit_code == 0, table.output
    assert "<|begin_of_text|>" in table.stdout and "'蓝'" in table.stdout
    assert "decodes back exactly: yes" in " ".join(table.stdout.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--out", "{tmp}/o"], "no input text"),
        (["train", "--text", "{tmp}/missing.txt", "--out", "{tmp}/o"], "missing.txt: no such file"),
        (["train", "--records", "{records}", "--vocab-size", "200", "--out", "{tmp}/o"], "too small"),
        (["train", "--records", "{records}", "--min-frequency", "0", "--out", "{tmp}/o"], "--min-frequency"),
        (["train", "--text", "{empty}", "--out", "{tmp}/o"], "no training text"),
        (["train", "--records", "{bad}", "--out", "{tmp}/o"], "bad.jsonl:1: not JSON"),
        (["train", "--records", "{records}", "--out", "{records}"], "is not a folder"),
        (["show", "{tmp}/none", "x"], "no such folder"),
        (["show", "{tmp}", "x"], "is it a saved tokenizer"),
    ],
)
def test_errors_exit_2_with_one_line(
    corpus: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    empty, bad = tmp_path / "empty.txt", tmp_path / "bad.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    bad.write_text("{oops\n", encoding="utf-8")
    values = {"tmp": tmp_path, "records": corpus[0], "empty": empty, "bad": bad}
    result = invoke("tokenizer", *(a.format(**values) for a in args))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.startswith("error:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
