"""The typed training-loop state: `TrainState` (what a checkpoint saves and a resume restores)
and `StepMetrics` (what a step measured, written as one documented metrics.jsonl line)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from kangaroo.training.distributed import DistributedContext
from kangaroo.training.feeding import Position
from kangaroo.training.metrics import StepMetrics
from kangaroo.training.run_state import KEPT_SKIPPED_IDS, Checkpoints, TrainState

REPO = Path(__file__).resolve().parents[3]


def metrics(skipped_ids: tuple[str, ...] = (), **values) -> StepMetrics:
    fields = dict(loss=2.5, lr=1e-3, grad_norm=0.8, label_tokens=40, real_tokens=300, total_tokens=400, records=4,
                  skipped=len(skipped_ids))
    return StepMetrics(**{**fields, **values}, skipped_ids=skipped_ids)


def documented_metric_keys(path: Path) -> list[str]:
    """The keys of the metrics.jsonl example in a doc (the first JSON block that has "step_s")."""
    text = path.read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"\{[^{}]*\}", text) if '"step_s"' in b)
    return list(json.loads(block))


def test_a_log_entry_has_exactly_the_documented_keys_in_order() -> None:
    entry = metrics().log_entry(step=12, epoch=1, step_seconds=0.5, elapsed_s=10.25)
    assert list(entry) == documented_metric_keys(REPO / "docs" / "training.md")
    assert list(entry) == documented_metric_keys(REPO / "src" / "kangaroo" / "training" / "metrics.py")
    assert entry["tokens_per_s"] == 600.0 and entry["padding_fraction"] == 0.25
    assert (entry["step"], entry["epoch"], entry["records"], entry["skipped"]) == (12, 1, 4, 0)
    assert entry["step_s"] == 0.5 and entry["elapsed_s"] == 10.25
    empty = metrics(real_tokens=0, total_tokens=0).log_entry(step=1, epoch=0, step_seconds=0.0, elapsed_s=0.0)
    assert empty["tokens_per_s"] is None and empty["padding_fraction"] is None


def test_record_step_counts_steps_position_time_and_skipped_records() -> None:
    state = TrainState(total_steps=10, stage="s")
    state.record_step(metrics(("a", "b")), Position(0, 4), elapsed_s=1.5)
    state.record_step(metrics(("c",)), Position(1, 2), elapsed_s=3.0)
    assert (state.step, state.position, state.elapsed_s) == (2, Position(1, 2), 3.0)
    assert state.skipped == 3 and state.skipped_ids == ["a", "b", "c"]
    many = tuple(f"r{i}" for i in range(KEPT_SKIPPED_IDS + 5))
    state.record_step(metrics(many), Position(1, 6), elapsed_s=4.0)
    assert state.skipped == 3 + len(many)
    assert state.skipped_ids == list(many[-KEPT_SKIPPED_IDS:])  # the newest are kept


def test_train_state_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    state = TrainState(step=3, epoch=1, index=2, total_steps=9, stage="instruction_tuning", skipped=1,
                       skipped_ids=["x"], elapsed_s=4.5)
    assert TrainState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    model = nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    checkpoints = Checkpoints(DistributedContext(), tmp_path, keep=2)
    path = checkpoints.save(state, model, optimizer, scheduler)
    assert path.name == "checkpoint-00000003"
    assert TrainState.read(path) == state
    loaded, rng = checkpoints.load(path, nn.Linear(2, 2), optimizer, scheduler)
    assert loaded == state
    assert rng is not None and "torch" in rng  # the RNG states travel beside the state, not in it
