"""Resuming: a run killed with SIGKILL at an arbitrary moment and started again computes the same
losses, step for step, as a run that was never interrupted; checkpoints without their completion
marker are never resumed from."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions
from kangaroo.training.checkpoint import MARKER, latest_checkpoint
from kangaroo.training.metrics import read_metrics
from kangaroo.training.recipe import load_recipe
from kangaroo.training.run_state import TrainState
from kangaroo.training.trainer import train

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CLI = "import kangaroo.cli.train_commands; from kangaroo.cli import main; main()"


def _records(tmp_path: Path) -> list[str]:
    """Records shared by every run (generated once, so that all runs read the same bytes)."""
    data = tmp_path / "data"
    return [str(generate_dataset("mcq_direction", 6, 3, data, world=WorldOptions(size=(64, 48), duration=4.0))),
            str(generate_dataset("open_qa", 6, 3, data, world=WorldOptions(size=(64, 48), duration=9.0)))]


def _recipe_file(tmp_path: Path, records: list[str], steps: int = 12) -> Path:
    """The tiny instruction-tuning stage (full model, dynamic frames, packing, bf16) from scratch,
    with gradient accumulation and a checkpoint every 2 steps."""
    data = yaml.safe_load((REPO / "recipes" / "tiny" / "stage4_instruction.yaml").read_text(encoding="utf-8"))
    data["model"]["from_stage"] = None
    data["data"]["synth"] = []
    data["data"]["records"] = records
    data["schedule"].update(steps=steps, batch_size=2, grad_accum=2)
    data["run"].update(save_every=2, keep_last=2, log_every=1)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _command(recipe: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", CLI, "train", str(recipe), "--out", str(out), "--no-progress"]


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(e["step"], e["loss"]) for e in read_metrics(run / "metrics.jsonl")]


def test_sigkill_at_any_moment_then_resume_gives_the_same_losses(tmp_path: Path) -> None:
    recipe = _recipe_file(tmp_path, _records(tmp_path))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight = tmp_path / "straight"
    done = subprocess.run(_command(recipe, straight), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    expected = _losses(straight)
    assert [step for step, _ in expected] == list(range(1, 13))

    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(recipe, killed), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if any(step >= 5 for step, _ in _losses(killed)):
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)  # no handler, no cleanup: whatever it was doing stops
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    partial = _losses(killed)
    assert partial and partial[-1][0] < 12

    resumed = subprocess.run(_command(recipe, killed), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from checkpoint-" in resumed.stderr
    got = _losses(killed)
    assert [step for step, _ in got] == list(range(1, 13))  # every step once
    # exactly the same numbers, step for step
    torch.testing.assert_close(torch.tensor([loss for _, loss in got], dtype=torch.float64),
                               torch.tensor([loss for _, loss in expected], dtype=torch.float64), rtol=0, atol=0)
    from safetensors.torch import load_file

    a = load_file(straight / "final" / "model.safetensors")
    b = load_file(killed / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    from kangaroo.model.pretrained import load_pretrained

    # a checkpoint loads as a model (kangaroo eval -m run/checkpoint-N): the weights and processor of that step
    last = latest_checkpoint(killed)
    model, processor = load_pretrained(last)
    assert all(torch.equal(b[k], v) for k, v in model.state_dict().items() if k in b)
    assert processor.sampling == load_pretrained(killed / "final")[1].sampling


def test_a_checkpoint_without_its_marker_is_skipped(tmp_path: Path) -> None:
    records = _records(tmp_path)
    recipe = load_recipe(_recipe_file(tmp_path, records, steps=8), output_dir=tmp_path / "run")
    stopped = train(recipe, progress=False, stop_after=4)
    assert stopped.steps_run == 4
    run = recipe.output_dir
    assert latest_checkpoint(run).name == "checkpoint-00000004"
    saved = TrainState.read(latest_checkpoint(run))
    assert (saved.step, saved.total_steps, saved.finished, saved.world_size) == (4, 8, False, 1)
    assert (saved.epoch, saved.index) == (1, 4)  # 4 steps of 2 x 2 records, 12 records per epoch
    # a later checkpoint that was never completed (killed while writing): its marker is missing
    fake = run / "checkpoint-00000006"
    shutil.copytree(run / "checkpoint-00000004", fake)
    (fake / MARKER).unlink()
    assert latest_checkpoint(run).name == "checkpoint-00000004"
    resumed = train(recipe, progress=False)
    assert resumed.resumed_from == 4 and resumed.steps_run == 4
    assert (fake / MARKER).is_file()  # the half-written one was cleared away and step 6 written afresh
    assert TrainState.read(latest_checkpoint(run)).finished

    reference = train(load_recipe(_recipe_file(tmp_path, records, steps=8), output_dir=tmp_path / "reference"),
                      progress=False)
    assert resumed.losses == reference.losses


def test_sigterm_checkpoints_the_last_step_and_exits_130(tmp_path: Path) -> None:
    recipe = _recipe_file(tmp_path, _records(tmp_path), steps=40)
    run = tmp_path / "run"
    process = subprocess.Popen(_command(recipe, run), env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(step >= 3 for step, _ in _losses(run)):
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted after step" in stderr
    stopped = _losses(run)[-1][0]
    assert stopped < 40
    assert latest_checkpoint(run).name == f"checkpoint-{stopped:08d}"  # the last finished step was saved
