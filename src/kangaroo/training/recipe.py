"""Training recipes: one YAML file per curriculum stage, parsed into typed dataclasses.

A recipe file starts with the command that runs it (a comment) and holds the sections below;
every field has a default and a comment. Unknown keys are errors (a typo must not silently fall
back to a default), and `validate_recipe` reports every problem of a recipe at once, before
anything heavy starts::

    # kangaroo train recipes/tiny/stage1_image_pretrain.yaml
    stage: image_pretrain
    model: {init: kangaroo_tiny, image_size: 56, patchify_kernel: [1, 1, 1]}
    data: {synth: [{task: image_caption, num: 64, world: {size: [64, 48]}}], frames: {sampling: uniform, num_frames: 1}, max_length: 384}
    optim: {lr: 1.0e-3, warmup_steps: 4}
    schedule: {steps: 30, batch_size: 4}
    trainable: [vision_tower, projector]
    run: {output_dir: runs/tiny/stage1_image_pretrain}

``load_recipe(path, overrides)`` applies ``key.sub=value`` overrides (values parsed as YAML
scalars: ``optim.lr=3e-5``, ``data.packing=false``, ``data.records=[a.jsonl,b.jsonl]``) before the
types are checked. Relative paths resolve against the working directory, except
``model.from_stage``, which is relative to ``run.output_dir`` (so ``--out`` moves a whole
curriculum). A curriculum file (``stages: [stage1.yaml, ...]``) lists stage recipes relative to
itself; see `load_curriculum`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kangaroo.synth.options import WorldOptions

MODULE_NAMES = ("vision_tower", "patchify", "projector", "language_model")  # trainable units of the model
PRECISIONS = ("bf16", "fp32")  # autocast dtype; fp32 = no autocast
WEIGHT_DTYPES = ("float32", "bfloat16", "float16")
SAMPLINGS = ("uniform", "dynamic")
FINAL_DIR = "final"  # <run_dir>/final: the finished stage as a saved model + processor (next stage's init)
FINAL_MARKER = "COMPLETE"  # written last into FINAL_DIR
_EXPONENT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


class RecipeError(ValueError):
    """A recipe that cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[str], source: str | os.PathLike[str] | None = None) -> None:
        self.errors = list(errors)
        where = f"{source}: " if source is not None else ""
        super().__init__(where + ("; ".join(self.errors) if len(self.errors) == 1 else
                                  f"{len(self.errors)} problems:\n  - " + "\n  - ".join(self.errors)))


# ---------------------------------------------------------------------------------------------
# sections


@dataclass
class ModelSection:
    """Where the weights come from and the geometry the stage trains at."""

    init: str = "kangaroo_tiny"  # kangaroo_tiny | kangaroo_8b (random weights) | components | a saved model directory
    from_stage: str | None = None  # previous stage's run dir (relative to run.output_dir): start from its final model
    vision_dir: str | None = None  # init=components: local CLIP/SigLIP vision checkpoint (EVA-CLIP-L in the paper)
    llm_dir: str | None = None  # init=components: local causal LM + tokenizer (Llama-3-8B-Instruct in the paper)
    projector_type: str = "linear"  # builders and components: linear (Kangaroo) | ccam (Video-CCAM)
    seed: int = 0  # kangaroo_tiny: seed of the random initial weights
    image_size: int | None = None  # frame side in px; the ViT position table is interpolated when it differs
    patchify_kernel: list[int] | None = None  # [t, h, w]; [1, 1, 1] = no patchify; a change starts it as averaging
    dtype: str = "float32"  # weights (master copy) dtype: float32 | bfloat16 | float16


@dataclass
class SynthSpec:
    """One synthetic dataset generated with `kangaroo.synth.generate.generate_dataset`."""

    task: str = "caption_short"  # kangaroo synth --list
    num: int = 32  # records
    seed: int = 0  # dataset seed
    split: str = "train"  # train | val | test
    world: WorldOptions = field(default_factory=WorldOptions)  # how the scenes look (kangaroo.synth.options)


