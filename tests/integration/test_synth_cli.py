"""`kangaroo synth` and `generate_dataset` end to end: records, videos, scenes, determinism,
parallel workers and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kangaroo.cli.synth_commands  # noqa: F401  (registers `synth` on the app)
from kangaroo.cli import app
from kangaroo.data.records import read_records
from kangaroo.data.validate import check_record
from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions
from kangaroo.synth.tasks import list_tasks
from kangaroo.video import probe

pytestmark = pytest.mark.integration

SMALL = WorldOptions(size=(64, 48), duration=2.0)
MIXED = WorldOptions(size=(64, 48), duration=2.0, language="mixed")


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_list_names_every_task() -> None:
    result = invoke("synth", "--list")
    assert result.exit_code == 0, result.output
    for name, _ in list_tasks():
        assert name in result.output


def test_synth_writes_n_records_videos_and_scenes(tmp_path: Path) -> None:
    result = invoke("synth", "mcq_count", "--num", 3, "--seed", 5, "--out", tmp_path, "--split", "val",
                    "--size", "64x48", "--duration", 2, "--language", "zh")
    assert result.exit_code == 0, result.output
    jsonl = tmp_path / "mcq_count_val.jsonl"
    records = list(read_records(jsonl))
    assert [r.id for r in records] == [f"mcq_count-val-5-{i:06d}" for i in range(3)]
    for record in records:
        data = record.to_dict()
        assert [p for p in check_record(data) if p[0] == "error"] == []
        assert data["meta"]["split"] == "val" and data["meta"]["language"] == "zh"
        info = probe(tmp_path / record.video)
        assert (info.width, info.height) == (64, 48)
        assert info.duration == pytest.approx(2.0, abs=0.2)
        assert json.loads((tmp_path / data["meta"]["scene"]).read_text())["width"] == 64
    assert len(list((tmp_path / "videos").iterdir())) == 3
    assert not list(tmp_path.glob(".*")), "no partial files are left"


def test_image_caption_writes_pngs(tmp_path: Path) -> None:
    result = invoke("synth", "image_caption", "--num", 2, "--out", tmp_path, "--size", "64x48")
    assert result.exit_code == 0, result.output
    assert sorted(p.suffix for p in (tmp_path / "videos").iterdir()) == [".png", ".png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_task", "--out", "x"], "unknown task"),
        (["caption_short", "--out", "x", "--size", "big"], "--size"),
        (["caption_short", "--out", "x", "--language", "fr"], "--language"),
        (["caption_short", "--out", "x", "--size", "8x8"], "--size"),
        (["caption_short", "--out", "x", "--text-overlay", "0.9"], "--text-overlay"),
        (["caption_short", "--out", "x", "--cuts", "-1"], "--cuts"),
        (["caption_short", "--out", "x", "--split", "holdout"], "split"),
        (["caption_short"], "--out"),
        ([], "name a task"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "x").exists()


def test_same_call_same_bytes_with_one_or_two_workers(tmp_path: Path) -> None:
    one = generate_dataset("open_qa", 4, 3, tmp_path / "one", world=MIXED)
    two = generate_dataset("open_qa", 4, 3, tmp_path / "two", world=MIXED, workers=2)
    assert one.read_bytes() == two.read_bytes()
    for video in (tmp_path / "one" / "videos").iterdir():
        assert video.read_bytes() == (tmp_path / "two" / "videos" / video.name).read_bytes()


def test_interrupted_run_resumes_to_the_same_file(tmp_path: Path) -> None:
    reference = generate_dataset("grounding", 4, 1, tmp_path / "ref", world=SMALL).read_bytes()

    class Stop(Exception):
        pass

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    out = tmp_path / "run"
    with pytest.raises(Stop):
        generate_dataset("grounding", 4, 1, out, world=SMALL, progress=stop_after_two)
    assert not (out / "grounding_train.jsonl").exists()
    assert len((out / ".grounding_train.jsonl.partial").read_text().splitlines()) == 2
    seen: list[int] = []
    path = generate_dataset("grounding", 4, 1, out, world=SMALL, progress=lambda done, total: seen.append(done))
    assert seen[0] == 2, "the two finished records are kept"
    assert path.read_bytes() == reference
