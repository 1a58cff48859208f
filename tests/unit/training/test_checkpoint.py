"""Atomic checkpoints: exact resume, incomplete ones never become "latest", cleaning, keep_last."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.training import checkpoint as ckpt
from kangaroo.training.checkpoint import (
    capture_rng_state,
    keep_last,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    remove_incomplete,
    restore_rng_state,
    save_checkpoint,
)
from kangaroo.training.optim import build_optimizer, cosine_with_warmup


def _train_step(model, optimizer, scheduler) -> None:
    config = model.config
    ids = torch.tensor([[5, 6, config.video_start_token_id, *[config.video_pad_token_id] * 16,
                         config.video_end_token_id, 7, 8, 9]])  # 2 frames at 112 px: 16 tokens
    pixels = torch.randn(2, 3, 112, 112)  # from the global RNG: resuming must restore it
    optimizer.zero_grad()
    loss = model(input_ids=ids, labels=ids, pixel_values_videos=pixels,
                 video_timestamps=torch.tensor([0.0, 1.5]), video_frame_counts=torch.tensor([2])).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()


def _training(seed: int):
    model = kangaroo_tiny(seed=seed)
    optimizer = build_optimizer(model, lr=1e-3)
    scheduler = cosine_with_warmup(optimizer, warmup_steps=2, total_steps=6, min_lr=1e-6)
    return model, optimizer, scheduler


def _save_linear(run_dir, step: int, **state) -> os.PathLike:
    return save_checkpoint(run_dir, step, model=nn.Linear(2, 2), optimizer=None, scheduler=None,
                           trainer_state={"step": step, **state})


def test_resume_gives_the_same_parameters_as_continuing(tmp_path):
    torch.manual_seed(0)
    model, optimizer, scheduler = _training(seed=0)
    for _ in range(3):
        _train_step(model, optimizer, scheduler)
    state = {"step": 3, "epoch": 0, "index": 3, "metrics": {"loss": [5.7, 5.6, 5.5]}, "rng": capture_rng_state()}
    path = save_checkpoint(tmp_path, 3, model=model, optimizer=optimizer, scheduler=scheduler, trainer_state=state)
    assert path == tmp_path / "checkpoint-00000003"
    for _ in range(2):
        _train_step(model, optimizer, scheduler)  # continuing without a restart

    torch.manual_seed(123)  # a restarted process: other weights, other RNG state
    fresh, fresh_optimizer, fresh_scheduler = _training(seed=1)
    loaded = load_checkpoint(latest_checkpoint(tmp_path), model=fresh, optimizer=fresh_optimizer,
                             scheduler=fresh_scheduler)
    assert {k: v for k, v in loaded.items() if k != "rng"} == {k: v for k, v in state.items() if k != "rng"}
    restore_rng_state(loaded["rng"])
    for _ in range(2):
        _train_step(fresh, fresh_optimizer, fresh_scheduler)

    for (name, a), (_, b) in zip(model.named_parameters(), fresh.named_parameters(), strict=True):
        assert torch.equal(a, b), name
    assert fresh_scheduler.last_epoch == scheduler.last_epoch == 5
    assert [g["lr"] for g in fresh_optimizer.param_groups] == [g["lr"] for g in optimizer.param_groups]


def test_rng_state_round_trips_python_numpy_and_torch(tmp_path):
    state = capture_rng_state()
    draws = (random.random(), np.random.rand(), torch.rand(1))
    _save_linear(tmp_path, 1, rng=state)
    restored = load_checkpoint(latest_checkpoint(tmp_path), model=nn.Linear(2, 2))["rng"]
    restore_rng_state(restored)
    assert (random.random(), np.random.rand(), torch.rand(1)) == draws


def test_incomplete_checkpoints_are_never_latest(tmp_path):
    good = _save_linear(tmp_path, 2)
    no_marker = tmp_path / "checkpoint-00000005"  # renamed, but killed before the marker
    no_marker.mkdir()
    (no_marker / "model.safetensors").write_bytes(b"partial")
    tmp = tmp_path / ".checkpoint-00000009.4242-0123abcd.tmp"  # killed mid-write
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"par")
    (tmp_path / "checkpoint-00000007").write_text("a file, not a checkpoint")
    assert latest_checkpoint(tmp_path) == good
    assert list_checkpoints(tmp_path) == [good]
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        load_checkpoint(no_marker, model=nn.Linear(2, 2))
    assert latest_checkpoint(tmp_path / "missing") is None


def test_a_save_killed_mid_write_never_becomes_latest(tmp_path, monkeypatch):
    good = _save_linear(tmp_path, 1)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies while writing the trainer state

    write_contents = ckpt._write_contents

    def killed_midway(directory, *args):
        write_contents(directory, *args)
        raise KeyboardInterrupt  # after the files, before the rename

    monkeypatch.setattr(ckpt, "_write_contents", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        _save_linear(tmp_path, 1)  # would replace the good one
    assert latest_checkpoint(tmp_path) == good
    assert load_checkpoint(good, model=nn.Linear(2, 2))["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [good.name]  # cleaned up on the way out

    monkeypatch.undo()
    monkeypatch.setattr(ckpt, "_write_marker", killed)  # killed after the rename, before the marker
    with pytest.raises(KeyboardInterrupt):
        _save_linear(tmp_path, 3)
    assert (tmp_path / "checkpoint-00000003").is_dir()
    assert latest_checkpoint(tmp_path) == good

    monkeypatch.undo()
    assert latest_checkpoint(tmp_path) == good
    newest = _save_linear(tmp_path, 4)  # the next save removes the leftovers
    assert latest_checkpoint(tmp_path) == newest
    assert not (tmp_path / "checkpoint-00000003").exists()


def test_remove_incomplete_keeps_tmp_dirs_of_running_processes(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".checkpoint-00000005.{dead.pid}-0123abcd.tmp"  # the documented kangaroo.io names
    half_deleted = tmp_path / f".checkpoint-00000003.{dead.pid}-89abcdef.tmp"
    mine = tmp_path / f".checkpoint-00000004.{os.getpid()}-0123abcd.tmp"  # an earlier process with our id
    live = tmp_path / f".checkpoint-00000006.{os.getppid()}-0123abcd.tmp"  # our parent is running
    other = tmp_path / f".loss.{dead.pid}-0123abcd.tmp.png"  # not a checkpoint: not ours to remove
    marker_less = tmp_path / "checkpoint-00000005"
    for path in (stale, half_deleted, mine, live, marker_less):
        path.mkdir()
    other.write_bytes(b"")
    good = _save_linear(tmp_path, 1)
    assert not stale.exists() and not half_deleted.exists() and not mine.exists()
    assert live.exists() and other.exists() and good.exists() and not marker_less.exists()
    assert remove_incomplete(tmp_path) == []


def test_keep_last_deletes_old_checkpoints_but_never_the_newest(tmp_path):
    paths = [_save_linear(tmp_path, step) for step in (1, 2, 10, 3)]
    assert list_checkpoints(tmp_path) == [paths[0], paths[1], paths[3], paths[2]]  # by step
    assert keep_last(tmp_path, 2) == [paths[0], paths[1]]
    assert list_checkpoints(tmp_path) == [paths[3], paths[2]]
    assert keep_last(tmp_path, 5) == []
    with pytest.raises(ValueError, match="n >= 1"):
        keep_last(tmp_path, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-00000003", "checkpoint-00000010"]


def test_saving_a_step_again_replaces_it(tmp_path):
    _save_linear(tmp_path, 1, note="first")
    path = _save_linear(tmp_path, 1, note="second")
    assert load_checkpoint(path, model=nn.Linear(2, 2))["note"] == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-00000001"]


def test_checkpoint_contents_and_marker(tmp_path):
    model, optimizer, scheduler = _training(seed=0)
    path = save_checkpoint(tmp_path, 0, model=model, optimizer=optimizer, scheduler=scheduler,
                           trainer_state={"epoch": 0})
    names = {p.name for p in path.iterdir()}
    assert {"model.safetensors", "config.json", "optimizer.pt", "scheduler.pt", "trainer_state.json",
            "COMPLETE"} <= names
    marker = json.loads((path / "COMPLETE").read_text())
    assert marker["step"] == 0 and "model.safetensors" in marker["files"]
    assert json.loads((path / "trainer_state.json").read_text()) == {"epoch": 0, "step": 0}


def test_bad_state_and_damaged_or_mismatched_checkpoints_fail_clearly(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        _save_linear(tmp_path, 1, when=object())
    assert latest_checkpoint(tmp_path) is None and not any(tmp_path.iterdir())  # nothing written
    with pytest.raises(ValueError, match="step"):
        _save_linear(tmp_path, -1)

    path = _save_linear(tmp_path, 1)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_checkpoint(path, model=nn.Linear(2, 3))  # strict: shapes must match
    with pytest.raises(RuntimeError, match="Missing key"):
        load_checkpoint(path, model=nn.Sequential(nn.Linear(2, 2)))  # strict: keys must match
    with pytest.raises(FileNotFoundError, match=r"optimizer\.pt"):
        load_checkpoint(path, model=nn.Linear(2, 2), optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters()))
    with open(path / "model.safetensors", "r+b") as handle:
        handle.truncate(10)
    with pytest.raises(ValueError, match="damaged"):
        load_checkpoint(path, model=nn.Linear(2, 2))
