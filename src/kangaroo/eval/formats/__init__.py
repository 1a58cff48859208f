"""Readers of each benchmark's official annotation files: ``formats/<name>.py`` defines
``read(data_dir, options, subtitles) -> Iterator[EvalSample]``.

``data_dir`` is the folder the user downloaded the benchmark into (nothing is ever fetched);
``options`` is the task's ``data`` mapping (file and folder names under ``data_dir``, which a
user can override in their own task YAML); ``subtitles`` asks the reader to attach each video's
subtitles. A reader raises `BenchmarkDataError` when the annotations are missing or malformed
(naming the file and the row), and marks a sample whose video is missing with ``error`` so the
run records it and carries on.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.samples import EvalSample

Reader = Callable[[Path, dict[str, Any], bool], Iterator[EvalSample]]


class BenchmarkDataError(ValueError):
    """A benchmark's annotation files are missing or malformed (the message names file and row)."""


def get_reader(name: str) -> Reader:
    """The ``read`` function of ``kangaroo.eval.formats.<name>`` (a module whose
    ``GENERATES_DATA`` is true makes its data itself). Raises BenchmarkDataError when unknown."""
    if not name.isidentifier():
        raise BenchmarkDataError(f"unknown data format {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise BenchmarkDataError(f"unknown data format {name!r}") from None
        raise
    return module.read


def read_samples(format_name: str, data_dir: str | os.PathLike[str], options: dict[str, Any],
                 subtitles: bool = False) -> list[EvalSample]:
    """All samples of a benchmark, in file order; ids must be unique.

    Raises `BenchmarkDataError` when ``data_dir`` does not exist, the annotations are malformed,
    or two samples share an id.
    """
    root = Path(data_dir).expanduser()
    reader = get_reader(format_name)
    if getattr(sys.modules[reader.__module__], "GENERATES_DATA", False):
        root.mkdir(parents=True, exist_ok=True)
    if not root.is_dir():
        raise BenchmarkDataError(f"{root}: no such data directory (download the benchmark there first)")
    samples = list(reader(root, options, subtitles))
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise BenchmarkDataError(f"{root}: two samples have the id {sample.id!r}")
        seen.add(sample.id)
    return samples


def data_path(root: Path, options: dict[str, Any], key: str, default: str) -> Path:
    """``root / options.get(key, default)``: a file or folder named by the task's ``data`` mapping."""
    return root / str(options.get(key, default))


def load_json(path: Path) -> Any:
    """Parsed JSON; BenchmarkDataError when the file is missing or not JSON."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchmarkDataError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BenchmarkDataError(f"{path}: not valid JSON ({exc})") from None
