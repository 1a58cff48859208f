"""Atomic training checkpoints: a checkpoint is complete when, and only when, its marker exists.

Layout of ``run_dir/checkpoint-{step:08d}/``::

    model.safetensors     every parameter and persistent buffer (`safetensors.torch.save_model`)
    config.json           the model's config, when it has one
    adapter/              LoRA adapters the PEFT way, when the LLM has them (`lora.save_adapter`)
    optimizer.pt          optimizer.state_dict()   (torch.save)
    scheduler.pt          scheduler.state_dict()   (torch.save)
    trainer_state.json    the trainer state's plain values (step, data position, metrics, ...)
    rng_state.pt          trainer_state["rng"] (`capture_rng_state`), when present
    COMPLETE              marker, written last: {"step", "files": {relative path: size}}

Writing (`save_checkpoint`): everything goes to a temporary folder beside the final one, which is
fsynced and renamed to its final name (`kangaroo.io.atomic_directory`), and the marker is written
last (`kangaroo.io.atomic_write_json`). A crash at any point leaves either no directory with the
final name or one without a marker; `latest_checkpoint` and `list_checkpoints` ignore both, and
`load_checkpoint` refuses them, so resuming never reads half-written state. One process writes to
a run directory (rank 0 in distributed runs); `save_checkpoint` removes the leftovers of earlier
crashes (`remove_incomplete`).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kangaroo.io import atomic_directory, atomic_write_json, remove_directory, remove_stale_temporaries

MARKER = "COMPLETE"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
TRAINER_STATE_FILE = "trainer_state.json"
RNG_FILE = "rng_state.pt"
ADAPTER_DIR = "adapter"

_CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)")


# -- RNG state ----------------------------------------------------------------------------------
def capture_rng_state() -> dict[str, Any]:
    """The global RNG states of python's `random`, numpy's legacy `np.random`, torch (CPU) and,
    when available, CUDA: a dict for ``trainer_state["rng"]``, restored by `restore_rng_state`.

    A trainer's own `numpy.random.Generator` objects are not global: store
    ``generator.bit_generator.state`` (plain values) in the trainer state instead.
    """
    version, internal, gauss = random.getstate()
    name, key, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": (version, tuple(internal), gauss),
        "numpy": {"bit_generator": name, "key": [int(k) for k in key], "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set the global RNGs to ``state`` (from `capture_rng_state`). CUDA states are restored when
    CUDA is available, for as many devices as both the state and this process have."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["bit_generator"], np.asarray(numpy_state["key"], dtype=np.uint32),
                         numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)


# -- listing ------------------------------------------------------------------------------------
def checkpoint_step(path: Path) -> int | None:
    """The step of a ``checkpoint-{step}`` directory name, or None for any other name."""
    match = _CHECKPOINT_RE.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def is_complete(path: Path) -> bool:
    """Whether ``path`` is a checkpoint directory with its completion marker."""
    path = Path(path)
    return checkpoint_step(path) is not None and path.is_dir() and (path / MARKER).is_file()


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints in ``run_dir``, oldest step first (temporary and marker-less ones are
    left out). A missing ``run_dir`` has none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if is_complete(p)]
    return sorted(found, key=lambda p: checkpoint_step(p))


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint of ``run_dir`` with the highest step, or None."""
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


