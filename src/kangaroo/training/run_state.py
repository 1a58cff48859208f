"""The run directory's state: the recipe copy, the trainer state, checkpoints saved and loaded
with the model and optimizer gathered on rank 0 in a multi-process (FSDP) run, and the final model."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from kangaroo.io import atomic_directory, atomic_write_json, atomic_write_text
from kangaroo.model.quiet import no_progress_bars

from .recipe import FINAL_DIR, FINAL_MARKER, Recipe

RECIPE_COPY = "recipe.yaml"  # the resolved recipe, written into the run directory


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


def read_trainer_state(path: Path) -> dict[str, Any]:
    from .checkpoint import TRAINER_STATE_FILE

    return json.loads((path / TRAINER_STATE_FILE).read_text(encoding="utf-8"))




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

    def __init__(self, ctx: Any, run_dir: Path, keep: int) -> None:
        self.ctx = ctx
        self.run_dir = run_dir
        self.keep = keep

    def save(self, step: int, model: Any, optimizer: Any, scheduler: Any, trainer_state: dict[str, Any]) -> Path:
        from .checkpoint import keep_last, save_checkpoint
        from .distributed import barrier

        path = self.run_dir / f"checkpoint-{step:08d}"
        if not self.ctx.is_distributed:
            path = save_checkpoint(self.run_dir, step, model=model, optimizer=optimizer, scheduler=scheduler,
                                   trainer_state=trainer_state)
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
                                   trainer_state=trainer_state)
            keep_last(self.run_dir, self.keep)
        barrier(self.ctx)
        return path

    def load_model(self, path: Path, model: Any) -> dict[str, Any]:
        """Multi-process runs: the model's weights, before it is sharded; returns the trainer state."""
        from .checkpoint import load_checkpoint

        return load_checkpoint(path, model=model)

    def load(self, path: Path, model: Any, optimizer: Any, scheduler: Any,
             state: dict[str, Any] | None) -> dict[str, Any]:
        from .checkpoint import OPTIMIZER_FILE, SCHEDULER_FILE, load_checkpoint

        if not self.ctx.is_distributed:
            return load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        full = torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
        set_optimizer_state_dict(model, optimizer, full, options=StateDictOptions(full_state_dict=True))
        scheduler.load_state_dict(torch.load(path / SCHEDULER_FILE, map_location="cpu", weights_only=True))
        assert state is not None
        return state


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