@dataclass
class FramesSection:
    """How many frames each video gets (the shared samplers of `kangaroo.video.sampling`)."""

    sampling: str = "uniform"  # uniform: num_frames per video | dynamic: by duration (DynamicFrameRule)
    num_frames: int = 16  # uniform: frames per video (images are always 1 frame)
    min_frames: int = 16  # dynamic: fewest frames
    max_frames: int = 64  # dynamic: most frames
    frames_per_second: float = 1.0  # dynamic: frames per second of video between the bounds
    long_min_duration: float | None = None  # dynamic: videos longer than this (s) use the long bounds below
    long_min_frames: int = 64  # dynamic, long videos: fewest frames
    long_max_frames: int = 160  # dynamic, long videos: most frames

    @property
    def most_frames(self) -> int:
        """The largest frame count a video can get."""
        if self.sampling == "uniform":
            return self.num_frames
        return max(self.max_frames, self.long_max_frames if self.long_min_duration is not None else 0)


@dataclass
class DataSection:
    """Training records, how videos are sampled, and how examples become batches."""

    records: list[str] = field(default_factory=list)  # records files (JSONL / JSON list)
    root: str | None = None  # folder the records' video paths are relative to (default: each file's folder)
    mixture: str | None = None  # or/and a mixture YAML (kangaroo.data.mixture)
    synth: list[SynthSpec] = field(default_factory=list)  # generated into <run.output_dir>/data when missing
    frames: FramesSection = field(default_factory=FramesSection)  # frame sampling
    max_length: int = 2048  # LLM context: tokens per packed row / longest padded example
    packing: bool = False  # pack several records into one row (no cross-record attention)
    image_time_range: list[float] = field(default_factory=lambda: [0.0, 60.0])  # images get a random t in this range (s)
    shuffle: bool = True  # a new order every epoch, from (run.seed, epoch)
    workers: int = 0  # threads that decode the next records while the model trains (0: inline)


@dataclass
class OptimSection:
    """AdamW with layer-wise LR decay on the ViT, cosine schedule with warm-up."""

    lr: float = 1e-4  # peak learning rate
    min_lr: float = 1e-6  # the cosine ends here (Table II: 1e-6)
    warmup_steps: int = 0  # linear warm-up from 0
    weight_decay: float = 0.05  # not on biases, norms, embeddings
    vision_lr_decay: float = 0.9  # ViT layer i of n gets lr * decay^(n - i)
    grad_clip: float = 1.0  # max global grad norm (0 = off)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # AdamW betas


@dataclass
class ScheduleSection:
    """How long the stage runs and how big a step is."""

    steps: int | None = None  # optimizer steps (or give epochs)
    epochs: float | None = None  # passes over the data (steps = ceil(epochs * records / records per step))
    batch_size: int = 1  # records per micro-batch (packed into rows of max_length when packing)
    grad_accum: int = 1  # micro-batches per optimizer step


@dataclass
class LoraSection:
    """LoRA adapters on the LLM (its base weights frozen); merged into the final model."""

    r: int = 16  # rank
    alpha: int = 32  # scaling numerator (scale = alpha / r)
    dropout: float = 0.0  # adapter dropout (keep 0 for exact resume)
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )  # LLM linear layers that get adapters


@dataclass
class RunSection:
    """Where the run writes, how often, and its seed."""

    output_dir: str = "runs/train"  # checkpoints, metrics.jsonl, loss.png, final/ (rerun = resume)
    save_every: int = 100  # steps between checkpoints (the last step is always saved)
    keep_last: int = 2  # complete checkpoints kept
    seed: int = 0  # data order, image timestamps, torch RNG
    log_every: int = 1  # steps between metrics lines
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:N
    threads: int | None = None  # torch CPU threads during the run (null: torch's default)


