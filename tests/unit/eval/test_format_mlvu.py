"""The MLVU (dev, multiple choice) reader on a tiny fixture, and its task YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_fixtures import mlvu as fixture
from kangaroo.eval.formats import BenchmarkDataError
from kangaroo.eval.formats.mlvu import read
from kangaroo.eval.samples import EvalSample
from kangaroo.eval.task import load_task


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, fixture.write(tmp_path)


def _by_id(root: Path, **options) -> dict[str, EvalSample]:
    return {s.id: s for s in read(root, options, False)}


def _rewrite(root: Path, stem: str, edit) -> None:
    path = root / "json" / f"{stem}.json"
    rows = json.loads(path.read_text())
    edit(rows)
    path.write_text(json.dumps(rows))


def test_ids_letters_options_groups(bench):
    root, expected = bench
    samples = _by_id(root)
    assert list(samples) == ["1_plotQA/0", "1_plotQA/1", "4_count/0", "4_count/1"]  # 8_sub_scene skipped
    assert {k: s.answer for k, s in samples.items()} == expected == {
        "1_plotQA/0": "A", "1_plotQA/1": "C", "4_count/0": "B", "4_count/1": "D"}
    plot = samples["1_plotQA/0"]
    assert plot.options == ["Yellow", "Red", "Green", "Blue"] and plot.groups == {"task": "plotQA"}
    assert plot.video == str(root / "video" / "1_plotQA" / "movie101_66.mp4") and plot.error is None
    assert plot.extra == {"duration": 246.0} and (plot.start, plot.end) == (None, None)
    assert samples["4_count/1"].groups == {"task": "count"}


def test_numeric_candidates_are_text(bench):
    root, _ = bench
    _rewrite(root, "4_count", lambda rows: rows[0].update(candidates=[2, 3, 4, 5], answer=3))
    sample = _by_id(root)["4_count/0"]
    assert (sample.options, sample.answer) == (["2", "3", "4", "5"], "B")


def test_missing_video_gives_sample_error(bench):
    root, _ = bench
    (root / "video" / "4_count" / "count_02.mp4").unlink()
    samples = _by_id(root)
    assert samples["4_count/1"].error == f"video not found: {root / 'video' / '4_count' / 'count_02.mp4'}"
    assert samples["4_count/0"].error is None


def test_no_task_file(bench):
    root, _ = bench
    for stem in fixture.ROWS:
        (root / "json" / f"{stem}.json").unlink()
    with pytest.raises(BenchmarkDataError, match="none of the MLVU multiple-choice files"):
        list(read(root, {}, False))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: rows[1].update(answer="Purple"), "not one of the candidates"),
    (lambda rows: rows[1].pop("question_type"), "'question_type'"),
    (lambda rows: rows[1].update(video=None), "'video'"),
])
def test_malformed_row_names_file_and_row(bench, edit, message):
    root, _ = bench
    _rewrite(root, "1_plotQA", edit)
    with pytest.raises(BenchmarkDataError, match=message) as caught:
        list(read(root, {}, False))
    assert "1_plotQA.json: row 1" in str(caught.value)


def _render(task, variant: str, sample: EvalSample) -> str:
    prompt = task.prompt_variant(variant)
    options = "\n".join(prompt.option.format(letter=k, text=t) for k, t in zip(sample.letters, sample.options, strict=True))
    return prompt.user.format_map({"question": sample.question, "options": options, "subtitles": "",
                                   "letters": ", ".join(sample.letters), "duration": ""})


def test_task_yaml_and_prompts(bench):
    root, _ = bench
    task = load_task("mlvu")
    assert (task.format, task.average, task.average_over, task.prompt) == ("mlvu", "macro", "task", "official")
    sample = _by_id(root, **task.data)["1_plotQA/0"]
    official = task.prompt_variant("official")
    assert official.system.startswith("Carefully watch this video and pay attention to every detail.")
    assert official.assistant_prefix == "Best option:("
    assert _render(task, "official", sample) == (
        "Question: What color is the main male character?\nOptions:\n(A) Yellow\n(B) Red\n(C) Green\n(D) Blue\n"
        "Only give the best option.")
    assert _render(task, "lmms_eval", sample).endswith("Only give the best option.\nBest option: (")
    assert _render(task, "video_ccam", sample).endswith("from the given choices directly.")
