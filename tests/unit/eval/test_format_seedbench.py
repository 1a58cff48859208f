"""The SEED-Bench (video dimensions) reader on a tiny fixture, and its task YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_fixtures import seedbench as fixture
from benchmark_fixtures import tiny_video
from kangaroo.eval.formats import BenchmarkDataError, read_samples
from kangaroo.eval.formats.seedbench import read
from kangaroo.eval.task import load_task
from kangaroo.video import FrameSampling, load_video


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, fixture.write(tmp_path)


def _by_id(root: Path, **options) -> dict:
    return {s.id: s for s in read(root, options, False)}


def _rewrite(root: Path, edit) -> None:
    path = root / "SEED-Bench.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_video_questions_only_with_letters_options_groups(bench):
    root, expected = bench
    samples = _by_id(root)
    assert list(samples) == list(expected)  # the image question is skipped
    assert {k: s.answer for k, s in samples.items()} == expected
    assert len(set(expected.values())) > 1
    assert samples["v1738"].options == ["v1738 a", "v1738 b", "v1738 c", "v1738 d"]
    assert samples["v1738"].groups == {"dimension": "Action Recognition"}
    assert samples["v1962"].groups == {"dimension": "Action Prediction"}
    assert samples["v4397"].groups == {"dimension": "Procedure Understanding"}
    assert samples["v4397"].extra["segment"] == [18, 166]


def test_frames_source(bench):
    root, _ = bench
    sample = _by_id(root)["v1962"]
    assert sample.video == str(root / "SEED-Bench-video-image" / "v1962") and sample.error is None
    assert sample.source_fps == 1.0 and (sample.start, sample.end) == (None, None)


def test_sixteen_frames_from_eight_duplicate_each(bench):
    root, _ = bench
    sample = _by_id(root)["v1738"]
    clip = load_video(sample.video, FrameSampling(num_frames=16), **sample.load_kwargs())
    levels = [round(float(frame.mean())) for frame in clip.frames]
    assert len(levels) == 16
    assert levels[0::2] == levels[1::2] and len(set(levels)) == 8


def test_video_source_bounds(bench):
    root, _ = bench
    tiny_video(root / "BreakfastII_15fps_qvga_sync" / "P06" / "cam01" / "P06_cereals.avi", seconds=1.0)
    samples = _by_id(root, source="videos")
    procedure = samples["v4397"]
    assert procedure.error is None and procedure.source_fps is None
    assert procedure.start == pytest.approx(18 / 15) and procedure.end == pytest.approx(166 / 15)
    prediction = samples["v1962"]  # segment in seconds
    assert (prediction.start, prediction.end) == (648.0, 658.0)
    assert prediction.video == str(root / "EPIC-KITCHENS" / "videos" / "P03" / "P03_24.MP4")
    assert prediction.error == f"video not found: {prediction.video}"
    recognition = samples["v1738"]
    assert recognition.video == str(root / "SSV2" / "videos" / "94328.webm")
    assert (recognition.start, recognition.end) == (None, None)


def test_dimension_filter_missing_frames_and_frame_folder(bench):
    root, _ = bench
    assert list(_by_id(root, dimensions=[10])) == ["v1738", "v1739"]
    (root / "SEED-Bench-video-image").rename(root / "v1_video")
    (root / "v1_video" / "v1739").rename(root / "v1739")
    samples = _by_id(root, frame_folder="v1_video")
    assert samples["v1738"].video == str(root / "v1_video" / "v1738") and samples["v1738"].error is None
    assert samples["v1739"].error == f"video not found: {root / 'v1_video' / 'v1739'}"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["questions"][1].update(answer="E"), r"questions\[1\] \(v1738\): answer 'E'"),
    (lambda d: d["questions"][2].pop("choice_c"), r"questions\[2\]: missing 'choice_c'"),
    (lambda d: d["questions"][3].update(question_type_id="eleven"), r"questions\[3\]: question_type_id"),
    (lambda d: d.pop("questions"), r"expected \{'questions'"),
])
def test_malformed_annotations(bench, edit, message):
    root, _ = bench
    _rewrite(root, edit)
    with pytest.raises(BenchmarkDataError, match=message):
        list(read(root, {}, False))


def test_bad_segment_and_options(bench):
    root, _ = bench
    _rewrite(root, lambda d: d["questions"][4].update(segment=[166]))
    with pytest.raises(BenchmarkDataError, match=r"questions\[4\] \(v4397\): segment"):
        list(read(root, {"source": "videos"}, False))
    with pytest.raises(BenchmarkDataError, match="unknown source"):
        list(read(root, {"source": "zip"}, False))
    with pytest.raises(BenchmarkDataError, match="annotation file not found"):
        list(read(root / "nowhere", {}, False))


def test_task_yaml_loads_and_renders(bench):
    root, expected = bench
    task = load_task("seedbench_video")
    assert (task.format, task.frames, task.data["source"]) == ("seedbench", FrameSampling(num_frames=16), "frames")
    samples = read_samples(task.format, root, task.data, task.subtitles)
    assert [s.id for s in samples] == list(expected)
    sample, prompt = samples[0], task.prompt_variant()
    options = "\n".join(prompt.option.format(letter=letter, text=text)
                        for letter, text in zip(sample.letters, sample.options, strict=True))
    text = prompt.user.format_map({"question": sample.question, "options": options, "subtitles": "",
                                   "letters": "A, B, C or D", "duration": ""})
    assert text == (f"{sample.question}\nA. v1738 a\nB. v1738 b\nC. v1738 c\nD. v1738 d\n"
                    "Answer with the option's letter from the given choices directly.")
