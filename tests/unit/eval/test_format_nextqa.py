"""The NExT-QA (multiple choice) reader on a tiny fixture, and its task YAML."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmark_fixtures import nextqa as fixture
from kangaroo.eval.formats import BenchmarkDataError, read_samples
from kangaroo.eval.formats.nextqa import read
from kangaroo.eval.task import load_task


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, fixture.write(tmp_path)


def _by_id(root: Path, **options) -> dict:
    return {s.id: s for s in read(root, options, False)}


def _write_csv(root: Path, rows: list[list[str]], header: list[str] = fixture.HEADER, split: str = "test") -> None:
    with (root / "nextqa" / f"{split}.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def test_ids_letters_options_and_groups(bench):
    root, expected = bench
    samples = _by_id(root)
    assert {k: s.answer for k, s in samples.items()} == expected
    assert len(set(expected.values())) > 1
    first = samples["4010069381_6"]
    assert first.question == "how do the two man play the instrument"  # no "?", as given
    assert first.options == ["roll the handle", "tap their feet", "strum the string", "hit with sticks",
                             "pat with hand"]
    assert first.groups == {"type": "CH", "group": "C"}
    assert samples["4010069381_7"].groups == {"type": "TN", "group": "T"}  # TP merged into TN
    assert samples["4010069381_7"].extra["type"] == "TP"
    assert samples["4010069381_8"].groups == {"type": "DL", "group": "D"}
    assert first.extra["frame_count"] == "369"


def test_official_layout_through_the_map(bench):
    root, _ = bench
    samples = _by_id(root)
    assert samples["4010069381_6"].video == str(root / "NExTVideo" / "0101" / "4010069381.mp4")
    assert samples["3238737531_0"].video == str(root / "NExTVideo" / "1102" / "3238737531.mp4")
    assert all(s.error is None for s in samples.values())


def test_flat_layout(bench):
    root, _ = bench
    flat = _by_id(root, layout="flat")["3238737531_0"]
    assert flat.video == str(root / "NExTVideo" / "3238737531.mp4")
    assert flat.error == f"video not found: {flat.video}"
    (root / "NExTVideo" / "1102" / "3238737531.mp4").rename(root / "NExTVideo" / "3238737531.mp4")
    (root / "nextqa" / "map_vid_vidorID.json").unlink()  # no map: flat by default
    assert _by_id(root)["3238737531_0"].error is None


def test_missing_video_and_missing_map_entry(bench):
    root, _ = bench
    (root / "NExTVideo" / "0101" / "4010069381.mp4").unlink()
    (root / "nextqa" / "map_vid_vidorID.json").write_text('{"4010069381": "0101/4010069381"}')
    samples = _by_id(root)
    assert samples["4010069381_6"].error.startswith("video not found: ")
    assert samples["3238737531_0"].error.startswith("video not found: 3238737531 has no entry")


def test_other_split_and_unknown_options(bench):
    root, _ = bench
    _write_csv(root, fixture.ROWS[:2], split="val")
    assert [s.id for s in read(root, {"split": "val"}, False)] == ["4010069381_6", "4010069381_7"]
    with pytest.raises(BenchmarkDataError, match="unknown split"):
        list(read(root, {"split": "dev"}, False))
    with pytest.raises(BenchmarkDataError, match="unknown layout"):
        list(read(root, {"layout": "nested"}, False))
    with pytest.raises(BenchmarkDataError, match=r"train\.csv: annotation file not found"):
        list(read(root, {"split": "train"}, False))


def _with(row_index: int, column: str, value: str) -> list[list[str]]:
    rows = [list(r) for r in fixture.ROWS]
    rows[row_index][fixture.HEADER.index(column)] = value
    return rows


@pytest.mark.parametrize(("rows", "message"), [
    (_with(1, "answer", "5"), r"test\.csv: line 3: answer '5'"),
    (_with(0, "type", "XX"), r"test\.csv: line 2: unknown type 'XX'"),
    (_with(2, "a3", ""), r"test\.csv: line 4: empty \['a3'\]"),
    ([[*fixture.ROWS[0], "extra"]], r"line 2: .*extra cells"),
])
def test_malformed_rows(bench, rows, message):
    root, _ = bench
    _write_csv(root, rows)
    with pytest.raises(BenchmarkDataError, match=message):
        list(read(root, {}, False))


def test_wrong_header(bench):
    root, _ = bench
    _write_csv(root, fixture.ROWS, header=[c for c in fixture.HEADER if c != "qid"])
    with pytest.raises(BenchmarkDataError, match=r"line 1: the header lacks \['qid'\]"):
        list(read(root, {}, False))


def test_quoted_cells(bench):
    root, _ = bench
    _write_csv(root, _with(0, "a1", "tap, then stamp"))
    assert _by_id(root)["4010069381_6"].options[1] == "tap, then stamp"


def test_task_yaml_loads_and_renders(bench):
    root, expected = bench
    task = load_task("nextqa")
    assert task.format == "nextqa" and task.report_groups == ("type", "group")
    samples = read_samples(task.format, root, task.data, task.subtitles)
    assert {s.id for s in samples} == set(expected)
    sample = samples[0]
    rendered = {}
    for name, prompt in task.prompts.items():
        options = "\n".join(prompt.option.format(letter=letter, text=text)
                            for letter, text in zip(sample.letters, sample.options, strict=True))
        rendered[name] = prompt.user.format_map({"question": sample.question, "options": options,
                                                 "subtitles": "", "letters": "", "duration": ""})
    assert rendered["lmms_eval"] == (f"{sample.question}\nA. roll the handle\nB. tap their feet\n"
                                     "C. strum the string\nD. hit with sticks\nE. pat with hand")
    assert rendered["letter"].endswith("Answer with the option's letter from the given choices directly.")
