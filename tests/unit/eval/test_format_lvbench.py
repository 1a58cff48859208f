"""The LVBench reader on a tiny fixture, and its task YAML."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmark_fixtures import lvbench as fixture
from kangaroo.eval.formats import BenchmarkDataError, read_samples
from kangaroo.eval.formats.lvbench import parse_options, read
from kangaroo.eval.task import load_task


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, fixture.write(tmp_path)


def _by_id(root: Path, **options) -> dict:
    return {s.id: s for s in read(root, options, False)}


def _write_lines(root: Path, videos: list) -> None:
    (root / "video_info.meta.jsonl").write_text("\n".join(json.dumps(v) for v in videos) + "\n")


def test_ids_letters_and_options_parsed_from_the_question(bench):
    root, expected = bench
    samples = _by_id(root)
    assert {k: s.answer for k, s in samples.items()} == expected
    assert len(set(expected.values())) > 1
    first = samples["1536"]
    assert first.question == "What happened after the foul?" + fixture.OPTIONS  # kept as given
    assert first.options == ["a referee", "a goal", "a red card", "a corner"]
    assert samples["2001"].options == ["00:10", "05:00", "20:00"]
    assert first.video == str(root / "videos" / "hbHZfdD3GRg.mp4") and first.error is None
    assert (first.start, first.end) == (None, None)


def test_categories_groups_and_extra(bench):
    root, _ = bench
    samples = _by_id(root)
    assert samples["1536"].extra["categories"] == ["EU", "Rea"]
    assert samples["1536"].groups == {"categories": "EU,Rea", "video_type": "sport"}
    assert samples["2002"].extra["categories"] == ["ER", "KIR"]
    assert samples["2001"].groups == {"categories": "TG", "video_type": "cartoon"}
    assert samples["1538"].extra["categories"] == ["Sum"]
    assert samples["1536"].extra["duration_minutes"] == 78.5
    assert samples["1536"].extra["time_reference"] == "12:30-13:05"


def test_relative_data_dir_gives_absolute_paths(bench, monkeypatch):
    root, _ = bench
    monkeypatch.chdir(root.parent)
    sample = next(read(Path(root.name), {}, False))
    assert sample.video == str(root / "videos" / "hbHZfdD3GRg.mp4") and sample.error is None


def test_video_map_and_fallback(bench):
    root, _ = bench
    shard = root / "videos" / "00000"
    shard.mkdir()
    shutil.move(root / "videos" / "hbHZfdD3GRg.mp4", shard / "00000001.mp4")
    (root / "map.json").write_text(json.dumps({"hbHZfdD3GRg": "00000/00000001.mp4"}))
    samples = _by_id(root, video_map="map.json")
    assert samples["1536"].video == str(shard / "00000001.mp4") and samples["1536"].error is None
    assert samples["2001"].video == str(root / "videos" / "x7Kq2LmN0pQ.mp4")  # not in the map
    assert samples["2001"].error is None


def test_missing_video_marks_the_samples(bench):
    root, _ = bench
    (root / "videos" / "x7Kq2LmN0pQ.mp4").unlink()
    samples = _by_id(root)
    path = root / "videos" / "x7Kq2LmN0pQ.mp4"
    assert samples["2001"].error == samples["2002"].error == f"video not found: {path}"
    assert samples["1536"].error is None


def _break(videos: list, field: str, value) -> list:
    videos[1]["qa"][0][field] = value
    return videos


@pytest.mark.parametrize(("edit", "message"), [
    (lambda vs: _break(vs, "answer", "E"), r"line 2, qa 0: answer 'E'"),
    (lambda vs: _break(vs, "question", "No options here"), r"line 2, qa 0: the question has no options"),
    (lambda vs: _break(vs, "question_type", []), r"line 2, qa 0: question_type"),
    (lambda vs: [vs[0], {"qa": []}], r"line 2: missing 'key'"),
    (lambda vs: [vs[0], {"key": "k", "qa": "nope"}], r"line 2: 'qa' must be a list"),
])
def test_malformed_annotations(bench, edit, message):
    root, _ = bench
    _write_lines(root, edit([dict(v, qa=[dict(q) for q in v["qa"]]) for v in fixture.VIDEOS]))
    with pytest.raises(BenchmarkDataError, match=message):
        list(read(root, {}, False))


def test_invalid_json_line_and_missing_file(tmp_path):
    with pytest.raises(BenchmarkDataError, match="annotation file not found"):
        list(read(tmp_path, {}, False))
    (tmp_path / "video_info.meta.jsonl").write_text('{"key": "a", "qa": []}\n\n{broken\n')
    with pytest.raises(BenchmarkDataError, match=r"line 3: not valid JSON"):
        list(read(tmp_path, {}, False))


def test_parse_options_needs_letters_in_order():
    assert parse_options("Q?\n(A) x\n(B)  y \n", "here") == ["x", "y"]
    with pytest.raises(BenchmarkDataError, match=r"here: .*found AC"):
        parse_options("Q?\n(A) x\n(C) y", "here")


def test_task_yaml_loads_and_renders(bench):
    root, expected = bench
    task = load_task("lvbench")
    assert task.format == "lvbench" and "categories" in task.report_groups
    samples = read_samples(task.format, root, task.data, task.subtitles)
    assert [s.id for s in samples] == list(expected)
    sample = samples[0]
    for name, prompt in task.prompts.items():
        assert "{options}" not in prompt.user, name  # the question already lists the options
        text = prompt.user.format_map({"question": sample.question, "options": "", "subtitles": "",
                                       "letters": "A, B, C or D", "duration": ""})
        assert text.startswith(sample.question + "\n")
    assert task.prompt_variant().user.endswith("Answer the question with the option letter")
