"""Where shards run: in worker processes on this machine, or as Ray tasks on a cluster.

An executor only runs `process_shard` on tasks and hands back each shard's statistics as it
finishes; which shards to run, completion markers and merging belong to `kangaroo.curation.run`,
and what happens to a record belongs to the steps.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any, Protocol

from .shards import ShardTask, process_shard


class Executor(Protocol):
    """Runs shard tasks; yields ``(task, stats)`` as each one finishes (any order)."""

    name: str

    def run(self, tasks: list[ShardTask]) -> Iterator[tuple[ShardTask, dict[str, Any]]]:
        ...

    def close(self) -> None:
        ...


class LocalExecutor:
    """``workers`` processes (spawned: safe beside torch and OpenCV threads); 1 runs in this process."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def run(self, tasks: list[ShardTask]) -> Iterator[tuple[ShardTask, dict[str, Any]]]:
        if self.workers == 1:
            for task in tasks:
                yield task, process_shard(task)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"))
        futures = {self._pool.submit(process_shard, task): task for task in tasks}
        try:
            for future in concurrent.futures.as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Ray tasks, one per shard, on the cluster at ``address`` (``$RAY_ADDRESS``), or on a local
    Ray started here with ``workers`` CPUs when there is none. Needs ``pip install 'kangaroo[ray]'``."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError("the ray executor needs Ray: pip install 'kangaroo[ray]'") from None
        self._ray = ray
        self._started_here = False
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": workers or os.cpu_count()}
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
            self._started_here = True
        self._remote = ray.remote(num_cpus=1, max_retries=2)(process_shard)

    def run(self, tasks: list[ShardTask]) -> Iterator[tuple[ShardTask, dict[str, Any]]]:
        ray = self._ray
        pending = {self._remote.remote(task): task for task in tasks}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    yield pending.pop(ref), ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        if self._started_here:
            self._ray.shutdown()


def make_executor(kind: str, workers: int = 1) -> Executor:
    """``local`` or ``ray``. Raises ValueError for another name."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers)
    raise ValueError(f"unknown executor {kind!r}; choose local or ray")
