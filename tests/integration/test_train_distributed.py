"""`kangaroo train` on 2 processes (torchrun, CPU, gloo, FSDP2): the same losses as one process
training on the whole global batch, and a resume from a checkpoint written by the sharded run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from kangaroo.synth.generate import generate_dataset
from kangaroo.synth.options import WorldOptions
from kangaroo.training.metrics import read_metrics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                 "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")


def _recipe(tmp_path: Path, batch_size: int) -> Path:
    data = tmp_path / "data"
    records = [str(generate_dataset("mcq_direction", 4, 7, data, world=WorldOptions(size=(64, 48), duration=4.0))),
               str(generate_dataset("open_qa", 4, 7, data, world=WorldOptions(size=(64, 48), duration=9.0)))]
    recipe = yaml.safe_load((REPO / "recipes" / "tiny" / "stage4_instruction.yaml").read_text(encoding="utf-8"))
    recipe["model"]["from_stage"] = None
    recipe["data"].update(synth=[], records=records)
    recipe["schedule"].update(steps=4, batch_size=batch_size, grad_accum=1)
    recipe["precision"] = "fp32"
    recipe["run"].update(save_every=2, keep_last=3)
    path = tmp_path / f"recipe-{batch_size}.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def _run(tmp_path: Path, recipe: Path, out: Path, processes: int) -> subprocess.CompletedProcess:
    script = tmp_path / "kangaroo_cli.py"
    script.write_text("import kangaroo.cli.train_commands\nfrom kangaroo.cli import main\nmain()\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["OMP_NUM_THREADS"] = "1"
    args = [str(script), "train", str(recipe), "--out", str(out), "--no-progress"]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                   str(processes), *args]
    else:
        command = [sys.executable, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)


def test_two_processes_match_one_and_resume(tmp_path: Path) -> None:
    sharded = tmp_path / "sharded"
    result = _run(tmp_path, _recipe(tmp_path, batch_size=2), sharded, processes=2)
    assert result.returncode == 0, result.stderr[-6000:]
    single = tmp_path / "single"
    result = _run(tmp_path, _recipe(tmp_path, batch_size=4), single, processes=1)
    assert result.returncode == 0, result.stderr[-6000:]

    # each rank trains on half of every global batch of 4 records (DistributedSampler's split)
    two = read_metrics(sharded / "metrics.jsonl")
    one = read_metrics(single / "metrics.jsonl")
    assert [e["step"] for e in two] == [1, 2, 3, 4]
    assert [e["label_tokens"] for e in two] == [e["label_tokens"] for e in one]
    torch.testing.assert_close(torch.tensor([e["loss"] for e in two]), torch.tensor([e["loss"] for e in one]),
                               rtol=1e-4, atol=1e-4)
    assert (sharded / "final" / "COMPLETE").is_file() and (sharded / "final" / "model.safetensors").is_file()

    # resume the sharded run from its step-2 checkpoint: the same losses again
    shutil.rmtree(sharded / "final")
    shutil.rmtree(sharded / "checkpoint-00000004")
    result = _run(tmp_path, _recipe(tmp_path, batch_size=2), sharded, processes=2)
    assert result.returncode == 0, result.stderr[-6000:]
    assert "resuming from checkpoint-00000002" in result.stderr
    again = read_metrics(sharded / "metrics.jsonl")
    assert [e["step"] for e in again] == [1, 2, 3, 4]
    torch.testing.assert_close(torch.tensor([e["loss"] for e in again]), torch.tensor([e["loss"] for e in two]),
                               rtol=1e-6, atol=1e-6)
