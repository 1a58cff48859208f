"""Generate a whole synthetic dataset: videos, ground-truth scenes and a JSONL of records.

``generate_dataset("mcq_count", 1000, seed=7, out_dir="data/synth", split="val", workers=2)``
(``world=WorldOptions(...)`` for other sizes, languages, durations, ...) writes::

    data/synth/mcq_count_val.jsonl        # one record per line, in index order
    data/synth/videos/<id>.mp4            # (.png for image_caption)
    data/synth/scenes/<id>.json           # the ground truth each record was derived from

Deterministic: record ``i`` depends only on ``(task, seed, split, i)`` and the options, never on
``workers``, so the same call writes the same bytes. Resumable: records stream to a hidden
``.{task}_{split}.jsonl.partial`` file as they finish (in order); a call with the same arguments
after an interruption keeps what is there and goes on; the JSONL appears (atomically) only when
every record is done.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from .options import DEFAULT_WORLD, WorldOptions
from .splits import normalise_split, record_seed
from .tasks import generate, get_task, record_id

ProgressCallback = Callable[[int, int], None]


def dataset_path(out_dir: str | os.PathLike[str], task: str, split: str) -> Path:
    """``out_dir/{task}_{split}.jsonl``."""
    return Path(out_dir) / f"{task}_{normalise_split(split)}.jsonl"


def generate_dataset(
    task: str,
    num: int,
    seed: int,
    out_dir: str | os.PathLike[str],
    split: str = "train",
    *,
    world: WorldOptions = DEFAULT_WORLD,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    resume: bool = True,
) -> Path:
    """Write ``num`` records of ``task`` (and their videos and scenes) under ``out_dir``; return
    the JSONL's path.

    Record ``i`` uses the seed ``record_seed(seed, split, i)``; ``world`` is how every scene looks
    (`WorldOptions`). ``workers > 1`` runs a process pool (results stay in index order).
    ``progress(done, total)`` is called after each record. ``resume``: keep the records a previous
    interrupted call with the same arguments finished. Raises ValueError for bad arguments (before
    anything is written) and `kangaroo.data.records.RecordError` if a record does not fit the
    schema.
    """
    from kangaroo.data.records import write_records
    from kangaroo.io import atomic_write_jsonl, atomic_write_text, flush_to_disk

    spec = get_task(task)
    split = normalise_split(split)
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    record_seed(seed, split, num - 1)  # checks the seed and index ranges
    # fail fast on options the task cannot be made with, with nothing written
    generate(spec.name, None, 0, split, out_dir, seed=seed, world=world, write=False)

    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = dataset_path(root, spec.name, split)
    partial_path = root / f".{final.name}.partial"
    params_path = root / f".{final.name}.params.json"
    params = json.dumps({"task": spec.name, "split": split, "seed": seed, **world.to_dict()}, sort_keys=True)

    records: list[dict[str, Any]] = []
    if resume and partial_path.exists() and params_path.exists() and params_path.read_text("utf-8") == params:
        records = _finished_records(partial_path, spec.name, split, seed, num)
    atomic_write_jsonl(partial_path, records)  # the finished records; the rest are appended
    atomic_write_text(params_path, params)
    with partial_path.open("a", encoding="utf-8", newline="\n") as out:
        done = len(records)
        if progress is not None:
            progress(done, num)
        for record in _run(spec.name, range(done, num), split, root, seed, world, workers):
            records.append(record)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            flush_to_disk(out)
            done += 1
            if progress is not None:
                progress(done, num)
    write_records(final, records)
    partial_path.unlink(missing_ok=True)
    params_path.unlink(missing_ok=True)
    return final


def _finished_records(path: Path, task: str, split: str, seed: int, num: int) -> list[dict[str, Any]]:
    """The leading records of a partial file that are whole and in order (a torn last line and
    anything after a mismatch are dropped)."""
    kept: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n") or len(kept) >= num:
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if not isinstance(record, dict) or record.get("id") != record_id(task, split, seed, len(kept)):
                break
            kept.append(record)
    return kept


def _run(task: str, indices: range, split: str, root: Path, seed: int, world: WorldOptions,
         workers: int) -> Iterator[dict[str, Any]]:
    job = partial(_one, task, split=split, out_dir=str(root), seed=seed, world=world)
    if workers == 1 or len(indices) <= 1:
        yield from map(job, indices)
        return
    # fork on Linux: quick to start, and it never re-imports the caller's __main__ (which
    # ``python -m kangaroo.cli`` and scripts without a main guard would run again under spawn).
    # The workers only render and encode; they touch no locks of the parent's threads.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    chunksize = max(1, min(16, len(indices) // (workers * 8)))
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        yield from pool.map(job, indices, chunksize=chunksize)
    except BaseException:  # an error, Ctrl+C or the caller stopping: drop the queued work
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _one(task: str, index: int, *, split: str, out_dir: str, seed: int, world: WorldOptions) -> dict[str, Any]:
    return generate(task, None, index, split, out_dir, seed=seed, world=world)
