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
process (nothing is pickled but dicts). The file is read with `kangaroo.config` and every step is
built once while parsing, so one `PipelineError` names the file and every bad key and step.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kangaroo.config import ConfigError, build, read_yaml

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


class PipelineError(ConfigError):
    """A pipeline file is malformed (the message names the file, and each bad key and step)."""


@dataclass(frozen=True)
class InputSection:
    """Where the source videos' categories come from."""

    category_from: Literal["folder", "meta", "none"] = "folder"  # the video's folder | record meta | none


@dataclass(frozen=True)
class RunSection:
    """How the run is cut into shards and when it gives up."""

    shard_size: int = 8  # source videos per shard
    error_budget: float = 0.1  # the run stops when more than this share of videos is undecodable
    order: Literal["cost", "written"] = "cost"  # cost: cheap steps first within each stage; written: as listed

    def __post_init__(self) -> None:
        problems = []
        if self.shard_size < 1:
            problems.append(f"shard_size: must be >= 1, got {self.shard_size}")
        if not 0 <= self.error_budget <= 1:
            problems.append(f"error_budget: must be a fraction between 0 and 1, got {self.error_budget}")
        if problems:
            raise PipelineError(problems)


@dataclass(frozen=True)
class PipelineFile:
    """A pipeline YAML file as written (`parse_pipeline` turns it into a `Pipeline`)."""

    steps: list[dict[str, Any]]  # {step: NAME, **its keyword arguments}
    name: str | None = None  # default: the file's name
    input: InputSection = InputSection()
    run: RunSection = RunSection()


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
    raw = read_yaml(path, error=PipelineError, what="pipeline file")
    return parse_pipeline(raw, str(path))


def parse_pipeline(raw: Any, source: str = "<pipeline>") -> Pipeline:
    """Check a pipeline mapping, build each step once, and put the steps in run order.
    Raises `PipelineError` listing every problem."""
    if not isinstance(raw, dict):
        raise PipelineError("a pipeline is a mapping with 'steps'", source)
    errors: list[str] = []
    written = build(PipelineFile, raw, errors)
    if written is None:
        raise PipelineError(errors, source)
    if not written.steps:
        errors.append("steps: needs at least one step")
    specs = [spec for i, item in enumerate(written.steps) if (spec := _step_spec(item, f"steps[{i}]", errors))]
    names = [s.step for s in specs]
    errors += [f"steps: {n!r} appears twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if written.run.order == "cost":
        specs.sort(key=lambda s: (s.stage, _cost(s)))
    elif [s.stage for s in specs] != sorted(s.stage for s in specs):
        errors.append("run.order: with order: written, steps must follow the stages "
                      "scene_cut < video filters < category_balance < captioning < caption_refinement")
    for spec in specs:  # fail now, not in a worker: every step must build
        try:
            build_step(spec)
        except (TypeError, ValueError) as exc:
            errors.append(f"step {spec.step}: {exc}")
    if errors:
        raise PipelineError(errors, source)
    return Pipeline(written.name or Path(source).stem, tuple(specs), written.input.category_from,
                    written.run.shard_size, written.run.error_budget, source)


def _step_spec(item: dict[str, Any], where: str, errors: list[str]) -> StepSpec | None:
    name = item.get("step")
    if name is None:
        errors.append(f"{where}: a step is a mapping with 'step: NAME' and its options")
    elif name not in STEP_TYPES:
        errors.append(f"{where}: unknown step {name!r}; known steps: {', '.join(STEP_TYPES)}")
    else:
        return StepSpec(name, {k: v for k, v in item.items() if k != "step"})
    return None


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
