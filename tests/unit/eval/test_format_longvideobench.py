"""The LongVideoBench reader on a tiny fixture, and its task YAMLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_fixtures import longvideobench as fixture
from kangaroo.eval.formats import BenchmarkDataError, read_samples
from kangaroo.eval.formats.longvideobench import read
from kangaroo.eval.task import load_task
from kangaroo.video.subtitles import SubtitleLine


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, fixture.write(tmp_path)


def _by_id(root: Path, subtitles: bool = False, **options) -> dict:
    return {s.id: s for s in read(root, options, subtitles)}


def _rewrite(root: Path, edit) -> None:
    path = root / "lvb_val.json"
    records = json.loads(path.read_text())
    edit(records)
    path.write_text(json.dumps(records))


def test_ids_letters_options_groups_bounds(bench):
    root, expected = bench
    samples = _by_id(root)
    assert {k: s.answer for k, s in samples.items()} == expected
    assert len(set(expected.values())) > 1
    assert samples["vidA_1"].options == ["red", "green", "blue", "black", "white"]
    assert samples["vidA_1"].letters == list("ABCDE")
    a0, b0 = samples["vidA_0"], samples["vidB_0"]
    assert (a0.start, a0.end) == (None, 1.5) and (b0.start, b0.end) == (None, 2.0)
    assert a0.groups == {"duration_group": "15", "question_category": "E2O", "topic_category": "NP-News-Programs"}
    assert b0.groups["duration_group"] == "60"
    assert Path(a0.video).is_absolute() and a0.video == str(root / "videos" / "vidA.mp4")
    assert a0.error is None and a0.subtitles is None
    assert a0.extra["video_id"] == "vidA" and a0.extra["level"] == "L1-Perception"


def test_subtitles_both_styles_offset_subtracted(bench):
    root, _ = bench
    samples = _by_id(root, subtitles=True)
    assert samples["vidA_0"].subtitles.events == [
        SubtitleLine(0.5, 1.0, "hello from the news"),
        SubtitleLine(1.0, 1.5, "until the end"),  # null end: to the end of the video (duration)
    ]
    assert samples["vidB_1"].subtitles.events == [SubtitleLine(0.25, 1.0, "first line"),
                                                  SubtitleLine(1.0, 1.75, "second line")]
    assert samples["vidB_1"].subtitles.to_prompt([0.5, 1.2]) == "first line\nsecond line"
    assert samples["vidA_0"].subtitles is samples["vidA_1"].subtitles  # read once per file


def test_missing_subtitle_file_leaves_none(bench):
    root, _ = bench
    (root / "subtitles" / "vidB_en.json").unlink()
    sample = _by_id(root, subtitles=True)["vidB_0"]
    assert sample.subtitles is None and "subtitles not found" in sample.extra["subtitle_error"]


def test_malformed_subtitle_entry(bench):
    root, _ = bench
    (root / "subtitles" / "vidB_en.json").write_text(json.dumps([{"start": "soon", "end": "later", "line": "x"}]))
    with pytest.raises(BenchmarkDataError, match=r"vidB_en\.json: entry 0"):
        list(read(root, {}, True))


def test_missing_video_marks_the_sample(bench):
    root, _ = bench
    (root / "videos" / "vidB.mp4").unlink()
    samples = _by_id(root)
    assert samples["vidB_0"].error == f"video not found: {root / 'videos' / 'vidB.mp4'}"
    assert samples["vidA_0"].error is None


def test_test_split_without_answers(bench):
    root, _ = bench
    _rewrite(root, lambda records: [r.pop("correct_choice") for r in records])
    assert {s.answer for s in read(root, {}, False)} == {None}


def test_hf_variant_option_columns_drop_padding(bench):
    root, expected = bench

    def to_columns(records):
        for r in records:
            padded = r.pop("candidates") + ["N/A"] * 5
            r.update({f"option{i}": padded[i] for i in range(5)})

    _rewrite(root, to_columns)
    samples = _by_id(root)
    assert samples["vidB_0"].options == ["once", "twice", "never"]
    assert {k: s.answer for k, s in samples.items()} == expected


def test_parquet_variant(bench):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    root, expected = bench
    records = json.loads((root / "lvb_val.json").read_text())
    for r in records:
        padded = r.pop("candidates") + ["N/A"] * 5
        r.update({f"option{i}": padded[i] for i in range(5)})
    pd.DataFrame(records).to_parquet(root / "validation.parquet")
    samples = _by_id(root, annotations="validation.parquet")
    assert {k: s.answer for k, s in samples.items()} == expected
    assert samples["vidA_0"].groups["duration_group"] == "15"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rs: rs[1].update(correct_choice=7), r"row 1: correct_choice 7"),
    (lambda rs: rs[2].pop("question"), r"row 2: missing 'question'"),
    (lambda rs: rs[0].pop("candidates"), r"row 0: no 'candidates'"),
    (lambda rs: rs.append("oops"), r"row 4: expected a JSON object"),
])
def test_malformed_rows(bench, edit, message):
    root, _ = bench
    _rewrite(root, edit)
    with pytest.raises(BenchmarkDataError, match=message):
        list(read(root, {}, False))


def test_missing_or_invalid_annotations(tmp_path):
    with pytest.raises(BenchmarkDataError, match="annotation file not found"):
        list(read(tmp_path, {}, False))
    (tmp_path / "lvb_val.json").write_text('{"not": "a list"}')
    with pytest.raises(BenchmarkDataError, match="expected a JSON list"):
        list(read(tmp_path, {}, False))


def _render(prompt, sample, subtitles: str = "") -> str:
    options = "\n".join(prompt.option.format(letter=letter, text=text)
                        for letter, text in zip(sample.letters, sample.options, strict=True))
    return prompt.user.format_map({"question": sample.question, "options": options, "subtitles": subtitles,
                                   "letters": ", ".join(sample.letters), "duration": ""})


def test_task_yamls_load_and_render(bench):
    root, expected = bench
    task = load_task("longvideobench")
    assert (task.format, task.prompt, task.subtitles) == ("longvideobench", "official", False)
    samples = read_samples(task.format, root, task.data, task.subtitles)
    assert {s.id for s in samples} == set(expected)
    sample = samples[0]
    official = _render(task.prompt_variant("official"), sample)
    assert official == (f"Question: {sample.question}\nA. a dog\nB. a bike\nC. a kite\nD. a ball\n"
                        "Answer with the option's letter from the given choices directly.")
    assert _render(task.prompt_variant("lmms_eval"), sample).startswith(f"{sample.question}\nA. a dog")

    sub = load_task("longvideobench_sub")
    assert sub.subtitles and sub.format == "longvideobench" and sub.data == task.data
    with_subs = read_samples(sub.format, root, sub.data, sub.subtitles)
    assert with_subs[0].subtitles is not None
    for name in sub.prompts:
        assert "{subtitles}" in sub.prompt_variant(name).user
        assert "hello from the news" in _render(sub.prompt_variant(name), sample, "hello from the news")
