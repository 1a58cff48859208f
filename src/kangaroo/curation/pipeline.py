"""A curation pipeline: the steps of a YAML file, in the order that runs cheap work first.

    # kangaroo curate recipes/curation/paper.yaml --input videos/ --output curated/
    name: paper
    input:
      category_from: folder     # folder | meta | none: where a video's category comes from
    steps:
      - {step: scene_cut, min_duration: 2.0, max_duration: 60.0}
      - {step: text_coverage, threshold: 0.02}
      ...
    run:
      shard_size: 8             # source videos per shard
      error_budget: 0.1         # the run stops when more than this share of videos is undecodable
      order: cost               # cost: cheap steps first within each stage; written: as listed

Each step's mapping gives the step's name and its constructor's keyword arguments. Steps run by
stage (clips are cut first, video filters next, then category balance, captioning, and filters
on the captions), and within a stage by cost (`steps.base` COST_*), so that a clip dropped by a
cheap filter is never OCR'd or captioned. Steps are built from this plain data in each worker
process (nothing is pickled but dicts).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# step name -> (module under kangaroo.curation.steps, class, stage); stages run in this order
STEP_TYPES: dict[str, tuple[str, str, int]] = {
    "scene_cut": ("scene_cut", "SceneCutStep", 0),
    "static_scene": ("static_scene", "StaticSceneFilter", 1),
    "face_coverage": ("face_coverage", "FaceCoverageFilter", 1),
    "text_coverage": ("text_coverage", "TextCoverageFilter", 1),
    "category_balance": ("category_balance", "CategoryBalance", 2),
    "captioning": ("captioning", "CaptioningStep", 3),
    "caption_refinement": ("caption_refinement", "CaptionRepetitionFilter", 4),
}
CATEGORY_SOURCES = ("folder", "meta", "none")
ORDERS = ("cost", "written")


class PipelineError(ValueError):
    """A pipeline file is malformed (the message names the file and the problem)."""


@dataclass(frozen=True)
class StepSpec:
    """One step as written: its type name and keyword arguments."""

    step: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def stage(self) -> int:
        return STEP_TYPES[self.step][2]


@dataclass(frozen=True)
class Pipeline:
    """A parsed pipeline file (steps already in run order)."""

    name: str
    steps: tuple[StepSpec, ...]
    category_from: str = "folder"
    shard_size: int = 8
    error_budget: float = 0.1
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what workers rebuild the steps from, and what the run records)."""
        return {"name": self.name, "steps": [{"step": s.step, **s.options} for s in self.steps],
                "input": {"category_from": self.category_from},
                "run": {"shard_size": self.shard_size, "error_budget": self.error_budget, "order": "written"}}


def load_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """Read and check a pipeline YAML file. Raises `PipelineError`."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: no such pipeline file") from None
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineError(f"{path}: cannot read the pipeline ({exc})") from None
    return parse_pipeline(raw, str(path))


def parse_pipeline(raw: Any, source: str = "<pipeline>") -> Pipeline:
    """Check a pipeline mapping and put its steps in run order. Raises `PipelineError`."""
    if not isinstance(raw, dict):
        raise PipelineError(f"{source}: a pipeline is a mapping with 'steps'")
    unknown = sorted(set(raw) - {"name", "input", "steps", "run"})
    if unknown:
        raise PipelineError(f"{source}: unknown keys {unknown}; allowed: input, name, run, steps")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise PipelineError(f"{source}: 'steps' must be a non-empty list")
    specs = [_step_spec(item, f"{source}: steps[{i}]") for i, item in enumerate(steps_raw)]
    names = [s.step for s in specs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise PipelineError(f"{source}: steps {duplicated} appear twice")
    run = raw.get("run") or {}
    inputs = raw.get("input") or {}
    if not isinstance(run, dict) or not isinstance(inputs, dict):
        raise PipelineError(f"{source}: 'run' and 'input' must be mappings")
    order = run.get("order", "cost")
    if order not in ORDERS:
        raise PipelineError(f"{source}: run.order must be one of {ORDERS}")
    if order == "cost":
        specs.sort(key=lambda s: (s.stage, _cost(s)))
    elif [s.stage for s in specs] != sorted(s.stage for s in specs):
        raise PipelineError(f"{source}: with order: written, steps must follow the stages "
                            "scene_cut < video filters < category_balance < captioning < caption_refinement")
    category_from = inputs.get("category_from", "folder")
    if category_from not in CATEGORY_SOURCES:
        raise PipelineError(f"{source}: input.category_from must be one of {CATEGORY_SOURCES}")
    shard_size, budget = run.get("shard_size", 8), run.get("error_budget", 0.1)
    if not isinstance(shard_size, int) or shard_size < 1:
        raise PipelineError(f"{source}: run.shard_size must be an integer >= 1")
    if not isinstance(budget, int | float) or not 0 <= budget <= 1:
        raise PipelineError(f"{source}: run.error_budget must be a fraction between 0 and 1")
    pipeline = Pipeline(str(raw.get("name", Path(source).stem)), tuple(specs), category_from, shard_size,
                        float(budget), source)
    for spec in pipeline.steps:  # fail now, not in a worker: every step must build
        try:
            build_step(spec)
        except (TypeError, ValueError) as exc:
            raise PipelineError(f"{source}: step {spec.step}: {exc}") from None
    return pipeline


def _step_spec(item: Any, where: str) -> StepSpec:
    if not isinstance(item, dict) or "step" not in item:
        raise PipelineError(f"{where}: a step is a mapping with 'step: NAME' and its options")
    options = {k: v for k, v in item.items() if k != "step"}
    name = item["step"]
    if name not in STEP_TYPES:
        raise PipelineError(f"{where}: unknown step {name!r}; known steps: {', '.join(STEP_TYPES)}")
    return StepSpec(name, options)


def _cost(spec: StepSpec) -> int:
    return getattr(_step_class(spec.step), "cost", 0)


def _step_class(name: str) -> Any:
    module, cls, _ = STEP_TYPES[name]
    return getattr(importlib.import_module(f"kangaroo.curation.steps.{module}"), cls)


def build_step(spec: StepSpec) -> Any:
    """The step object for ``spec`` (its class called with the options)."""
    return _step_class(spec.step)(**spec.options)


def is_global(step: Any) -> bool:
    """Whether a step needs the whole dataset before it runs (it has ``plan`` and ``with_plan``)."""
    return hasattr(step, "plan") and hasattr(step, "with_plan")
