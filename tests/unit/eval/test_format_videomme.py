"""The Video-MME reader on a tiny fixture (parquet and JSON), subtitles, and its two task YAMLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_fixtures import videomme as fixture
from kangaroo.eval.formats import BenchmarkDataError, read_samples
from kangaroo.eval.formats.videomme import read, strip_font_tags, strip_letter
from kangaroo.eval.samples import EvalSample
from kangaroo.eval.task import load_task
from kangaroo.video.subtitles import SubtitleLine, Subtitles

JSON_OPTIONS = {"annotations": fixture.JSON}


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The JSON variant (no pandas needed); the parquet one has its own test."""
    return tmp_path, fixture.write(tmp_path, annotations="json")


def _by_id(root: Path, subtitles: bool = False, **options) -> dict[str, EvalSample]:
    return {s.id: s for s in read(root, {**JSON_OPTIONS, **options}, subtitles)}


def _rewrite(root: Path, edit) -> None:
    path = root / fixture.JSON
    rows = json.loads(path.read_text())
    edit(rows)
    path.write_text(json.dumps(rows))


def test_ids_letters_options_groups(bench):
    root, expected = bench
    samples = _by_id(root)
    assert list(samples) == ["001-1", "001-2", "301-1", "301-2", "601-1"]
    assert {k: s.answer for k, s in samples.items()} == expected
    assert len(set(expected.values())) == 4
    first = samples["001-1"]
    assert first.options == ["Apples.", "Candles.", "Berries.", "The three kinds are of the same number."]
    assert first.question == "Which decoration is the most numerous?"
    assert first.groups == {"duration": "short", "domain": "Knowledge", "sub_category": "Knowledge sub",
                            "task_type": "Counting Problem"}
    assert samples["301-1"].groups["duration"] == "medium" and samples["601-1"].groups["duration"] == "long"
    assert first.video == str(root / "data" / "fFjv93ACGo8.mp4") and first.error is None
    assert first.extra == {"videoID": "fFjv93ACGo8"}
    assert samples["601-1"].video == str(root / "data" / "mkvVideo001.mkv")  # other suffixes tried
    assert first.subtitles is None  # not asked for


def test_parquet_table(tmp_path):
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    expected = fixture.write(tmp_path)
    samples = read_samples("videomme", tmp_path, load_task("videomme").data)
    assert {s.id: s.answer for s in samples} == expected
    assert samples[0].options[3] == "The three kinds are of the same number."
    assert all(isinstance(s.options, list) for s in samples)


def test_subtitles_font_tags_stripped(bench):
    root, _ = bench
    samples = _by_id(root, subtitles=True)
    subs = samples["001-1"].subtitles
    assert subs.events == [SubtitleLine(0.0, 0.8, "Welcome to the kitchen."),
                           SubtitleLine(1.0, 1.8, "Now add the candles.")]
    assert subs.text_at([0.5, 0.9, 1.5]) == ["Welcome to the kitchen.", "", "Now add the candles."]
    assert samples["001-2"].subtitles is subs  # read once per video
    assert samples["301-1"].subtitles is None and samples["301-1"].error is None  # no SRT file


def test_strip_font_tags_and_letters():
    tagged = Subtitles([SubtitleLine(0, 1, '<font color="white" size=".72c">Hi</font>'),
                        SubtitleLine(1, 2, "<FONT size=1></font>")], "x.srt")
    assert strip_font_tags(tagged).events == [SubtitleLine(0, 1, "Hi")]
    assert strip_letter("A. Apples.", "A") == "Apples."
    assert strip_letter("Apples.", "A") == "Apples." and strip_letter("B. x", "A") == "B. x"


def test_unreadable_srt_marks_the_sample(bench):
    root, _ = bench
    (root / "subtitle" / "Qb2xXzzeT1Y.srt").write_text("just some words\nnot a subtitle file\n")
    samples = _by_id(root, subtitles=True)
    assert samples["301-1"].subtitles is None and samples["301-1"].error.startswith("subtitles unreadable: ")
    assert samples["001-1"].error is None


def test_missing_video_gives_sample_error(bench):
    root, _ = bench
    (root / "data" / "Qb2xXzzeT1Y.mp4").unlink()
    samples = _by_id(root)
    assert samples["301-1"].error == f"video not found: {root / 'data' / 'Qb2xXzzeT1Y.mp4'}"
    assert samples["301-2"].error and samples["001-1"].error is None


def test_missing_annotation_file(tmp_path):
    with pytest.raises(BenchmarkDataError, match="annotation file not found"):
        list(read(tmp_path, JSON_OPTIONS, False))
    with pytest.raises(BenchmarkDataError, match="annotation file not found"):
        list(read(tmp_path, {}, False))  # the default parquet
    with pytest.raises(BenchmarkDataError, match="unknown annotation format"):
        list(read(tmp_path, {"annotations": "videomme/test.csv"}, False))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: rows[2].update(answer="E"), "answer 'E' is not one of the option letters"),
    (lambda rows: rows[2].pop("videoID"), "missing"),
    (lambda rows: rows[2].update(options="A. x"), "'options' must be a list"),
])
def test_malformed_row_names_file_and_row(bench, edit, message):
    root, _ = bench
    _rewrite(root, edit)
    with pytest.raises(BenchmarkDataError, match=message) as caught:
        list(read(root, JSON_OPTIONS, False))
    assert "test.json: row 2" in str(caught.value)


def _render(task, variant: str, sample: EvalSample, subtitles: str = "") -> str:
    prompt = task.prompt_variant(variant)
    options = "\n".join(prompt.option.format(letter=k, text=t) for k, t in zip(sample.letters, sample.options, strict=True))
    return prompt.user.format_map({"question": sample.question, "options": options, "subtitles": subtitles,
                                   "letters": ", ".join(sample.letters), "duration": ""})


def test_task_yamls_and_prompts(bench):
    root, _ = bench
    plain, with_subs = load_task("videomme"), load_task("videomme_sub")
    assert (plain.frames.num_frames, plain.subtitles, plain.prompt) == (64, False, "official")
    assert (with_subs.frames, with_subs.subtitles, with_subs.data) == (plain.frames, True, plain.data)
    assert set(plain.report_groups) == {"duration", "domain", "sub_category", "task_type"}
    sample = _by_id(root)["001-1"]
    original = "\n".join(fixture.ROWS[0]["options"])
    assert _render(plain, "official", sample) == (
        "Select the best answer to the following multiple-choice question based on the video. Respond with only "
        f"the letter (A, B, C, or D) of the correct option.\n{sample.question}\n{original}\nThe best answer is:")
    assert "\n\nAnswer with the option's letter" in _render(plain, "lmms_eval", sample)
    assert _render(plain, "video_ccam", sample).endswith(f"{original}\nAnswer with the option's letter from "
                                                          "the given choices directly.")
    for variant in ("official", "lmms_eval", "video_ccam"):
        text = _render(with_subs, variant, sample, subtitles="Now add the candles.")
        assert text.startswith("This video's subtitles are listed below:")
        assert "\nNow add the candles.\nSelect the best answer" in text and original in text
        assert with_subs.prompt_variant(variant).option == "{letter}. {text}"  # inherited from the base
        assert with_subs.prompt_variant(variant).no_subtitles == "No subtitles available"
