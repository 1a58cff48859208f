"""Training recipes: one YAML file per curriculum stage, parsed into typed dataclasses.

A recipe file starts with the command that runs it (a comment) and holds the sections below;
every field has a default and a comment. The file is read with `kangaroo.config`: unknown keys
and bad types are errors (a typo must not silently fall back to a default), all reported at once;
`kangaroo.training.preflight.validate_recipe` then checks the values, files and model, before
anything heavy starts::

    # kangaroo train recipes/tiny/stage1_image_pretrain.yaml
    stage: image_pretrain
    model: {init: kangaroo_tiny, image_size: 56, patchify_kernel: [1, 1, 1]}
    data: {synth: [{task: image_caption, num: 64, world: {size: [64, 48]}}], frames: {sampling: uniform, num_frames: 1}, max_length: 384}
    #     (frames: a kangaroo.video.FrameSampling; the final model's processor samples with it)
    optim: {lr: 1.0e-3, warmup_steps: 4}
    schedule: {steps: 30, batch_size: 4}
    trainable: [vision_tower, projector]
    run: {output_dir: runs/tiny/stage1_image_pretrain}

``load_recipe(path, overrides)`` applies ``key.sub=value`` overrides (values parsed as YAML
scalars: ``optim.lr=3e-5``, ``data.packing=false``, ``data.records=[a.jsonl,b.jsonl]``) before the
types are checked. Relative paths resolve against the working directory, except
``model.from_stage`` and ``data.synth_dir``, which are relative to ``run.output_dir`` (so ``--out``
moves a whole curriculum). A curriculum file (``stages: [stage1.yaml, ...]``) lists stage recipes relative to
itself; see `load_curriculum`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kangaroo.config import ConfigError, apply_overrides, build, from_dict, read_yaml, to_dict
from kangaroo.synth.options import WorldOptions
from kangaroo.video.sampling import DEFAULT_SAMPLING, FrameSampling

MODULE_NAMES = ("vision_tower", "patchify", "projector", "language_model")  # trainable units of the model
PRECISIONS = ("bf16", "fp32")  # autocast dtype; fp32 = no autocast
OBJECTIVES = ("language_modelling", "world_vision", "world_align")  # what a stage trains on (Recipe.objective)
WEIGHT_DTYPES = ("float32", "bfloat16", "float16")
FINAL_DIR = "final"  # <run_dir>/final: the finished stage as a saved model + processor (next stage's init)
FINAL_MARKER = "COMPLETE"  # written last into FINAL_DIR


class RecipeError(ConfigError):
    """A recipe that cannot be used; ``errors`` lists every problem found."""


# ---------------------------------------------------------------------------------------------
# sections


@dataclass
class ModelSection:
    """Where the weights come from and the geometry the stage trains at."""

    init: str = "kangaroo_tiny"  # kangaroo_tiny | kangaroo_8b (random weights) | components | a saved model directory
    from_stage: str | None = None  # previous stage's run dir (relative to run.output_dir): start from its final model
    vision_dir: str | None = None  # init=components: local CLIP/SigLIP vision checkpoint (EVA-CLIP-L in the paper)
    llm_dir: str | None = None  # init=components: local causal LM + tokenizer (Llama-3-8B-Instruct in the paper)
    projector_type: str = "linear"  # builders and components: linear (Kangaroo) | mlp (LLaVA mlp2x_gelu) | ccam (Video-CCAM)
    seed: int = 0  # kangaroo_tiny: seed of the random initial weights
    image_size: int | None = None  # frame side in px; the ViT position table is interpolated when it differs
    patchify_kernel: list[int] | None = None  # [t, h, w]; [1, 1, 1] = no patchify; a change starts it as averaging
    temporal_embedding: bool | None = None  # add the temporal position embedding (TPE) to frame features; None: as the source
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
class DataSection:
    """Training records, how videos are sampled, and how examples become batches."""

    records: list[str] = field(default_factory=list)  # records files (JSONL / JSON list)
    root: str | None = None  # folder the records' video paths are relative to (default: each file's folder)
    mixture: str | None = None  # or/and a mixture YAML (kangaroo.data.mixture)
    synth: list[SynthSpec] = field(default_factory=list)  # generated into synth_dir when missing
    synth_dir: str = "data"  # where data.synth datasets live, relative to run.output_dir (../stage4/data: reuse its)
    frames: FrameSampling = DEFAULT_SAMPLING  # kangaroo.video.FrameSampling (the final model keeps it)
    max_length: int = 2048  # LLM context: tokens per packed row / longest padded example
    packing: bool = False  # pack several records into one row (no cross-record attention)
    image_time_range: list[float] = field(default_factory=lambda: [0.0, 60.0])  # images get a random t in this range (s)
    shuffle: bool = True  # a new order every epoch, from (run.seed, epoch)
    workers: int = 0  # threads that decode the next records while the model trains (0: inline)
    cache_visual_tokens: bool = True  # vision side frozen, one process: each record's visual tokens computed once


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
    # language_modelling: next-token loss on the data's records | world_vision: the vision tower
    # learns the synthetic world's ground truth per patch (kangaroo.training.world_vision; no records;
    # schedule.steps x schedule.batch_size frames, optim.lr, trainable [vision_tower]) | world_align: the
    # visual tokens of rendered clips learn to equal the text embeddings of the colours and shapes
    # they show (kangaroo.training.world_align; no records; schedule.steps x schedule.batch_size clips
    # of data.frames.num_frames frames; trainable: the vision side, not language_model)
    objective: str = "language_modelling"
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
        return to_dict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------------------------------------
# parsing


def recipe_from_dict(data: Mapping[str, Any], source: str | os.PathLike[str] | None = None) -> Recipe:
    """A `Recipe` from a parsed mapping; raises `RecipeError` naming every unknown key or bad type."""
    if not isinstance(data, Mapping):
        raise RecipeError([f"a recipe must be a mapping, got {type(data).__name__}"], source)
    return from_dict(Recipe, data, source=source, error=RecipeError)


def parse_recipe(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), output_dir: str | os.PathLike[str] | None = None
) -> tuple[Recipe, list[str]]:
    """Read a recipe YAML, apply ``overrides`` (``key.sub=value``) and ``output_dir``, and return
    the recipe with every unknown key and bad type found (bad fields keep their defaults), so
    that `preflight.validate_recipe` can report the rest at once. Raises `RecipeError` only when
    the file cannot be read as YAML, is a curriculum, or an override is malformed."""
    data = read_yaml(path, error=RecipeError, what="recipe file")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError([f"a recipe must be a mapping, got {type(data).__name__}"], path)
    if "stages" in data:
        raise RecipeError(["this is a curriculum (it lists stages); run it as a whole"], path)
    data = apply_overrides(data, overrides, error=RecipeError)
    if output_dir is not None:
        if not isinstance(data.setdefault("run", {}), dict):
            data["run"] = {}
        data["run"]["output_dir"] = str(output_dir)
    errors: list[str] = []
    recipe = build(Recipe, data, errors)
    return recipe if recipe is not None else Recipe(), errors


def load_recipe(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), output_dir: str | os.PathLike[str] | None = None
) -> Recipe:
    """`parse_recipe`, raising `RecipeError` listing every unknown key and bad type (values are
    checked by `kangaroo.training.preflight.validate_recipe`)."""
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
    data = read_yaml(path, error=RecipeError, what="recipe file")
    return isinstance(data, dict) and "stages" in data


def load_curriculum(path: str | os.PathLike[str]) -> Curriculum:
    """Read a curriculum YAML: ``stages:`` a list of recipe files, relative to the curriculum."""
    path = Path(path)
    data = read_yaml(path, error=RecipeError, what="curriculum file")
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
# what the fields mean


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


def stage_presets() -> dict[str, Sequence[str]]:
    """The named ``trainable`` presets (`freezing.STAGE_TRAINABLE`; none without torch)."""
    try:
        from .freezing import STAGE_TRAINABLE
    except ImportError:
        return {}
    return dict(STAGE_TRAINABLE)


def resolve_trainable(trainable: str | Sequence[str]) -> list[str]:
    """Module names from a list, a single module name or a stage preset (`freezing.STAGE_TRAINABLE`)."""
    if isinstance(trainable, str):
        presets = stage_presets()
        if trainable in presets:
            return list(presets[trainable])
        return [trainable]
    return list(trainable)
