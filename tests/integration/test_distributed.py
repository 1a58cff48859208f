"""A real 2-process FSDP2 run (torchrun, CPU, gloo) against the same steps in one process.

`distributed_worker.py` shards the tiny model with `shard_model` and trains 3 AdamW steps (with
gradient clipping) on 2 ranks, each on its half of a 4-example global batch; the ranks have
different label-token counts and, in ``root_visual``, only rank 0 has a video. One process
without sharding trains the same model on the whole batch; losses and final parameters must agree.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKER = Path(__file__).with_name("distributed_worker.py")
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                 "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")


def _load_worker():
    spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs the worker under torchrun once (both setups); returns its output directory."""
    out = tmp_path_factory.mktemp("fsdp")
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"torchrun failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return out


@pytest.mark.parametrize("setup", list(worker.SETUPS))
def test_two_rank_fsdp_matches_one_process(sharded_run: Path, setup: str) -> None:
    report = json.loads((sharded_run / f"{setup}.json").read_text())
    sharded_state = torch.load(sharded_run / f"{setup}.pt")
    torch.set_num_threads(1)
    losses, state = worker.train_single_process(setup)

    # It really ran sharded: 2 gloo ranks, DTensor parameters holding half the rows each.
    assert report["world_size"] == 2 and report["backend"] == "gloo"
    assert report["all_params_dtensor"]
    assert report["layer_weight_local_rows"] * 2 == report["layer_weight_rows"]
    expected_ranks_with_video = {"root_visual": 1, "vision_blocks": 2}[setup]
    assert report["ranks_with_video"] == expected_ranks_with_video
    # 4 LLM layers + root; with shard_vision_blocks also the 2 ViT layers.
    assert report["fsdp_units"] == {"root_visual": 5, "vision_blocks": 7}[setup]

    torch.testing.assert_close(torch.tensor(report["losses"]), torch.tensor(losses), rtol=0, atol=1e-5)
    assert losses[-1] < losses[0]
    assert sorted(sharded_state) == sorted(state)
    for name, tensor in state.items():
        torch.testing.assert_close(sharded_state[name], tensor, rtol=0, atol=1e-5, msg=name)

    # The video's gradient reached the vision tower and projector (trained in both runs).
    initial = worker.build_model()[0].state_dict()
    for name in ("vision_tower.encoder.layers.0.mlp.fc1.weight", "projector.linear.weight"):
        assert not torch.equal(state[name], initial[name]), name
