"""The MVBench reader on a tiny fixture (both layouts), and its task YAML."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmark_fixtures import mvbench as fixture
from benchmark_fixtures import tiny_video
from kangaroo.eval.formats import BenchmarkDataError, read_samples
from kangaroo.eval.formats.mvbench import TASKS, read
from kangaroo.eval.samples import EvalSample
from kangaroo.eval.task import load_task


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, fixture.write(tmp_path)


def _by_id(root: Path, **options) -> dict[str, EvalSample]:
    return {s.id: s for s in read(root, options, False)}


def _rewrite(root: Path, task: str, edit) -> None:
    path = root / "json" / f"{task}.json"
    rows = json.loads(path.read_text())
    edit(rows)
    path.write_text(json.dumps(rows))


def test_table_has_the_20_tasks():
    assert len(TASKS) == 20
    assert TASKS["episodic_reasoning"].frame_folder and TASKS["action_localization"].bounded
    assert TASKS["fine_grained_pose"].segment_prefix == "nturgbd_convert"


def test_ids_letters_options_groups(bench):
    root, expected = bench
    samples = _by_id(root)
    assert list(samples) == ["action_sequence/0", "action_sequence/1", "object_existence/0",
                             "object_existence/1", "episodic_reasoning/0"]  # official task order
    assert {k: s.answer for k, s in samples.items()} == expected == {
        "action_sequence/0": "B", "action_sequence/1": "A", "episodic_reasoning/0": "C",
        "object_existence/0": "C", "object_existence/1": "A"}
    clevrer = samples["object_existence/0"]
    assert clevrer.options == ["not sure", "yes", "no"] and clevrer.letters == ["A", "B", "C"]
    assert clevrer.question == "Are there any moving cylinders when the video ends?"
    assert clevrer.groups == {"task": "object_existence"}
    assert clevrer.video == str(root / "video" / "clevrer" / "video_validation" / "video_10000.mp4")
    assert Path(clevrer.video).is_absolute() and clevrer.error is None
    assert (clevrer.start, clevrer.end, clevrer.source_fps) == (None, None, None)


def test_bounds_and_frame_folder(bench):
    root, _ = bench
    samples = _by_id(root)
    star = samples["action_sequence/0"]
    assert (star.start, star.end, star.source_fps) == (0.5, 1.5, None)
    assert star.load_kwargs() == {"start": 0.5, "end": 1.5}
    assert samples["action_sequence/1"].end == 2.0
    tvqa = samples["episodic_reasoning/0"]
    # shifted one frame earlier: the official sampler reads file k as the frame at k / 3 s
    assert (tvqa.start, tvqa.end, tvqa.source_fps) == (pytest.approx(2 / 3), pytest.approx(2.5 - 1 / 3), 3.0)
    assert Path(tvqa.video).is_dir() and (Path(tvqa.video) / "00001.jpg").is_file()
    assert tvqa.video.endswith("tvqa/frames_fps3_hq/s01e02_seg02_clip_07") and tvqa.error is None


def test_lmms_eval_layout_ignores_bounds_and_uses_segment_folders(bench):
    root, _ = bench
    samples = _by_id(root, layout="lmms_eval")
    star, tvqa = samples["action_sequence/0"], samples["episodic_reasoning/0"]
    assert (star.start, star.end, tvqa.start, tvqa.source_fps) == (None, None, None, None)
    assert star.video == str(root / "video" / "star" / "Charades_segment" / "ZS9XR.mp4")
    assert star.error == f"video not found: {star.video}"
    assert samples["object_existence/0"].error is None  # same folder on both branches
    with pytest.raises(BenchmarkDataError, match="layout"):
        _by_id(root, layout="video")


def test_data0613_fallback_for_clevrer(bench):
    root, _ = bench
    (root / "video" / "clevrer" / "video_validation" / "video_10001.mp4").unlink()
    moved = tiny_video(root / "video" / "data0613" / "clevrer" / "video_validation" / "video_10001.mp4")
    sample = _by_id(root)["object_existence/1"]
    assert sample.video == str(moved) and sample.error is None


def test_missing_video_gives_sample_error(bench):
    root, _ = bench
    (root / "video" / "star" / "Charades_v1_480" / "K2QPL.mp4").unlink()
    shutil.rmtree(root / "video" / "tvqa")
    samples = read_samples("mvbench", root, {})
    assert len(samples) == 5
    errors = {s.id: s.error for s in samples if s.error}
    assert set(errors) == {"action_sequence/1", "episodic_reasoning/0"}
    assert errors["action_sequence/1"].startswith("video not found: ") and "K2QPL.mp4" in errors["action_sequence/1"]


def test_reads_only_present_task_files(bench):
    root, _ = bench
    (root / "json" / "action_sequence.json").unlink()
    (root / "json" / "test.json").write_text("[]")  # not a task file: ignored
    assert {s.groups["task"] for s in read(root, {}, False)} == {"episodic_reasoning", "object_existence"}
    for path in (root / "json").glob("*.json"):
        path.unlink()
    with pytest.raises(BenchmarkDataError, match="none of the 20 MVBench task files"):
        list(read(root, {}, False))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: rows[1].update(answer="Flew away."), "not one of the candidates"),
    (lambda rows: rows[1].pop("candidates"), "missing"),
    (lambda rows: rows[1].pop("start"), "'start' must be a number"),
    (lambda rows: rows.__setitem__(1, "oops"), "expected a JSON object"),
])
def test_malformed_row_names_file_and_row(bench, edit, message):
    root, _ = bench
    _rewrite(root, "action_sequence", edit)
    with pytest.raises(BenchmarkDataError, match=message) as caught:
        list(read(root, {}, False))
    assert "action_sequence.json: row 1" in str(caught.value)


def test_not_a_list_or_not_json(bench):
    root, _ = bench
    (root / "json" / "object_existence.json").write_text('{"video": "x"}')
    with pytest.raises(BenchmarkDataError, match=r"object_existence\.json: expected a JSON list"):
        list(read(root, {}, False))
    (root / "json" / "object_existence.json").write_text("[{")
    with pytest.raises(BenchmarkDataError, match="not valid JSON"):
        list(read(root, {}, False))


def _render(task, variant: str, sample: EvalSample) -> str:
    prompt = task.prompt_variant(variant)
    options = "\n".join(prompt.option.format(letter=k, text=t) for k, t in zip(sample.letters, sample.options, strict=True))
    return prompt.user.format_map({"question": sample.question, "options": options, "subtitles": "",
                                   "letters": ", ".join(sample.letters), "duration": ""})


def test_task_yaml_and_prompts(bench):
    root, _ = bench
    task = load_task("mvbench")
    assert (task.format, task.prompt, task.data["layout"]) == ("mvbench", "official", "main")
    sample = _by_id(root, **task.data)["object_existence/0"]
    official = task.prompt_variant("official")
    assert official.assistant_prefix == "Best option:(" and official.system.startswith("Carefully watch")
    assert _render(task, "official", sample) == (
        "Question: Are there any moving cylinders when the video ends?\nOptions:\n(A) not sure\n(B) yes\n(C) no\n"
        "Only give the best option.")
    assert _render(task, "lmms_eval", sample).startswith("Question:Are there")
    assert _render(task, "video_ccam", sample).endswith("from the given choices directly.")
