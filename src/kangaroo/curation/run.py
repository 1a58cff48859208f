"""A whole curation run: shard the inputs, run the phases, merge, report. Resumable and lossless.

Output folder::

    pipeline.json                 the pipeline as run (a rerun must match it)
    inputs/shard-NNNNN.jsonl      the input records of each shard (fixed on the first run)
    phase-1/shard-NNNNN.{kept.jsonl,excluded.jsonl,stats.json}
    plans/<step>.json             a global step's decision (category balance), made once
    phase-2/...                   the steps after a global step, shard by shard
    kept.jsonl                    every record that passed every step
    excluded.jsonl                every record that left: {id, step, reason, value, detail, record}
    stats.json                    the funnel, per step and reason, and the measured values
    report.md, report/*.png       the data report

A pipeline with a global step runs in two phases: the steps before it on every shard, then the
plan (from everything that reached it), then the rest on every shard. A shard is committed
atomically with its stats file as completion marker; a rerun skips committed shards, so a run
killed at any moment and restarted ends with every record in ``kept.jsonl`` or
``excluded.jsonl`` exactly once. Undecodable videos are quarantined (excluded with reason
``undecodable``); the run stops when they exceed ``error_budget`` of the inputs.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kangaroo.io import atomic_write_json, atomic_write_jsonl, atomic_write_text

from .executors import Executor
from .inputs import read_inputs
from .pipeline import Pipeline, StepSpec, build_step, is_global
from .shards import ShardTask, read_jsonl, stats_path

ProgressCallback = Callable[[str, int, int], None]  # (phase label, shards done, shards total)


class CurationError(RuntimeError):
    """The run cannot go on: too many undecodable videos, or the output folder holds another run."""


def curate(pipeline: Pipeline, source: str | Path, output: str | Path, executor: Executor,
           progress: ProgressCallback | None = None, report: bool = True) -> dict[str, Any]:
    """Run ``pipeline`` over the videos of ``source`` into ``output``; returns the merged stats.

    Raises `CurationError` (error budget exceeded, another pipeline in ``output``) and
    `InputError` (no inputs).
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    _claim(out, pipeline, str(source))
    shard_count = _write_input_shards(out, pipeline, source)
    total_inputs = sum(len(read_jsonl(p)) for p in sorted((out / "inputs").glob("shard-*.jsonl")))
    max_errors = math.floor(pipeline.error_budget * total_inputs)

    phases = _phases(pipeline)
    plans: dict[str, dict[str, Any]] = {}
    previous = out / "inputs"
    errors = 0
    for number, (global_step, steps) in enumerate(phases, start=1):
        if global_step is not None:
            plans[global_step.step] = _plan(out, global_step, previous, shard_count)
        folder = out / f"phase-{number}"
        specs = [{"step": s.step, **s.options} for s in steps]
        tasks = [ShardTask(number, i, specs, plans, str(_shard_input(previous, i)), str(folder))
                 for i in range(shard_count)]
        errors += _run_phase(executor, tasks, f"phase {number}/{len(phases)}", progress, errors, max_errors)
        previous = folder
    stats = _merge(out, len(phases), shard_count, pipeline, total_inputs)
    if report:
        from .report import write_report

        write_report(out, pipeline)
    return stats


def _claim(out: Path, pipeline: Pipeline, source: str) -> None:
    """Record the pipeline, or check that a rerun uses the same one and the same input."""
    path = out / "pipeline.json"
    current = {"pipeline": pipeline.to_dict(), "input": str(Path(source).expanduser().resolve())}
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous != current:
            raise CurationError(f"{out} holds a run of another pipeline or input; use another --output, "
                                "or delete the folder to start over")
        return
    atomic_write_json(path, current, indent=1)


def _write_input_shards(out: Path, pipeline: Pipeline, source: str | Path) -> int:
    folder = out / "inputs"
    marker = folder / "COMPLETE"
    if marker.exists():
        return int(marker.read_text())
    records = read_inputs(source, pipeline.category_from)
    folder.mkdir(exist_ok=True)
    count = math.ceil(len(records) / pipeline.shard_size)
    for i in range(count):
        atomic_write_jsonl(folder / f"shard-{i:05d}.jsonl", records[i * pipeline.shard_size:(i + 1) * pipeline.shard_size])
    atomic_write_text(marker, str(count))
    return count


