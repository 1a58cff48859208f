"""The validator finds every kind of problem in one pass, on the right lines, with real videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kangaroo.data import PROBLEM_CODES, check_record, validate_records
from kangaroo.video import write_video

SRT = "1\n00:00:00,000 --> 00:00:00,500\nA kangaroo.\n\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two real 1-second videos, subtitles, a fake video and a bad subtitle file."""
    folder = tmp_path_factory.mktemp("validate")
    frames = [np.full((32, 32, 3), 40 * i, dtype=np.uint8) for i in range(5)]
    write_video(folder / "a.mp4", frames, fps=5)
    (folder / "clips").mkdir()
    write_video(folder / "clips" / "b.mp4", frames, fps=5)
    (folder / "a.srt").write_text(SRT, encoding="utf-8")
    (folder / "bad.srt").write_bytes(b"\x00\x01 not subtitles at all \xff\xfe")
    (folder / "fake.mp4").write_text("this is not a video")
    return folder


def user_video(text: str = "What happens?") -> dict:
    return {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}


ANSWER = {"role": "assistant", "content": "A kangaroo hops."}


def rec(id_: str, **fields: object) -> dict:
    data: dict = {"id": id_, "video": "a.mp4", "messages": [user_video(), ANSWER]}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


CLEAN = [
    rec("one", start=0.2, end=0.8, subtitles="a.srt", meta={"task": "qa", "language": "en", "split": "train"}),
    rec("two", video=None, videos=["a.mp4", "clips/b.mp4"],
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "vs"}, {"type": "video"}]},
                  ANSWER, {"role": "user", "content": "Sure?"}, {"role": "assistant", "content": "Yes."}]),
    rec("three", video=None, messages=[{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]),
    rec("four", meta={"options": ["hops", "sleeps"], "answer": "(A)", "times": [0.5, [0.1, 0.9]]}),
]


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    return path


def test_clean_file_has_no_problems(root: Path) -> None:
    report = validate_records(write_lines(root / "clean.jsonl", CLEAN))
    assert report.problems == []
    assert report.ok and report.records == 4


# (line, code) for every problem of BAD; line numbers are 1-based lines of the file.
BAD = [
    rec("dup"),  # 1: duplicate-id with line 8
    "{not json",  # 2
    "[1, 2]",  # 3
    {"id": "no-messages", "video": "a.mp4"},  # 4
    rec("unknown", vidoe="a.mp4"),  # 5
    rec("bad-role", messages=[user_video(), {"role": "model", "content": "x"}]),  # 6
    rec("bad-language", meta={"language": "fr"}),  # 7
    rec("dup"),  # 8
    rec("count", messages=[user_video(), ANSWER, {"role": "user", "content": [{"type": "video"}]}, ANSWER]),  # 9
    rec("placeholder", messages=[{"role": "user", "content": "<video>\nWhat?"}, ANSWER]),  # 10
    rec("empty", messages=[user_video(), {"role": "assistant", "content": "  "}]),  # 11
    rec("order", messages=[{"role": "assistant", "content": "Hi"}, user_video()]),  # 12
    rec("open-end", messages=[user_video()]),  # 13
    rec("clip", start=0.8, end=0.2),  # 14
    rec("missing-video", video="nope.mp4"),  # 15
    rec("fake-video", video="fake.mp4"),  # 16
    rec("missing-subs", subtitles="nope.srt"),  # 17
    rec("beyond", start=0.5, end=30),  # 18
    rec("answer", meta={"options": ["hops", "sleeps"], "answer": "C"}),  # 19
    "",  # 20: blank lines are skipped but counted
    rec("system-late", messages=[user_video(), ANSWER, {"role": "system", "content": "late"}]),  # 21
    rec("two-videos", video=None, videos=["a.mp4", "gone.mp4"],
        messages=[{"role": "user", "content": [{"type": "video"}, {"type": "image"}]}, ANSWER]),  # 22
    rec("bad-subs", subtitles="bad.srt"),  # 23
]
EXPECTED = {
    (1, "duplicate-id"),
    (2, "invalid-json"),
    (3, "not-an-object"),
    (4, "missing-field"),
    (5, "unknown-field"),
    (6, "invalid-field"),
    (7, "invalid-field"),
    (8, "duplicate-id"),
    (9, "video-count"),
    (10, "placeholder-in-text"),
    (10, "video-count"),  # the placeholder is text: 0 video parts, 1 video
    (11, "empty-turn"),
    (12, "role-order"),
    (13, "role-order"),
    (14, "bad-clip"),
    (15, "missing-video"),
    (16, "unreadable-video"),
    (17, "missing-subtitles"),
    (18, "clip-outside-video"),
    (19, "answer-not-in-options"),
    (21, "role-order"),
    (22, "missing-video"),
    (23, "unreadable-subtitles"),
}


