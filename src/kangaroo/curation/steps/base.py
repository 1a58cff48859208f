"""What every curation step is: a generator over records, with a named reason for each drop.

A curation record is a plain dict in the project's record schema (`kangaroo.data.records`)::

    {"id": "cooking/v001.mp4#12.000-19.500", "video": "/abs/path/v001.mp4", "start": 12.0, "end": 19.5,
     "meta": {"source": "cooking/v001.mp4", "category": "cooking", "duration": 7.5,
              "measures": {"text_coverage": 0.03, ...}},
     "messages": [...]}                  # added by captioning

A step's ``run(records, ctx)`` yields the records it keeps (possibly changed, or several per
input: scene cut) and hands each record it drops to ``ctx.drop(record, reason, value)``, or to
``ctx.quarantine(record, error)`` when its video cannot be read. Steps hold no bookkeeping
(counts, files, shards): that is the executor's, through ``ctx``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

Record = dict[str, Any]

# step costs: the pipeline runs cheaper steps first (a stable sort on cost)
COST_METADATA = 0  # no decoding (category balance, caption refinement on existing text)
COST_LIGHT_DECODE = 1  # a few small frames (static scene)
COST_SCAN = 2  # reads the whole video at low resolution (scene cut)
COST_DETECTOR = 3  # a detector on a few frames (faces)
COST_OCR = 4  # OCR on a few frames
COST_MODEL = 5  # a captioning model


class StepContext(Protocol):
    """What a step reports to the executor running it."""

    def drop(self, record: Record, reason: str, value: float | None = None, detail: str = "") -> None:
        """``record`` leaves the pipeline: ``reason`` names why, ``value`` is the measured value."""
        ...

    def quarantine(self, record: Record, error: str) -> None:
        """``record``'s video could not be read; it leaves the pipeline with ``error``."""
        ...

    def measured(self, name: str, value: float) -> None:
        """A measured value (kept or not), for the report's distributions."""
        ...


class Step(Protocol):
    """A curation step. ``name`` is unique in a pipeline; ``cost`` orders steps (cheap first)."""

    name: str
    cost: int

    def run(self, records: Iterator[Record], ctx: StepContext) -> Iterator[Record]:
        """Yield the records kept; report every dropped or undecodable one to ``ctx``."""
        ...


def set_measure(record: Record, name: str, value: Any) -> None:
    """Store a measured value in ``record["meta"]["measures"][name]``."""
    record.setdefault("meta", {}).setdefault("measures", {})[name] = value


def clip_bounds(record: Record) -> tuple[float | None, float | None]:
    """The record's ``(start, end)`` seconds (None: the video's own start / end)."""
    return record.get("start"), record.get("end")


@dataclass
class ThresholdFilter:
    """A filter that measures one value per record and drops records above (or below) a threshold.

    Subclasses set ``name``, ``cost``, ``reason`` and implement ``measure(record) -> float``
    (raising `kangaroo.video.VideoError` when the video cannot be read). ``drop_above=True``
    drops values > threshold (text, faces, caption repetition); False drops values < threshold
    (static scenes).
    """

    threshold: float
    name: str = "filter"
    cost: int = COST_LIGHT_DECODE
    reason: str = "above_threshold"
    drop_above: bool = True

    def measure(self, record: Record) -> float:
        raise NotImplementedError

    def keeps(self, value: float) -> bool:
        """Whether a record with this measured value is kept."""
        return value <= self.threshold if self.drop_above else value >= self.threshold

    def run(self, records: Iterator[Record], ctx: StepContext) -> Iterator[Record]:
        from kangaroo.video import VideoError

        for record in records:
            try:
                value = float(self.measure(record))
            except VideoError as exc:
                ctx.quarantine(record, f"{type(exc).__name__}: {exc}")
                continue
            set_measure(record, self.name, value)
            ctx.measured(self.name, value)
            if self.keeps(value):
                yield record
            else:
                ctx.drop(record, self.reason, value)


class GlobalStep(Protocol):
    """A step that needs the whole dataset first (category balance).

    The executor runs the steps before it on every shard, calls ``observe(record)`` on every
    record that reached it, gives the list of observations (in any order: a plan must not depend
    on it) to ``plan`` (a JSON-serialisable decision, saved so that a resumed run reuses it), then
    runs ``with_plan(plan)`` — an ordinary `Step` — and the steps after it on every shard.

    An observation is whatever the plan needs per record, JSON-serialisable (executors may write
    observations to disk or send them between processes): a step that only counts returns
    ``key(record)`` (the default below), category balance returns ``[category, record id]`` so
    that its plan can rank records across shards.
    """

    name: str
    cost: int

    def key(self, record: Record) -> str:
        """The group a record belongs to (its category)."""
        ...

    def observe(self, record: Record) -> Any:
        """What ``plan`` needs to know about one record (default: its ``key``)."""
        return self.key(record)

    def plan(self, observations: list[Any]) -> dict[str, Any]:
        """The decision for the whole dataset, from the observations of every record."""
        ...

    def with_plan(self, plan: dict[str, Any]) -> Step:
        """The per-record step applying ``plan``."""
        ...
