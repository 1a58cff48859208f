"""The run directory's state: the recipe copy, the typed trainer state (`TrainState`), checkpoints
saved and loaded with the model and optimizer gathered on rank 0 in a multi-process (FSDP) run, and
the final model."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kangaroo.io import atomic_directory, atomic_write_json, atomic_write_text
from kangaroo.model.quiet import no_progress_bars

from .feeding import Position
from .metrics import StepMetrics
from .recipe import FINAL_DIR, FINAL_MARKER, Recipe

RECIPE_COPY = "recipe.yaml"  # the resolved recipe, written into the run directory
KEPT_SKIPPED_IDS = 100  # skipped record ids a TrainState keeps (the newest)


def write_recipe_copy(recipe: Recipe, run_dir: Path, log: Callable[[str], None]) -> None:
    """Write ``run_dir/recipe.yaml``; on a resume, warn about settings that changed."""
    import yaml

    path = run_dir / RECIPE_COPY
    current = recipe.to_dict()
    if path.is_file():
        try:
            saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            saved = {}
        changed = sorted(_diff_keys(saved, current) - {"run.output_dir"})
        if changed:
            log(f"warning: the recipe differs from the one this run started with: {', '.join(changed)}")
        return
    atomic_write_text(path, f"# resolved recipe of {recipe.stage!r}\n" + recipe.to_yaml())


def _diff_keys(a: Any, b: Any, prefix: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for key in set(a) | set(b):
            out |= _diff_keys(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    return set() if a == b else {prefix}


@dataclass
class TrainState:
    """Where a stage's run is; each checkpoint's ``trainer_state.json`` holds it (`to_dict`)."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # data position after the last step: epoch ...
    index: int = 0  # ... and records into that epoch's order (`feeding.Position`)
    total_steps: int = 0  # steps of the stage (a resume with another count is refused)
    finished: bool = False  # the last step is done (the final model may still be missing)
    stage: str = ""  # recipe.stage
    world_size: int = 1  # processes of the run (a resume must use as many)
    skipped: int = 0  # records skipped, whole run
    skipped_ids: list[str] = field(default_factory=list)  # the last `KEPT_SKIPPED_IDS` of them
    elapsed_s: float = 0.0  # training wall time, every call of the run together

    @property
    def position(self) -> Position:
        """The data position after the last step."""
        return Position(self.epoch, self.index)

    def record_step(self, metrics: StepMetrics, position: Position, elapsed_s: float) -> None:
        """Count one finished step: its skipped records, the data position after it, the time."""
        self.step += 1
        self.epoch, self.index = position.epoch, position.index
        self.skipped += metrics.skipped
        self.skipped_ids = (self.skipped_ids + list(metrics.skipped_ids))[-KEPT_SKIPPED_IDS:]
        self.elapsed_s = elapsed_s

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        """The state a checkpoint saved (other keys, such as ``"rng"``, are not part of it)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    @classmethod
    def read(cls, checkpoint: Path) -> TrainState:
        """The state of a checkpoint directory, without loading anything else."""
        from .checkpoint import TRAINER_STATE_FILE

        return cls.from_dict(json.loads((checkpoint / TRAINER_STATE_FILE).read_text(encoding="utf-8")))


class Snapshot:
    """A gathered state dict standing in for a module / optimizer when a checkpoint is written."""

    def __init__(self, state: dict[str, Any], config: Any = None) -> None:
        self._state = state
        self.config = config

    def state_dict(self) -> dict[str, Any]:
        return self._state


class Checkpoints:
    """`checkpoint.save_checkpoint` / `load_checkpoint`, with the state gathered from (and spread
    back to) the ranks in a multi-process run: full model and optimizer state dicts on rank 0,
    keyed by parameter name (`torch.distributed.checkpoint.state_dict`)."""

    def __init__(self, ctx: Any, run_dir: Path, keep: int, processor: Any = None) -> None:
        self.ctx = ctx
        self.run_dir = run_dir
        self.keep = keep
        self.processor = processor  # saved in each checkpoint, so that it loads as a model

    def save(self, state: TrainState, model: Any, optimizer: Any, scheduler: Any) -> Path:
        """Write ``checkpoint-{state.step}`` (with this process's RNG states) and keep the newest
        ``keep``; every rank calls it in a multi-process run."""
        from .checkpoint import capture_rng_state, keep_last, save_checkpoint
        from .distributed import barrier

        step = state.step
        trainer_state = {**state.to_dict(), "rng": capture_rng_state()}
        path = self.run_dir / f"checkpoint-{step:08d}"
        if not self.ctx.is_distributed:
            path = save_checkpoint(self.run_dir, step, model=model, optimizer=optimizer, scheduler=scheduler,
                                   trainer_state=trainer_state, processor=self.processor)
            keep_last(self.run_dir, self.keep)
            return path
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        model_state = get_model_state_dict(model, options=options)  # collectives: every rank
        optimizer_state = get_optimizer_state_dict(model, optimizer, options=options)
        if self.ctx.is_main:
            model_state = {k: v.detach().clone() for k, v in model_state.items()}  # own storage each (safetensors)
            path = save_checkpoint(self.run_dir, step, model=Snapshot(model_state, model.config),
                                   optimizer=Snapshot(optimizer_state), scheduler=scheduler,
                                   trainer_state=trainer_state, processor=self.processor)
            keep_last(self.run_dir, self.keep)
        barrier(self.ctx)
        return path

    def load_model(self, path: Path, model: Any) -> None:
        """Multi-process runs: the model's weights, before it is sharded (`load` does the rest)."""
        from .checkpoint import load_checkpoint

        load_checkpoint(path, model=model)

    def load(self, path: Path, model: Any, optimizer: Any, scheduler: Any) -> tuple[TrainState, dict[str, Any] | None]:
        """Restore the optimizer and scheduler (and, in a one-process run, the model; a
        multi-process run loaded it with `load_model` before sharding); return the saved
        `TrainState` and RNG states (None when not saved; see `checkpoint.restore_rng_state`)."""
        from .checkpoint import OPTIMIZER_FILE, RNG_FILE, SCHEDULER_FILE, load_checkpoint

        if not self.ctx.is_distributed:
            saved = load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
            return TrainState.from_dict(saved), saved.get("rng")
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        full = torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
        set_optimizer_state_dict(model, optimizer, full, options=StateDictOptions(full_state_dict=True))
        scheduler.load_state_dict(torch.load(path / SCHEDULER_FILE, map_location="cpu", weights_only=True))
        rng = torch.load(path / RNG_FILE, map_location="cpu", weights_only=True) if (path / RNG_FILE).is_file() else None
        return TrainState.read(path), rng


def export_final(model: Any, processor: Any, run_dir: Path, recipe: Recipe, ctx: Any = None) -> Path:
    """Write ``run_dir/final``: the model (LoRA merged, on the CPU) and its processor, atomically
    (`kangaroo.io.atomic_directory`; marker last). In a multi-process run every rank calls it
    (the weights are gathered) and rank 0 writes."""
    from .distributed import barrier, full_state_dict
    from .lora import has_lora, merge_lora

    final = run_dir / FINAL_DIR
    state = None
    if ctx is not None and ctx.is_distributed:
        state = full_state_dict(model, ctx)  # a collective; rank 0 gets the whole model
        if not ctx.is_main:
            barrier(ctx)
            return final
    export = model
    if has_lora(model):
        export = merge_lora(copy.deepcopy(model).cpu())
    with atomic_directory(final) as tmp:
        export.config.use_cache = True  # for generation with the saved model
        with no_progress_bars():
            export.save_pretrained(tmp, **({"state_dict": state} if state is not None else {}))
            processor.save_pretrained(tmp)
        export.config.use_cache = False
        atomic_write_json(tmp / "training.json", {"stage": recipe.stage, "recipe": recipe.to_dict()})
    atomic_write_json(final / FINAL_MARKER, {"stage": recipe.stage}, indent=None)
    if ctx is not None and ctx.is_distributed:
        barrier(ctx)
    return final
