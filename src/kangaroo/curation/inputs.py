"""The records a curation run starts from: every video under a folder, or a manifest.

A folder gives one record per video file (recursively, sorted), ``id`` = the path relative to
the folder, and, with ``category_from: folder``, the category = the first sub-folder's name
(``cooking/v001.mp4`` -> ``cooking``). A manifest is a JSONL file of records (``video`` relative
to the manifest's folder or absolute, optional ``id``, ``start``, ``end``, ``meta.category``) or a
plain text file with one video path per line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv",
                            ".wmv", ".gif"})


class InputError(ValueError):
    """The input folder or manifest is missing, empty or malformed."""


def read_inputs(source: str | os.PathLike[str], category_from: str = "folder") -> list[dict[str, Any]]:
    """Input records, sorted by id (so shards are the same on every run). Raises `InputError`."""
    path = Path(source).expanduser()
    if path.is_dir():
        records = _from_folder(path, category_from)
    elif path.is_file():
        records = _from_manifest(path)
    else:
        raise InputError(f"{path}: no such folder or manifest")
    if not records:
        raise InputError(f"{path}: no videos found (suffixes: {', '.join(sorted(VIDEO_SUFFIXES))})")
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"{path}: the id {duplicate!r} appears twice")
    return sorted(records, key=lambda r: r["id"])


def _from_folder(root: Path, category_from: str) -> list[dict[str, Any]]:
    records = []
    for file in sorted(root.rglob("*")):
        if file.suffix.lower() not in VIDEO_SUFFIXES or not file.is_file() or file.name.startswith("."):
            continue
        relative = file.relative_to(root).as_posix()
        meta: dict[str, Any] = {"source": relative}
        if category_from == "folder" and "/" in relative:
            meta["category"] = relative.split("/", 1)[0]
        records.append({"id": relative, "video": str(file.resolve()), "meta": meta})
    return records


def _from_manifest(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    base = path.parent
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{path}:{number}: not valid JSON ({exc})") from None
            if not isinstance(item, dict) or not isinstance(item.get("video"), str):
                raise InputError(f"{path}:{number}: a manifest record needs a 'video' path")
        else:
            item = {"video": line}
        video = Path(item["video"]).expanduser()
        video = video if video.is_absolute() else base / video
        record = dict(item, video=str(video.resolve()), id=str(item.get("id", item["video"])))
        record["meta"] = {"source": item["video"], **dict(item.get("meta") or {})}
        records.append(record)
    return records