def _phases(pipeline: Pipeline) -> list[tuple[StepSpec | None, list[StepSpec]]]:
    """``[(global step or None, steps of the phase)]``: a global step opens a new phase."""
    phases: list[tuple[StepSpec | None, list[StepSpec]]] = [(None, [])]
    for spec in pipeline.steps:
        if is_global(build_step(spec)):
            phases.append((spec, [spec]))
        else:
            phases[-1][1].append(spec)
    return [p for p in phases if p[1]]


def _shard_input(previous: Path, index: int) -> Path:
    if previous.name == "inputs":
        return previous / f"shard-{index:05d}.jsonl"
    return previous / f"shard-{index:05d}.kept.jsonl"


def _plan(out: Path, spec: StepSpec, previous: Path, shard_count: int) -> dict[str, Any]:
    """A global step's plan from every record that reached it; saved once, reused on reruns."""
    path = out / "plans" / f"{spec.step}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    step = build_step(spec)
    observations = [step.observe(r) for i in range(shard_count) for r in read_jsonl(_shard_input(previous, i))]
    plan = step.plan(observations)
    path.parent.mkdir(exist_ok=True)
    atomic_write_json(path, plan, indent=1)
    return plan


def _run_phase(executor: Executor, tasks: list[ShardTask], label: str, progress: ProgressCallback | None,
               errors_before: int, max_errors: int) -> int:
    """Run the phase's unfinished shards; returns the undecodable count of this phase."""
    done = [t for t in tasks if stats_path(t.folder, t.index).exists()]
    errors = errors_before + sum(_stats(t)["quarantined"] for t in done)
    todo = [t for t in tasks if t not in done]
    finished = len(done)
    if progress is not None:
        progress(label, finished, len(tasks))
    for _task, stats in executor.run(todo):
        finished += 1
        errors += stats["quarantined"]
        if progress is not None:
            progress(label, finished, len(tasks))
        if errors > max_errors:
            raise CurationError(f"error budget exceeded: {errors} undecodable videos or clips, more than "
                                f"{max_errors} allowed; see excluded records with reason 'undecodable' in "
                                f"{Path(tasks[0].folder)}; fix or remove them and run again (finished shards are kept)")
    return errors - errors_before


def _stats(task: ShardTask) -> dict[str, Any]:
    return json.loads(stats_path(task.folder, task.index).read_text(encoding="utf-8"))


def _merge(out: Path, phase_count: int, shard_count: int, pipeline: Pipeline, total_inputs: int) -> dict[str, Any]:
    """``kept.jsonl``, ``excluded.jsonl`` and ``stats.json`` from every committed shard."""
    last = out / f"phase-{phase_count}"
    kept_count = atomic_write_jsonl(out / "kept.jsonl", (
        row for i in range(shard_count) for row in read_jsonl(last / f"shard-{i:05d}.kept.jsonl")))
    excluded_count = atomic_write_jsonl(out / "excluded.jsonl", (
        row for p in range(1, phase_count + 1) for i in range(shard_count)
        for row in read_jsonl(out / f"phase-{p}" / f"shard-{i:05d}.excluded.jsonl")))
    steps: dict[str, dict[str, Any]] = {}
    measures: dict[str, list[float]] = {}
    seconds = 0.0
    for p in range(1, phase_count + 1):
        for i in range(shard_count):
            shard = json.loads(stats_path(out / f"phase-{p}", i).read_text(encoding="utf-8"))
            seconds += shard["seconds"]
            for name, s in shard["steps"].items():
                merged = steps.setdefault(name, {"in": 0, "out": 0, "dropped": Counter(), "quarantined": 0})
                merged["in"] += s["in"]
                merged["out"] += s["out"]
                merged["dropped"].update(s["dropped"])
                merged["quarantined"] += s["quarantined"]
            for name, values in shard["measures"].items():
                measures.setdefault(name, []).extend(values)
    order = [s.step for s in pipeline.steps]
    stats = {
        "pipeline": pipeline.name, "inputs": total_inputs, "kept": kept_count, "excluded": excluded_count,
        "steps": {n: {**steps[n], "dropped": dict(steps[n]["dropped"])} for n in order if n in steps},
        "categories_kept": dict(Counter(r.get("meta", {}).get("category", "unknown")
                                        for r in read_jsonl(out / "kept.jsonl")).most_common()),
        "worker_seconds": round(seconds, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(out / "stats.json", stats, indent=1)
    atomic_write_json(out / "measures.json", measures, indent=1)
    return stats
