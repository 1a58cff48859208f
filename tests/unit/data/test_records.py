"""The record schema: exact JSON round trips, reading (JSONL and JSON lists), atomic writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kangaroo.data import (
    Record,
    RecordError,
    count_video_parts,
    read_records,
    schema_problems,
    video_paths,
    write_records,
)
from kangaroo.data.records import iter_json_values

FULL = {
    "id": "clip-0001",
    "video": "videos/clip-0001.mp4",
    "start": 12,
    "end": 48.5,
    "subtitles": "subs/clip-0001.srt",
    "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "袋鼠在做什么？"}]},
        {"role": "assistant", "content": "It jumps.\nTwice."},
    ],
    "meta": {"task": "qa", "language": "mixed", "options": ["jumps", "sleeps"], "answer": "A", "times": [1.5, [2, 3]]},
}
TWO_VIDEOS = {
    "id": "pair",
    "videos": ["a.mp4", "b/c.mkv"],
    "messages": [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": " vs "}, {"type": "image"}]},
        {"role": "assistant", "content": "Same."},
    ],
}
TEXT_ONLY = {"id": "text", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


@pytest.mark.parametrize("data", [FULL, TWO_VIDEOS, TEXT_ONLY], ids=["full", "videos", "text"])
def test_dict_round_trip_is_exact(data: dict) -> None:
    record = Record.from_dict(data)
    assert record.to_dict() == data
    assert list(record.to_dict()) == list(data)  # schema key order
    assert Record.from_dict(record.to_dict()) == record


def test_from_dict_copies_its_input() -> None:
    data = json.loads(json.dumps(FULL))
    record = Record.from_dict(data)
    data["messages"][1]["content"][1]["text"] = "changed"
    data["meta"]["options"].append("x")
    assert record.to_dict() == FULL


def test_fields_and_helpers() -> None:
    record = Record.from_dict(FULL)
    assert (record.id, record.start, record.end, record.subtitles) == ("clip-0001", 12, 48.5, "subs/clip-0001.srt")
    assert record.video_list == ["videos/clip-0001.mp4"]
    assert video_paths(record, "/data") == [Path("/data/videos/clip-0001.mp4")]
    assert video_paths(record) == [Path("videos/clip-0001.mp4")]
    pair = Record.from_dict(TWO_VIDEOS)
    assert video_paths(pair, Path("root")) == [Path("root/a.mp4"), Path("root/b/c.mkv")]
    assert count_video_parts(pair) == 2  # "image" parts count as videos
    assert count_video_parts(TWO_VIDEOS) == 2  # dicts work too
    assert count_video_parts(Record.from_dict(TEXT_ONLY)) == 0
    assert Record.from_dict(TEXT_ONLY).video_list == []


def test_to_dict_leaves_out_unset_fields_and_empty_meta() -> None:
    record = Record(id="x", messages=[{"role": "user", "content": "q"}], meta={})
    assert record.to_dict() == {"id": "x", "messages": [{"role": "user", "content": "q"}]}


def test_schema_problems_names_every_field() -> None:
    bad = {
        "id": "",
        "video": "a.mp4",
        "videos": ["b.mp4"],
        "start": "3",
        "extra": 1,
        "messages": [
            {"role": "bot", "content": "x"},
            {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": 3}]},
            {"role": "assistant"},
        ],
        "meta": {"language": "fr", "options": "A,B", "times": ["x"]},
    }
    problems = schema_problems(bad)
    text = "\n".join(message for _, message in problems)
    for fragment in ("'id'", "not both", "'start'", "'extra'", "messages[0].role", "content[0]", "content[1].text",
                     "messages[2] has no 'content'", "meta.language", "meta.options", "meta.times"):
        assert fragment in text, fragment
    assert {code for code, _ in problems} == {"invalid-field", "unknown-field"}
    with pytest.raises(RecordError, match=r"meta\.language"):
        Record.from_dict(bad)
    assert schema_problems({"messages": []})[0] == ("missing-field", "missing field 'id'")
    assert schema_problems([1]) == [("not-an-object", "a record is a JSON object, got list")]
    assert schema_problems({"id": "a", "messages": [{"role": "user", "content": "q"}], "start": float("nan")})


def test_write_then_read_is_exact_jsonl(tmp_path: Path) -> None:
    records = [Record.from_dict(d) for d in (FULL, TWO_VIDEOS, TEXT_ONLY)]
    path = tmp_path / "sub" / "records.jsonl"
    assert write_records(path, records) == 3
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [FULL, TWO_VIDEOS, TEXT_ONLY]
    assert "袋鼠" in lines[0]  # UTF-8, not \u escapes
    assert list(read_records(path)) == records
    assert [p.name for p in path.parent.iterdir()] == ["records.jsonl"]  # no temporary files left


def test_write_accepts_dicts_and_checks_them(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_records(path, [FULL, TWO_VIDEOS])
    assert [r.id for r in read_records(path)] == ["clip-0001", "pair"]
    with pytest.raises(RecordError, match="'id'"):
        write_records(tmp_path / "bad.jsonl", [{"id": 3, "messages": TEXT_ONLY["messages"]}])


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_records(path, [TEXT_ONLY])
    before = path.read_bytes()
    with pytest.raises(RecordError, match="duplicate id 'pair'"):
        write_records(path, [FULL, TWO_VIDEOS, TWO_VIDEOS])
    with pytest.raises(ValueError):
        write_records(path, [Record(id="n", messages=TEXT_ONLY["messages"], meta={"score": float("nan")})])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]


def test_read_json_list_bom_and_blank_lines(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([FULL, TEXT_ONLY], indent=2), encoding="utf-8")
    assert [r.to_dict() for r in read_records(listed)] == [FULL, TEXT_ONLY]
    lines = [line for line, _, _ in iter_json_values(listed)]
    assert lines == [2, 1 + json.dumps([FULL, TEXT_ONLY], indent=2).splitlines().index("  {", 2)]
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + json.dumps(TEXT_ONLY).encode() + b"\n\n   \n" + json.dumps(FULL).encode())
    assert [r.id for r in read_records(jsonl)] == ["text", "clip-0001"]
    assert [line for line, _, _ in iter_json_values(jsonl)] == [1, 4]
    empty = tmp_path / "empty.json"
    empty.write_text("[]\n")
    assert list(read_records(empty)) == []


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([json.dumps(TEXT_ONLY), "{not json"], r":2: invalid JSON"),
        ([json.dumps(TEXT_ONLY), json.dumps({"id": "b", "messages": "hi"})], r":2: record 'b': 'messages' must be"),
        ([json.dumps(TEXT_ONLY), "", json.dumps(TEXT_ONLY)], r":3: duplicate id 'text' \(first on line 1\)"),
    ],
)
def test_read_records_raises_at_the_bad_line(tmp_path: Path, lines: list[str], match: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=match):
        list(read_records(path))


def test_read_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        list(read_records(tmp_path / "nope.jsonl"))
