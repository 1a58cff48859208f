"""The TempCompass multi-choice reader on a tiny fixture, and its task YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_fixtures import tempcompass as fixture
from kangaroo.eval.formats import BenchmarkDataError
from kangaroo.eval.formats.tempcompass import read
from kangaroo.eval.samples import EvalSample
from kangaroo.eval.task import load_task

ANNOTATIONS = Path("questions") / "multi-choice.json"


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, fixture.write(tmp_path)


def _by_id(root: Path) -> dict[str, EvalSample]:
    return {s.id: s for s in read(root, {}, False)}


def _rewrite(root: Path, edit) -> None:
    path = root / ANNOTATIONS
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_ids_letters_options_groups(bench):
    root, expected = bench
    samples = _by_id(root)
    assert list(samples) == ["1034419625/direction/0", "1034419625/speed/0", "1034419625/speed/1",
                             "1034419625_reverse/direction/0", "1034419625_reverse/action/0"]
    assert {k: s.answer for k, s in samples.items()} == expected
    assert set(expected.values()) == {"A", "B", "C", "D"}
    direction = samples["1034419625/direction/0"]
    assert direction.question == fixture.QUESTIONS["1034419625"]["direction"][0]["question"]  # kept whole
    assert direction.options == ["moving towards the camera", "moving from right to left",
                                 "moving away from the camera", "moving from left to right"]
    assert samples["1034419625/speed/0"].options == ["slowly", "at normal speed", "fast"]
    assert direction.groups == {"dim": "direction"} and samples["1034419625/speed/1"].groups == {"dim": "speed"}
    reverse = samples["1034419625_reverse/action/0"]
    assert reverse.video == str(root / "videos" / "1034419625_reverse.mp4") and reverse.error is None


def test_missing_video_gives_sample_error(bench):
    root, _ = bench
    (root / "videos" / "1034419625.mp4").unlink()
    samples = _by_id(root)
    assert samples["1034419625/speed/1"].error == f"video not found: {root / 'videos' / '1034419625.mp4'}"
    assert samples["1034419625_reverse/direction/0"].error is None


def test_missing_annotation_file(tmp_path):
    with pytest.raises(BenchmarkDataError, match=r"multi-choice\.json: annotation file not found"):
        list(read(tmp_path, {}, False))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["1034419625"]["speed"][1].update(answer="D. backwards"), "does not start with an option letter"),
    (lambda d: d["1034419625"]["speed"][1].update(question="No options here?"), "expected option lines"),
    (lambda d: d["1034419625"]["speed"][1].update(question="Q?\nA. one\nC. three"), "found letters 'AC'"),
    (lambda d: d["1034419625"]["speed"][1].pop("answer"), "must be non-empty strings"),
])
def test_malformed_row_names_file_and_row(bench, edit, message):
    root, _ = bench
    _rewrite(root, edit)
    with pytest.raises(BenchmarkDataError, match=message) as caught:
        list(read(root, {}, False))
    assert "multi-choice.json: 1034419625/speed row 1" in str(caught.value)


def test_not_nested(bench):
    root, _ = bench
    _rewrite(root, lambda d: d.update({"x": ["not", "a", "mapping"]}))
    with pytest.raises(BenchmarkDataError, match="x: expected a mapping of dimensions"):
        list(read(root, {}, False))


def test_task_yaml_and_prompts(bench):
    root, _ = bench
    task = load_task("tempcompass")
    assert (task.format, task.prompt, task.report_groups) == ("tempcompass", "official", ("dim",))
    sample = _by_id(root)["1034419625/speed/0"]
    fields = {"question": sample.question, "options": "SHOULD NOT APPEAR", "subtitles": "", "letters": "",
              "duration": ""}
    for name, prompt in task.prompts.items():
        assert "{options}" not in prompt.user, name
        assert prompt.user.format_map(fields).startswith(sample.question + "\n")
    assert task.prompt_variant().user.format_map(fields) == (
        "How fast does the man walk?\nA. slowly\nB. at normal speed\nC. fast\nPlease directly give the best option:")
