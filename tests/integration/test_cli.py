"""The `kangaroo` CLI end to end on a video made by `make_sample_video`.

The real entry point runs in a subprocess where exit codes, stderr and imports matter; the other
cases call the typer app in-process (`CliRunner`), which is faster.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kangaroo.cli import Aspect, Seek, app
from kangaroo.video.decode import SEEK_MODES
from kangaroo.video.sample import make_sample_video
from kangaroo.video.transforms import ASPECT_POLICIES

pytestmark = pytest.mark.integration

FPS, DURATION, WIDTH, HEIGHT = 24, 4.0, 320, 180
NAME_RE = re.compile(r"frame_(\d{3})_t(\d{5}\.\d{3})s\.jpg")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_video(tmp_path_factory.mktemp("cli") / "sample.mp4", DURATION, FPS, (WIDTH, HEIGHT))


def run_cli(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "kangaroo.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_probe_json_reports_frames_fps_duration(sample: Path) -> None:
    result = run_cli("probe", sample, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["frame_count"] == FPS * DURATION
    assert info["average_fps"] == pytest.approx(FPS)
    assert info["duration"] == pytest.approx(DURATION, abs=1e-3)
    assert (info["codec"], info["display_width"], info["display_height"]) == ("h264", WIDTH, HEIGHT)
    assert info["keyframe_interval"] == pytest.approx(2.0)
    assert info["is_vfr"] is False


def test_probe_table_and_no_scan(sample: Path) -> None:
    result = invoke("probe", sample)
    assert result.exit_code == 0, result.output
    assert "h264" in result.stdout and str(FPS * int(DURATION)) in result.stdout
    result = invoke("probe", sample, "--no-scan")
    assert result.exit_code == 0, result.output
    assert "not scanned" in result.stdout


def test_frames_writes_time_ordered_jpegs_contact_sheet_and_manifest(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    result = invoke("frames", sample, "--num-frames", 8, "--out", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "frames.json").read_text())
    jpegs = sorted(p.name for p in out.glob("*.jpg"))
    assert len(jpegs) == 8 and jpegs == manifest["files"]

    times, targets = np.array(manifest["timestamps"]), np.array(manifest["target_times"])
    np.testing.assert_allclose(targets, (np.arange(8) + 0.5) * DURATION / 8)
    assert np.all(np.diff(times) > 0)
    assert np.all(times <= targets + 1e-9) and np.all(times > targets - 1 / FPS), "not the frame shown"
    for name, t in zip(jpegs, times, strict=True):
        assert float(NAME_RE.fullmatch(name).group(2)) == pytest.approx(t, abs=5e-4)
        with Image.open(out / name) as image:
            assert image.size == (WIDTH, HEIGHT)
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.width > 0 and sheet.height > 0
    assert manifest["sampling"]["num_frames"] == 8 and manifest["source"] == str(sample)


def test_frames_fps_sampling_resize_and_json(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "fps"
    result = invoke(
        "frames",
        sample,
        "--fps",
        2,
        "--max-frames",
        5,
        "--size",
        "64x48",
        "--aspect",
        "crop",
        "--out",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest == json.loads((out / "frames.json").read_text())
    assert manifest["sampling"]["sampling"] == "fps" and manifest["output_size"] == [64, 48]
    assert len(manifest["files"]) == 5
    with Image.open(out / manifest["files"][0]) as image:
        assert image.size == (64, 48)


def test_rerun_into_the_same_folder_replaces_earlier_frames(sample: Path, tmp_path: Path) -> None:
    assert invoke("frames", sample, "-n", 8, "-o", tmp_path).exit_code == 0
    assert invoke("frames", sample, "-n", 3, "-o", tmp_path).exit_code == 0
    assert len(list(tmp_path.glob("*.jpg"))) == 3


def test_missing_file_exits_2_with_the_path_and_no_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-video.mp4"
    for args in (("probe", missing), ("frames", missing, "--out", tmp_path / "out")):
        result = run_cli(*args)
        assert result.returncode == 2
        assert str(missing) in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--size", "abc"), "size must look like"),
        (("--sampling", "fps", "-n", "3"), "--num-frames applies to --sampling uniform"),
        (("--sampling", "random"), "unknown sampling 'random'; choose one of uniform, fps, dynamic"),
        (("--start", "10"), "start"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    sample: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = invoke("frames", sample, "--out", tmp_path, *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.startswith("error:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_renders_unseen_videos_shows_what_the_model_sees_and_scores_its_answers(tmp_path: Path) -> None:
    from kangaroo.inference.world_demo import DEMO_QUESTIONS

    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--num-frames", 4, "--model", "random")
    assert result.returncode == 0, result.stderr
    sheets = sorted((out / "frames").glob("*/contact_sheet.png"))
    assert len(sheets) == len(DEMO_QUESTIONS) and all("-test-" in p.parent.name for p in sheets)
    manifest = json.loads((sheets[0].parent / "frames.json").read_text())
    assert len(manifest["files"]) == 4 and np.all(np.diff(manifest["timestamps"]) > 0)  # what the model sampled
    assert "contact_sheet.png" in result.stdout and f"of {len(DEMO_QUESTIONS)} right" in result.stdout
    assert "random weights" in result.stdout and "random weights" in result.stderr


@pytest.mark.parametrize("command", [[], ["probe"], ["frames"], ["demo"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_cli_choices_match_the_library() -> None:
    assert [a.value for a in Aspect] == list(ASPECT_POLICIES)
    assert [s.value for s in Seek] == list(SEEK_MODES)


def test_importing_the_cli_stays_light() -> None:
    code = "import sys, kangaroo.cli; print(sorted(m for m in ('av', 'numpy', 'PIL', 'torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_plan_json_for_8b_at_160_frames_agrees_with_the_paper() -> None:
    result = invoke("plan", "--model", "kangaroo_8b", "--frames", 160, "--memory", 80, "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["model"], plan["num_frames"], plan["image_size"], plan["dtype"]) == ("kangaroo_8b", 160, 448, "bf16")
    assert plan["visual_tokens"] == 20480 and plan["features_per_frame"] == 1024
    assert 20_500 < plan["context_length"] < 23_000  # the paper's ~22K
    assert 8.2e9 < plan["params_total"] < 8.45e9  # "8B"
    assert plan["kv_cache_bytes"] == 2 * 32 * 8 * 128 * plan["context_length"] * 2
    assert plan["total_bytes"] == plan["weight_bytes"] + plan["kv_cache_bytes"] + plan["activation_bytes"]
    assert plan["fits"] is True and plan["max_frames"] > 160
    assert plan["memory_budget_bytes"] == 80 * 2**30


def test_plan_table_size_dtype_and_budget() -> None:
    result = invoke("plan", "--frames", 160)
    assert result.exit_code == 0, result.output
    assert "21,074" in result.stdout and "8.34 B" in result.stdout and "20,480" in result.stdout
    result = invoke("plan", "--model", "tiny", "--frames", 8, "--size", 224, "--dtype", "fp32", "--memory", 1)
    assert result.exit_code == 0, result.output
    assert "224x224, fp32" in result.stdout and "256" in result.stdout  # (224 / 14)^2 ViT patches
    assert "most frames in 1.0 GB" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--model", "llama-70b"), "unknown model 'llama-70b'"), (("--size", "230"), "not a multiple")],
)
def test_plan_bad_model_or_size_exits_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = run_cli("plan", *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.startswith("error:")
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_plan_has_help_and_its_dtypes_match_the_planner() -> None:
    from kangaroo.cli import Dtype
    from kangaroo.model.planner import DTYPE_BYTES

    result = invoke("plan", "--help")
    assert result.exit_code == 0 and "--memory" in result.stdout
    assert [d.value for d in Dtype] == list(DTYPE_BYTES)
