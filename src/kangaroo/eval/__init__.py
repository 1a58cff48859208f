"""Evaluation harness: the paper's benchmarks and the procedural world's test splits, for any
model the project can load or reach over HTTP (see docs/eval.md).

    from kangaroo.eval import extract_choice, load_task, run_task
    from kangaroo.eval.backends.kangaroo import KangarooBackend

    metrics = run_task(KangarooBackend("runs/tiny/final"), load_task("synth_mcq"), "eval-data", "eval-out")

Importing this package does not import torch (the backends and runner do when used).
"""

from .extraction import extract_choice, extract_seconds, strict_choice
from .keywords import keyword_recall
from .samples import EvalSample
from .task import TaskConfig, TaskConfigError, builtin_tasks, load_task

__all__ = [
    "EvalSample",
    "TaskConfig",
    "TaskConfigError",
    "builtin_tasks",
    "extract_choice",
    "extract_seconds",
    "keyword_recall",
    "load_task",
    "run_task",
    "strict_choice",
]


def __getattr__(name: str):  # run_task imports the backends' protocol (numpy) only when asked for
    if name == "run_task":
        from .runner import run_task

        return run_task
    raise AttributeError(name)
