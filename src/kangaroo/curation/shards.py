"""Run a list of steps over one shard of records and commit its results atomically.

A shard's results are three files in its phase folder: ``shard-NNNNN.kept.jsonl``,
``shard-NNNNN.excluded.jsonl`` and ``shard-NNNNN.stats.json``. The first two are written to
temporary names and renamed; the stats file is renamed into place last and is the shard's
completion marker: a shard without it is run again from the start (its partial files are
replaced), one with it is never run again. `process_shard` is a plain function of plain data,
so the local executor's processes and Ray's workers run it alike.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kangaroo.io import atomic_write_json, atomic_write_jsonl

from .steps.base import Record

UNDECODABLE = "undecodable"


@dataclass
class ShardTask:
    """What a worker needs: which steps (as data), which records, where to write."""

    phase: int
    index: int
    steps: list[dict[str, Any]]  # [{"step": name, **options}], already in run order
    plans: dict[str, dict[str, Any]]  # step name -> plan, for global steps
    input_path: str  # a JSONL file of records
    folder: str  # the phase folder

    @property
    def stem(self) -> str:
        return f"shard-{self.index:05d}"


def stats_path(folder: str | os.PathLike[str], index: int) -> Path:
    """The completion marker (and statistics) of shard ``index``."""
    return Path(folder) / f"shard-{index:05d}.stats.json"


@dataclass
class ShardContext:
    """Collects what the steps report: drops, quarantines, measured values."""

    excluded: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    quarantined: Counter = field(default_factory=Counter)
    measures: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def bound(self, step: str) -> _BoundContext:
        return _BoundContext(self, step)


@dataclass
class _BoundContext:
    """`StepContext` for one step (so drops carry the step's name)."""

    shard: ShardContext
    step: str

    def drop(self, record: Record, reason: str, value: float | None = None, detail: str = "") -> None:
        self.shard.dropped[self.step][reason] += 1
        self.shard.excluded.append(exclusion(record, self.step, reason, value, detail))

    def quarantine(self, record: Record, error: str) -> None:
        self.shard.quarantined[self.step] += 1
        self.shard.excluded.append(exclusion(record, self.step, UNDECODABLE, None, error))

    def measured(self, name: str, value: float) -> None:
        self.shard.measures[name].append(float(value))


def exclusion(record: Record, step: str, reason: str, value: float | None, detail: str) -> dict[str, Any]:
    """One line of the exclusion file: the record and why it left."""
    return {"id": record.get("id"), "step": step, "reason": reason, "value": value, "detail": detail,
            "record": record}


def _counted(records: Iterable[Record], counter: Counter, key: str) -> Iterator[Record]:
    for record in records:
        counter[key] += 1
        yield record


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All lines of a JSONL file (empty when the file does not exist)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def process_shard(task: ShardTask) -> dict[str, Any]:
    """Run ``task.steps`` over the shard's records; commit kept, excluded and stats. Returns the stats."""
    from .pipeline import StepSpec, build_step, is_global

    started = time.monotonic()
    records = read_jsonl(task.input_path)
    ctx = ShardContext()
    ins: Counter = Counter()
    outs: Counter = Counter()
    stream: Iterable[Record] = iter(records)
    names = []
    for item in task.steps:
        spec = StepSpec(item["step"], {k: v for k, v in item.items() if k != "step"})
        step = build_step(spec)
        if is_global(step):
            step = step.with_plan(task.plans[spec.step])
        names.append(spec.step)
        stream = _counted(step.run(_counted(stream, ins, spec.step), ctx.bound(spec.step)), outs, spec.step)
    kept = list(stream)

    folder = Path(task.folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(folder / f"{task.stem}.kept.jsonl", kept)
    atomic_write_jsonl(folder / f"{task.stem}.excluded.jsonl", ctx.excluded)
    stats = {
        "phase": task.phase, "shard": task.index, "inputs": len(records), "kept": len(kept),
        "excluded": len(ctx.excluded), "quarantined": sum(ctx.quarantined.values()),
        "steps": {name: {"in": ins[name], "out": outs[name], "dropped": dict(ctx.dropped[name]),
                         "quarantined": ctx.quarantined[name]} for name in names},
        "measures": dict(ctx.measures), "seconds": round(time.monotonic() - started, 3),
    }
    atomic_write_json(stats_path(folder, task.index), stats, indent=1)  # last: the completion marker
    return stats