def test_every_problem_is_found_on_its_line(root: Path) -> None:
    report = validate_records(write_lines(root / "bad.jsonl", BAD))
    found = {(p.line, p.code) for p in report.problems}
    assert found == EXPECTED
    assert len(report.problems) == len(EXPECTED)  # one problem each, none twice
    assert report.records == 22 and not report.ok
    assert [p.line for p in report.problems] == sorted(p.line for p in report.problems)
    by_line = {p.line: p for p in report.problems}
    assert "also used on line(s) 8" in by_line[1].message and "line(s) 1" in by_line[8].message
    assert by_line[1].id == "dup"
    assert {p.code for p in report.warnings} == {"clip-outside-video", "answer-not-in-options"}
    assert "fake.mp4" in by_line[16].message
    assert "gone.mp4" in by_line[22].message
    assert "messages[2] is a system message" in by_line[21].message
    assert {code for _, code in EXPECTED} | {"no-records"} == set(PROBLEM_CODES)  # every code is exercised
    for problem in report.problems:
        assert problem.severity == PROBLEM_CODES[problem.code][0]


def test_open_end_allowed_and_no_probe(root: Path) -> None:
    path = write_lines(root / "bad2.jsonl", BAD)
    report = validate_records(path, allow_open_end=True, probe=False)
    found = {(p.line, p.code) for p in report.problems}
    # open ends are fine; without probing, a fake video exists, durations and subtitles are unknown
    assert found == EXPECTED - {(13, "role-order"), (16, "unreadable-video"), (18, "clip-outside-video"),
                                (23, "unreadable-subtitles")}


def test_root_argument(root: Path, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "elsewhere.jsonl", CLEAN)  # not beside the videos
    assert {p.code for p in validate_records(path).problems} == {"missing-video", "missing-subtitles"}
    assert validate_records(path, root=root).problems == []


def test_json_list_lines(root: Path) -> None:
    path = root / "list.json"
    path.write_text(json.dumps([CLEAN[0], rec("x", video="nope.mp4")], indent=2))
    (problem,) = validate_records(path).problems
    assert problem.code == "missing-video"
    assert path.read_text().splitlines()[problem.line - 1] == "  {"
    broken = root / "broken.json"
    broken.write_text('[\n {"id": "a"},\n {"id": \n')
    codes = [(p.line, p.code) for p in validate_records(broken).problems]
    assert codes[0] == (2, "missing-field") and codes[-1][1] == "invalid-json"


def test_empty_file_warns(tmp_path: Path) -> None:
    report = validate_records(write_lines(tmp_path / "e.jsonl", []))
    assert [(p.code, p.severity, p.line) for p in report.problems] == [("no-records", "warning", None)]
    assert report.ok


def test_each_video_is_probed_once(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kangaroo.video

    calls: list[Path] = []
    real = kangaroo.video.probe

    def counting(path, scan=True):  # type: ignore[no-untyped-def]
        calls.append(Path(path))
        assert scan is False  # headers only
        return real(path, scan=scan)

    monkeypatch.setattr(kangaroo.video, "probe", counting)
    records = [rec(f"r{i}") for i in range(5)]
    assert validate_records(write_lines(root / "many.jsonl", records)).problems == []
    assert calls == [root / "a.mp4"]


def test_check_record_without_files() -> None:
    assert check_record(CLEAN[1]) == []
    problems = check_record({"id": "x", "messages": [{"role": "user", "content": []}], "start": -1})
    assert {code for _, code, _ in problems} == {"empty-turn", "role-order", "bad-clip"}
    assert check_record({"id": "x", "messages": [user_video()]}, allow_open_end=True) == [
        ("error", "video-count", "1 video part(s) in the messages but 0 video(s)")
    ]


def test_report_to_dict(root: Path) -> None:
    report = validate_records(write_lines(root / "one.jsonl", [rec("x", video="nope.mp4")]))
    data = report.to_dict()
    assert data["errors"] == 1 and data["warnings"] == 0 and data["records"] == 1
    assert data["problems"][0] == {
        "severity": "error", "code": "missing-video", "line": 1, "id": "x",
        "message": data["problems"][0]["message"],
    }
    assert str(report.problems[0]).startswith("line 1: error missing-video: video 'nope.mp4' not found")