@dataclass
class Recipe:
    """One training stage."""

    stage: str = "train"  # name of the stage (free text)
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    trainable: list[str] | str = field(default_factory=lambda: list(MODULE_NAMES))  # module names or a stage preset
    precision: str = "bf16"  # autocast: bf16 | fp32 (none)
    gradient_checkpointing: bool = False  # recompute activations in the backward (ViT and LLM)
    lora: LoraSection | None = None  # LoRA on the LLM (null: full fine-tuning of the trainable modules)
    run: RunSection = field(default_factory=RunSection)

    # -- derived -------------------------------------------------------------------------------
    @property
    def output_dir(self) -> Path:
        return Path(self.run.output_dir)

    def from_stage_dir(self) -> Path | None:
        """The previous stage's run directory, or None."""
        if self.model.from_stage is None:
            return None
        return (self.output_dir / self.model.from_stage).resolve()

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML / JSON values (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------------------------------------
# parsing


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is tuple:
        return f"a list of {len(typing.get_args(tp))} ({', '.join(_type_name(a) for a in typing.get_args(tp))})"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, where: str, errors: list[str]) -> Any:
    """``value`` as type ``tp``; appends to ``errors`` (and returns None) when it does not fit."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:  # first type that fits, without reporting
            if arg is type(None):
                continue
            trial: list[str] = []
            out = _convert(value, arg, where, trial)
            if not trial:
                return out
        errors.append(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return None
    if origin is list:
        if not isinstance(value, list):
            errors.append(f"{where}: expected {_type_name(tp)}, got {value!r}")
            return None
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]", errors) for i, v in enumerate(value)]
    if origin is tuple:
        items = typing.get_args(tp)
        if not isinstance(value, list) or len(value) != len(items):
            errors.append(f"{where}: expected {_type_name(tp)}, got {value!r}")
            return None
        return tuple(_convert(v, item, f"{where}[{i}]", errors)
                     for i, (v, item) in enumerate(zip(value, items, strict=True)))
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            errors.append(f"{where}: expected a mapping, got {value!r}")
            return None
        return _build(tp, value, where, errors)
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        errors.append(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return None
    return float(value) if tp is float else value


def _build(cls: type, data: Mapping[str, Any], where: str, errors: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in hints:
            errors.append(f"{where + '.' if where else ''}{key}: unknown key; {cls.__name__} has {', '.join(names)}")
            continue
        before = len(errors)
        converted = _convert(value, hints[key], f"{where + '.' if where else ''}{key}", errors)
        # a bad value keeps the default (a section keeps its good fields), so the rest can still be checked
        if len(errors) == before or dataclasses.is_dataclass(converted):
            kwargs[key] = converted
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a value the section's own type refuses (e.g. WorldOptions)
        errors.append(f"{where}: {exc}")
        return cls()


def recipe_from_dict(data: Mapping[str, Any], source: str | os.PathLike[str] | None = None) -> Recipe:
    """A `Recipe` from a parsed mapping; raises `RecipeError` naming every unknown key or bad type."""
    if not isinstance(data, Mapping):
        raise RecipeError([f"a recipe must be a mapping, got {type(data).__name__}"], source)
    errors: list[str] = []
    recipe = _build(Recipe, data, "", errors)
    if errors:
        raise RecipeError(errors, source)
    return recipe


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=3e-5"`` -> ``(["optim", "lr"], 3e-05)``; the value is parsed as YAML
    (``1e-4`` is a number, as YAML 1.1 would make it a string)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise RecipeError([f"override {text!r}: expected key.sub=value"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise RecipeError([f"override {text!r}: the value is not valid YAML ({exc})"]) from None
    if isinstance(value, str) and _EXPONENT_RE.fullmatch(value.strip()):  # YAML 1.1 reads 1e-4 as a string
        value = float(value)
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set each ``key.sub=value`` in the raw recipe mapping (intermediate mappings are created; a
    number indexes a list: ``data.synth.0.num=8``). Types are checked when the recipe is built."""
    errors: list[str] = []
    for text in overrides:
        try:
            keys, value = parse_override(text)
        except RecipeError as exc:
            errors.extend(exc.errors)
            continue
        node: Any = data
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            where = ".".join(keys[: i + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    errors.append(f"override {text!r}: {where}: no item {key} in a list of {len(node)}")
                    break
                index: Any = int(key)
            elif isinstance(node, dict):
                index = key
            else:
                errors.append(f"override {text!r}: {'.'.join(keys[:i])} is not a section")
                break
            if last:
                node[index] = value
            else:
                if isinstance(node, dict) and node.get(index) is None:
                    node[index] = {}
                node = node[index]
    if errors:
        raise RecipeError(errors)
    return data


def read_yaml(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError([f"{path}: no such recipe file"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError([f"{path}: not valid YAML: {exc}"]) from None


def parse_recipe(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), output_dir: str | os.PathLike[str] | None = None
) -> tuple[Recipe, list[str]]:
    """Read a recipe YAML, apply ``overrides`` (``key.sub=value``) and ``output_dir``, and return
    the recipe with every unknown key and bad type found (bad fields keep their defaults), so
    that `validate_recipe` can report the rest at once. Raises `RecipeError` only when the file
    cannot be read as YAML, is a curriculum, or an override is malformed."""
    data = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError([f"a recipe must be a mapping, got {type(data).__name__}"], path)
    if "stages" in data:
        raise RecipeError(["this is a curriculum (it lists stages); run it as a whole"], path)
    data = apply_overrides(data, overrides)
    if output_dir is not None:
        if not isinstance(data.setdefault("run", {}), dict):
            data["run"] = {}
        data["run"]["output_dir"] = str(output_dir)
    errors: list[str] = []
    recipe = _build(Recipe, data, "", errors)
    return recipe, errors


def load_recipe(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), output_dir: str | os.PathLike[str] | None = None
) -> Recipe:
    """`parse_recipe`, raising `RecipeError` listing every unknown key and bad type (values are
    checked by `validate_recipe`)."""
    recipe, errors = parse_recipe(path, overrides, output_dir)
    if errors:
        raise RecipeError(errors, path)
    return recipe


@dataclass
class Curriculum:
    """Stage recipes run in order; each starts from the previous stage's final model."""

    path: Path  # the curriculum YAML
    stages: list[Path]  # stage recipe files


def is_curriculum(path: str | os.PathLike[str]) -> bool:
    """Whether the YAML file is a curriculum (a mapping with ``stages``)."""
    data = read_yaml(path)
    return isinstance(data, dict) and "stages" in data


def load_curriculum(path: str | os.PathLike[str]) -> Curriculum:
    """Read a curriculum YAML: ``stages:`` a list of recipe files, relative to the curriculum."""
    path = Path(path)
    data = read_yaml(path)
    errors: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise RecipeError(["a curriculum needs 'stages': a non-empty list of recipe files"], path)
    errors += [f"{key}: unknown key; a curriculum has only 'stages'" for key in data if key != "stages"]
    stages = []
    for i, entry in enumerate(data["stages"]):
        if not isinstance(entry, str) or not entry:
            errors.append(f"stages[{i}]: expected a recipe file name, got {entry!r}")
            continue
        stage = path.parent / entry
        if not stage.is_file():
            errors.append(f"stages[{i}]: {stage}: no such recipe file")
        stages.append(stage)
    names = [s.stem for s in stages]
    errors += [f"stages: {n!r} is listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if errors:
        raise RecipeError(errors, path)
    return Curriculum(path, stages)


def stage_recipes(
    curriculum: Curriculum, overrides: Sequence[str] = (), output_dir: str | os.PathLike[str] | None = None
) -> list[Recipe]:
    """The stage recipes of a curriculum with ``overrides`` applied to each; with ``output_dir``,
    stage ``stageN_x.yaml`` writes to ``output_dir/stageN_x``. Raises `RecipeError` for all stages."""
    recipes, errors = [], []
    for stage in curriculum.stages:
        try:
            out = Path(output_dir) / stage.stem if output_dir is not None else None
            recipes.append(load_recipe(stage, overrides, out))
        except RecipeError as exc:
            errors += [f"{stage.name}: {e}" for e in exc.errors]
    if errors:
        raise RecipeError(errors, curriculum.path)
    return recipes


# ---------------------------------------------------------------------------------------------
# validation


def final_model_dir(run_dir: str | os.PathLike[str]) -> Path | None:
    """``run_dir/final`` when the stage finished (its marker exists), else None."""
    final = Path(run_dir) / FINAL_DIR
    return final if (final / FINAL_MARKER).is_file() else None


def total_steps(recipe: Recipe, num_records: int) -> int:
    """Optimizer steps of the stage: ``schedule.steps``, or epochs over ``num_records``."""
    if recipe.schedule.steps is not None:
        return recipe.schedule.steps
    per_step = recipe.schedule.batch_size * recipe.schedule.grad_accum
    return max(1, math.ceil((recipe.schedule.epochs or 0) * num_records / per_step))


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
    _check_data(recipe, errors, warnings)
    if build_model:
        _check_model(recipe, errors, warnings)
    return errors


def _check_values(recipe: Recipe, errors: list[str]) -> None:
    m, d, f, o, s, r = recipe.model, recipe.data, recipe.data.frames, recipe.optim, recipe.schedule, recipe.run
    if m.dtype not in WEIGHT_DTYPES:
        errors.append(f"model.dtype: {m.dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}")
    if recipe.precision not in PRECISIONS:
        errors.append(f"precision: {recipe.precision!r} is not one of {', '.join(PRECISIONS)}")
    if m.projector_type not in ("linear", "ccam"):
        errors.append(f"model.projector_type: {m.projector_type!r} is not linear or ccam")
    if m.image_size is not None and m.image_size < 1:
        errors.append(f"model.image_size: must be positive, got {m.image_size}")
    if m.patchify_kernel is not None and (len(m.patchify_kernel) != 3 or min(m.patchify_kernel) < 1):
        errors.append(f"model.patchify_kernel: expected 3 positive integers [t, h, w], got {m.patchify_kernel}")
    if f.sampling not in SAMPLINGS:
        errors.append(f"data.frames.sampling: {f.sampling!r} is not one of {', '.join(SAMPLINGS)}")
    if f.num_frames < 1:
        errors.append(f"data.frames.num_frames: must be >= 1, got {f.num_frames}")
    if f.sampling == "dynamic":
        if not 1 <= f.min_frames <= f.max_frames:
            errors.append(f"data.frames: need 1 <= min_frames <= max_frames, got {f.min_frames}, {f.max_frames}")
        if not f.frames_per_second > 0:
            errors.append(f"data.frames.frames_per_second: must be > 0, got {f.frames_per_second}")
        if f.long_min_duration is not None and not 1 <= f.long_min_frames <= f.long_max_frames:
            errors.append("data.frames: need 1 <= long_min_frames <= long_max_frames, "
                          f"got {f.long_min_frames}, {f.long_max_frames}")
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
        presets = _stage_presets()
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


def _stage_presets() -> dict[str, Sequence[str]]:
    try:
        from .freezing import STAGE_TRAINABLE
    except ImportError:
        return {}
    return dict(STAGE_TRAINABLE)


def resolve_trainable(trainable: str | Sequence[str]) -> list[str]:
    """Module names from a list, a single module name or a stage preset (`freezing.STAGE_TRAINABLE`)."""
    if isinstance(trainable, str):
        presets = _stage_presets()
        if trainable in presets:
            return list(presets[trainable])
        return [trainable]
    return list(trainable)


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
    from .model_setup import describe_model_source, meta_model

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
    video_tokens = layout.prompt_tokens(frames)
    if video_tokens >= recipe.data.max_length:
        errors.append(
            f"data.max_length ({recipe.data.max_length}) is shorter than one video: {frames} frames at "
            f"{layout.image_size} px take {video_tokens} tokens (+ the text)"
        )
    if max_positions is not None and recipe.data.max_length > max_positions:
        errors.append(f"data.max_length ({recipe.data.max_length}) is beyond the LLM's {max_positions} positions")
    return errors
