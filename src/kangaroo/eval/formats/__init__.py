"""Readers of each benchmark's official annotation files: ``formats/<name>.py`` defines
``read(data_dir, options, subtitles) -> Iterator[EvalSample]`` and
``annotation_files(data_dir, options) -> list[Path]`` (the files whose presence shows that a folder
holds the benchmark; `find_data_root` uses them), unless its ``GENERATES_DATA`` is true.

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
from types import ModuleType
from typing import Any

from kangaroo.eval.samples import EvalSample

Reader = Callable[[Path, dict[str, Any], bool], Iterator[EvalSample]]


class BenchmarkDataError(ValueError):
    """A benchmark's annotation files are missing or malformed (the message names file and row)."""


def _format_module(name: str) -> ModuleType:
    """``kangaroo.eval.formats.<name>``; BenchmarkDataError when there is no such format."""
    if not name.isidentifier():
        raise BenchmarkDataError(f"unknown data format {name!r}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise BenchmarkDataError(f"unknown data format {name!r}") from None
        raise


def get_reader(name: str) -> Reader:
    """The ``read`` function of ``kangaroo.eval.formats.<name>`` (a module whose
    ``GENERATES_DATA`` is true makes its data itself). Raises BenchmarkDataError when unknown."""
    return _format_module(name).read


SEARCH_DEPTH = 2  # folder levels below --data-dir searched for a benchmark's annotations


def find_data_root(format_name: str, data_dir: str | os.PathLike[str], options: dict[str, Any]) -> Path:
    """The folder that holds a benchmark's annotation files, given the folder a user named.

    That is ``data_dir`` itself when it holds them (an official download root); else the one folder
    up to `SEARCH_DEPTH` levels below it that does (a parent folder of several benchmarks, or a
    download whose files sit one level down, as MLVU's ``MLVU/``); hidden folders are skipped. A
    format that generates its data uses ``data_dir``. The folder is never guessed from a name.

    Raises `BenchmarkDataError` when ``data_dir`` does not exist, or when no folder or several
    folders hold the annotations (the message names them).
    """
    root = Path(data_dir).expanduser()
    module = _format_module(format_name)
    if getattr(module, "GENERATES_DATA", False):
        return root
    if not root.is_dir():
        raise BenchmarkDataError(f"{root}: no such data directory (download the benchmark there first)")

    def holds(folder: Path) -> bool:
        return any(path.is_file() for path in module.annotation_files(folder, options))

    if holds(root):
        return root
    found = [folder for folder in _folders_below(root, SEARCH_DEPTH) if holds(folder)]
    if len(found) == 1:
        return found[0]
    if found:
        raise BenchmarkDataError(f"{root}: several folders hold {format_name} annotations "
                                 f"({', '.join(str(f) for f in found)}); name the one to use")
    expected = [os.path.relpath(path, root) for path in module.annotation_files(root, options)]
    shown = " or ".join(expected[:2]) + (f" or {len(expected) - 2} more" if len(expected) > 2 else "")
    raise BenchmarkDataError(f"{root}: no {format_name} annotations ({shown}) in it or in the folders up to "
                             f"{SEARCH_DEPTH} levels below it")


def _folders_below(root: Path, depth: int) -> list[Path]:
    """The non-hidden folders 1 to ``depth`` levels below ``root``, breadth first, sorted by name."""
    found, level = [], [root]
    for _ in range(depth):
        level = [child for folder in level for child in _subfolders(folder)]
        found.extend(level)
    return found


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))
    except OSError:  # unreadable: nothing to find there
        return []


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
