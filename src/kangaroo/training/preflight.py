"""Preflight: every problem of a recipe, found before anything heavy starts.

`validate_recipe` checks what the schema (`kangaroo.training.recipe`, read by `kangaroo.config`)
cannot: values against each other, the records files, mixtures and synthetic tasks the recipe
names, and, with ``build_model``, the stage's model built on the meta device (module names, and
whether a video at the most frames fits in ``data.max_length``). It returns the problems as
messages, so a run or ``kangaroo train --validate`` lists them all at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kangaroo.model.layout import PROJECTOR_TYPES

from .model_setup import describe_model_source, meta_model
from .recipe import (
    MODULE_NAMES,
    OBJECTIVES,
    PRECISIONS,
    WEIGHT_DTYPES,
    Recipe,
    resolve_trainable,
    stage_presets,
)


def validate_recipe(
    recipe: Recipe, *, build_model: bool = True, warnings: list[str] | None = None
) -> list[str]:
    """Every problem of a recipe, as messages (empty: good). Nothing heavy runs: files are checked
    for existence (records: the first 100 of each file are parsed and their videos looked for),
    and with ``build_model`` the model is built on the meta device (no weights) to check module
    names and token lengths. Problems that a previous stage will fix (its final model does not
    exist yet) go to ``warnings`` when given."""
    errors: list[str] = []
    warnings = warnings if warnings is not None else []
    _check_values(recipe, errors)
    if recipe.objective == "world_vision":
        _check_world_vision(recipe, errors)
    elif recipe.objective == "world_align":
        _check_world_align(recipe, errors)
    else:
        _check_data(recipe, errors, warnings)
    if build_model:
        _check_model(recipe, errors, warnings)
    return errors


def _check_values(recipe: Recipe, errors: list[str]) -> None:
    m, d, f, o, s, r = recipe.model, recipe.data, recipe.data.frames, recipe.optim, recipe.schedule, recipe.run
    if m.dtype not in WEIGHT_DTYPES:
        errors.append(f"model.dtype: {m.dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}")
    if recipe.objective not in OBJECTIVES:
        errors.append(f"objective: {recipe.objective!r} is not one of {', '.join(OBJECTIVES)}")
    if recipe.precision not in PRECISIONS:
        errors.append(f"precision: {recipe.precision!r} is not one of {', '.join(PRECISIONS)}")
    if m.projector_type not in PROJECTOR_TYPES:
        errors.append(f"model.projector_type: {m.projector_type!r} is not one of {', '.join(PROJECTOR_TYPES)}")
    if m.image_size is not None and m.image_size < 1:
        errors.append(f"model.image_size: must be positive, got {m.image_size}")
    if m.patchify_kernel is not None and (len(m.patchify_kernel) != 3 or min(m.patchify_kernel) < 1):
        errors.append(f"model.patchify_kernel: expected 3 positive integers [t, h, w], got {m.patchify_kernel}")
    if f.most_frames is None:  # FrameSampling checked the rest of data.frames when it was read
        errors.append(f"data.frames: {f.describe()} has no frame budget; give num_frames (uniform) or max_frames")
    if d.max_length < 1:
        errors.append(f"data.max_length: must be >= 1, got {d.max_length}")
    if len(d.image_time_range) != 2 or not 0 <= d.image_time_range[0] <= d.image_time_range[1]:
        errors.append(f"data.image_time_range: expected [low, high] with 0 <= low <= high, got {d.image_time_range}")
    if d.workers < 0:
        errors.append(f"data.workers: must be >= 0, got {d.workers}")
    if not o.lr > 0:
        errors.append(f"optim.lr: must be > 0, got {o.lr}")
    if not 0 <= o.min_lr <= o.lr:
        errors.append(f"optim.min_lr: must be between 0 and optim.lr ({o.lr}), got {o.min_lr}")
    if o.weight_decay < 0:
        errors.append(f"optim.weight_decay: must be >= 0, got {o.weight_decay}")
    if not 0 < o.vision_lr_decay <= 1:
        errors.append(f"optim.vision_lr_decay: must be in (0, 1], got {o.vision_lr_decay}")
    if o.grad_clip < 0:
        errors.append(f"optim.grad_clip: must be >= 0 (0 = off), got {o.grad_clip}")
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        errors.append(f"optim.betas: expected two numbers in [0, 1), got {o.betas}")
    if o.warmup_steps < 0:
        errors.append(f"optim.warmup_steps: must be >= 0, got {o.warmup_steps}")
    if (s.steps is None) == (s.epochs is None):
        errors.append("schedule: give exactly one of steps and epochs")
    if s.steps is not None and s.steps < 1:
        errors.append(f"schedule.steps: must be >= 1, got {s.steps}")
    if s.epochs is not None and not s.epochs > 0:
        errors.append(f"schedule.epochs: must be > 0, got {s.epochs}")
    if s.steps is not None and s.steps >= 1 and o.warmup_steps >= s.steps:
        errors.append(f"optim.warmup_steps ({o.warmup_steps}) must be less than schedule.steps ({s.steps})")
    if s.batch_size < 1:
        errors.append(f"schedule.batch_size: must be >= 1, got {s.batch_size}")
    if s.grad_accum < 1:
        errors.append(f"schedule.grad_accum: must be >= 1, got {s.grad_accum}")
    if not r.output_dir:
        errors.append("run.output_dir: must be set")
    for name in ("save_every", "keep_last", "log_every"):
        if getattr(r, name) < 1:
            errors.append(f"run.{name}: must be >= 1, got {getattr(r, name)}")
    if r.threads is not None and r.threads < 1:
        errors.append(f"run.threads: must be >= 1 or null, got {r.threads}")
    if not (r.device in ("auto", "cpu", "cuda") or r.device.startswith("cuda:")):
        errors.append(f"run.device: {r.device!r} is not auto, cpu, cuda or cuda:N")
    names = [recipe.trainable] if isinstance(recipe.trainable, str) else recipe.trainable
    if not names:
        errors.append("trainable: no module is trainable")
    elif isinstance(recipe.trainable, str):
        presets = stage_presets()
        if recipe.trainable not in presets and recipe.trainable not in MODULE_NAMES:
            errors.append(f"trainable: {recipe.trainable!r} is neither a module ({', '.join(MODULE_NAMES)}) "
                          f"nor a stage preset ({', '.join(presets) or 'none'})")
    else:
        errors += [f"trainable: unknown module {n!r}; modules are {', '.join(MODULE_NAMES)}"
                   for n in names if n not in MODULE_NAMES]
    if recipe.lora is not None:
        lo = recipe.lora
        if lo.r < 1 or lo.alpha < 1:
            errors.append(f"lora: r and alpha must be >= 1, got {lo.r}, {lo.alpha}")
        if not 0 <= lo.dropout < 1:
            errors.append(f"lora.dropout: must be in [0, 1), got {lo.dropout}")
        if not lo.target_modules:
            errors.append("lora.target_modules: empty")
        if "language_model" not in resolve_trainable(recipe.trainable):
            errors.append("lora: adapters go on the LLM, but language_model is not trainable in this stage")
    if m.init == "components" and (not m.vision_dir or not m.llm_dir):
        errors.append("model: init=components needs model.vision_dir and model.llm_dir")


def _check_world_vision(recipe: Recipe, errors: list[str]) -> None:
    """A world-vision stage trains the tower alone, for a number of steps, on rendered frames."""
    if recipe.schedule.steps is None:
        errors.append("schedule.steps: objective world_vision needs a number of steps (it has no records "
                      "for epochs)")
    if resolve_trainable(recipe.trainable) != ["vision_tower"]:
        errors.append(f"trainable: objective world_vision trains the vision tower only (trainable: "
                      f"[vision_tower]), got {recipe.trainable}")
    if recipe.data.records or recipe.data.synth or recipe.data.mixture:
        errors.append("data: objective world_vision renders its own frames; remove data.records / synth / mixture")


def _check_world_align(recipe: Recipe, errors: list[str]) -> None:
    """A world-align stage trains the vision side against fixed word embeddings, on rendered clips."""
    if recipe.schedule.steps is None:
        errors.append("schedule.steps: objective world_align needs a number of steps (it has no records for epochs)")
    trainable = resolve_trainable(recipe.trainable)
    if "language_model" in trainable or not trainable:
        errors.append(f"trainable: objective world_align trains the vision side (vision_tower, patchify, "
                      f"projector), not the LLM whose embeddings are its targets, got {recipe.trainable}")
    if recipe.data.frames.num_frames is None:
        errors.append("data.frames: objective world_align renders clips of data.frames.num_frames frames; set num_frames")
    if recipe.data.records or recipe.data.synth or recipe.data.mixture:
        errors.append("data: objective world_align renders its own clips; remove data.records / synth / mixture")


def _check_data(recipe: Recipe, errors: list[str], warnings: list[str]) -> None:
    d = recipe.data
    if not d.records and d.mixture is None and not d.synth:
        errors.append("data: no training data: give data.records, data.mixture or data.synth")
    root = Path(d.root) if d.root is not None else None
    if root is not None and not root.is_dir():
        errors.append(f"data.root: {root}: no such folder (give it as data.root=DIR)")
        root = None
    for i, name in enumerate(d.records):
        path = Path(name)
        if not path.is_file():
            errors.append(f"data.records[{i}]: {path}: no such records file (give it as data.records=[PATH, ...])")
            continue
        _check_records_file(path, root or path.parent, f"data.records[{i}]", errors)
    if d.mixture is not None:
        from kangaroo.data.mixture import read_mixture

        path = Path(d.mixture)
        if not path.is_file():
            errors.append(f"data.mixture: {path}: no such mixture file (give it as data.mixture=PATH)")
        else:
            try:
                specs = read_mixture(path)
            except (ValueError, OSError) as exc:
                errors.append(f"data.mixture: {exc}")
                specs = []
            for j, spec in enumerate(specs):
                where = f"data.mixture {path}: datasets[{j}]"
                if not spec.path.is_file():
                    errors.append(f"{where}: {spec.path}: no such records file")
                elif not spec.root.is_dir():
                    errors.append(f"{where}: root {spec.root}: no such folder")
                else:
                    _check_records_file(spec.path, spec.root, where, errors)
    if d.synth:
        from kangaroo.synth.splits import normalise_split
        from kangaroo.synth.tasks import get_task

        for i, spec in enumerate(d.synth):
            where = f"data.synth[{i}]"
            try:
                get_task(spec.task)
            except ValueError as exc:
                errors.append(f"{where}.task: {exc}")
            try:
                normalise_split(spec.split)
            except ValueError as exc:
                errors.append(f"{where}.split: {exc}")
            if spec.num < 1:
                errors.append(f"{where}.num: must be >= 1, got {spec.num}")


def _check_records_file(path: Path, root: Path, where: str, errors: list[str], limit: int = 100) -> None:
    """Parse the first ``limit`` records and look for their videos (one error per file and kind)."""
    from itertools import islice

    from kangaroo.data.records import RecordError, read_records, video_paths

    try:
        records = list(islice(read_records(path), limit))
    except RecordError as exc:
        errors.append(f"{where}: {exc}")
        return
    except OSError as exc:
        errors.append(f"{where}: {path}: cannot be read ({exc})")
        return
    if not records:
        errors.append(f"{where}: {path}: holds no records")
    missing = [p for rec in records for p in video_paths(rec, root) if not p.exists()]
    if missing:
        errors.append(f"{where}: {len(missing)} of the first {len(records)} records' videos are missing under "
                      f"{root} (e.g. {missing[0]}); set data.root=DIR")


def _check_model(recipe: Recipe, errors: list[str], warnings: list[str]) -> None:
    """Build the stage's model on the meta device and check modules and lengths against it."""
    if not describe_model_source(recipe, errors, warnings):
        return
    try:
        model = meta_model(recipe)
    except (ValueError, OSError) as exc:
        errors.append(f"model: cannot build the stage's model: {exc}")
        return
    names = {name for name, _ in model.named_children()}
    for name in resolve_trainable(recipe.trainable):
        if name in MODULE_NAMES and name not in names:
            errors.append(f"trainable: the model has no module {name!r}")
    try:
        errors += check_lengths(recipe, model.config.layout,
                                getattr(model.config.text_config, "max_position_embeddings", None))
    except ValueError as exc:
        errors.append(f"data.frames: {exc}")


def check_lengths(recipe: Recipe, layout: Any, max_positions: int | None) -> list[str]:
    """Problems of ``data.max_length`` against the model's token layout (`VideoTokenLayout`) and
    the LLM's position limit: one video at the most frames must fit, with room for text."""
    errors = []
    frames = recipe.data.frames.most_frames
    if frames is None:  # reported by the value checks
        return errors
    video_tokens = layout.prompt_tokens(frames)
    if video_tokens >= recipe.data.max_length:
        errors.append(
            f"data.max_length ({recipe.data.max_length}) is shorter than one video: {frames} frames at "
            f"{layout.image_size} px take {video_tokens} tokens (+ the text)"
        )
    if max_positions is not None and recipe.data.max_length > max_positions:
        errors.append(f"data.max_length ({recipe.data.max_length}) is beyond the LLM's {max_positions} positions")
    return errors