# -- saving -------------------------------------------------------------------------------------
def save_checkpoint(
    run_dir: Path,
    step: int,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    trainer_state: dict[str, Any],
    processor: Any = None,
) -> Path:
    """Write ``run_dir/checkpoint-{step:08d}`` atomically (see the module docstring) and return it.

    ``trainer_state`` holds plain JSON values (step, data position, metrics, ...) and, under
    ``"rng"``, the output of `capture_rng_state` (saved with torch). A complete checkpoint of the
    same step is replaced. ``optimizer`` / ``scheduler`` may be None (not saved). With the
    ``processor`` saved beside the weights, the checkpoint loads as a model (`load_pretrained`:
    ``kangaroo eval -m run/checkpoint-N``).

    Raises:
        ValueError: ``step < 0``.
        TypeError: ``trainer_state`` (apart from ``"rng"``) is not JSON-serialisable; nothing is
            written then.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    plain = {key: value for key, value in trainer_state.items() if key != "rng"}
    plain.setdefault("step", step)
    try:
        state_json = json.dumps(plain, indent=2, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise TypeError(f"trainer_state must hold JSON values (apart from 'rng'): {error}") from error

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_incomplete(run_dir)
    final = run_dir / f"checkpoint-{step:08d}"
    with atomic_directory(final) as tmp:  # a complete checkpoint of the same step is replaced
        _write_contents(tmp, model, optimizer, scheduler, state_json, trainer_state.get("rng"), processor)
    _write_marker(final, step)
    return final


def _write_contents(directory: Path, model, optimizer, scheduler, state_json: str, rng, processor) -> None:
    from safetensors.torch import save_model

    save_model(model, str(directory / MODEL_FILE), force_contiguous=True)
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "save_pretrained"):
        config.save_pretrained(directory)
    if processor is not None:
        processor.save_pretrained(directory)
    from .lora import has_lora, save_adapter

    if has_lora(model):
        save_adapter(model, directory / ADAPTER_DIR)
    if optimizer is not None:
        torch.save(optimizer.state_dict(), directory / OPTIMIZER_FILE)
    if scheduler is not None:
        torch.save(scheduler.state_dict(), directory / SCHEDULER_FILE)
    (directory / TRAINER_STATE_FILE).write_text(state_json, encoding="utf-8")
    if rng is not None:
        torch.save(rng, directory / RNG_FILE)


def _write_marker(directory: Path, step: int) -> None:
    files = {
        str(path.relative_to(directory)): path.stat().st_size
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MARKER
    }
    atomic_write_json(directory / MARKER, {"step": step, "files": files})


# -- cleaning -----------------------------------------------------------------------------------
def remove_incomplete(run_dir: Path) -> list[Path]:
    """Delete the leftovers of interrupted saves in ``run_dir``: temporary checkpoint folders of
    processes that no longer run (or of this one: `kangaroo.io.remove_stale_temporaries`),
    half-deleted ones and marker-less ``checkpoint-*`` directories. Assumes one writer per run
    directory. Returns the removed paths."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    removed = remove_stale_temporaries(run_dir, this_process=True,
                                       target=lambda name: checkpoint_step(Path(name)) is not None)
    for path in sorted(run_dir.iterdir()):
        if path.is_dir() and checkpoint_step(path) is not None and not is_complete(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def keep_last(run_dir: Path, n: int) -> list[Path]:
    """Delete all but the ``n`` newest complete checkpoints of ``run_dir`` (the newest is never
    deleted). Each is first renamed away (`kangaroo.io.remove_directory`), so a half-deleted one is
    never taken for complete. Returns the deleted paths.

    Raises:
        ValueError: ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"keep_last needs n >= 1 (the newest checkpoint is always kept), got {n}")
    run_dir = Path(run_dir)
    removed = []
    for path in list_checkpoints(run_dir)[:-n]:
        remove_directory(path)
        removed.append(path)
    return removed


# -- loading ------------------------------------------------------------------------------------
def load_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> dict[str, Any]:
    """Restore ``model`` (strict: every key must match), and ``optimizer`` / ``scheduler`` when
    given, from the complete checkpoint ``path``; return the trainer state, with the RNG states
    under ``"rng"`` (pass them to `restore_rng_state`) when they were saved.

    The model, optimizer and scheduler must be built as for the run that saved it (same model
    and LoRA configuration, same trainable parameters, `build_optimizer` / `cosine_with_warmup`).

    Raises:
        FileNotFoundError: ``path`` does not exist, or a requested part was not saved.
        ValueError: ``path`` is not a complete checkpoint (no marker) or a file's size differs
            from the marker's record.
        RuntimeError: the model's keys or shapes differ from the checkpoint's.
    """
    from safetensors.torch import load_model

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint directory {path}")
    if not is_complete(path):
        raise ValueError(f"{path} is not a complete checkpoint (no {MARKER} marker): it was not fully written")
    marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    for name, size in marker.get("files", {}).items():
        actual = (path / name).stat().st_size if (path / name).is_file() else None
        if actual != size:
            raise ValueError(f"checkpoint {path} is damaged: {name} has {actual} bytes, the marker says {size}")
    device = next((p.device for p in model.parameters() if p.device.type != "meta"), torch.device("cpu"))
    load_model(model, str(path / MODEL_FILE), strict=True, device=str(device))
    for part, file in ((optimizer, OPTIMIZER_FILE), (scheduler, SCHEDULER_FILE)):
        if part is None:
            continue
        if not (path / file).is_file():
            raise FileNotFoundError(f"checkpoint {path} has no {file}: it was saved without it")
        part.load_state_dict(torch.load(path / file, map_location="cpu", weights_only=True))
    state = json.loads((path / TRAINER_STATE_FILE).read_text(encoding="utf-8"))
    if (path / RNG_FILE).is_file():
        state["rng"] = torch.load(path / RNG_FILE, map_location="cpu", weights_only=True)
    return state
