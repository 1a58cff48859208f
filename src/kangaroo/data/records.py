"""The record schema shared by training and evaluation, and JSON-lines reading and writing.

A record (one line of a JSONL file)::

    {"id": "clip-0001",
     "video": "videos/clip-0001.mp4",            # or "videos": [...], or neither (text only)
     "start": 12.0, "end": 48.5,                  # optional clip bounds, seconds
     "subtitles": "subs/clip-0001.srt",           # optional, relative to the root
     "messages": [
         {"role": "system", "content": "Answer briefly."},
         {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]},
         {"role": "assistant", "content": "A kangaroo jumps."}],
     "meta": {"task": "caption", "language": "en", "split": "train", "source": "llava"}}

Paths are relative to a root folder (given when the records are used). Each video part
(``{"type": "video"}``, or its alias ``{"type": "image"}``) takes the next video, in order.
`Record.from_dict` checks the types (`schema_problems`); the rules between fields (video counts,
role order, placeholders in text, clip bounds) and the files are checked by
`kangaroo.data.validate`. This module imports no torch.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kangaroo.io import atomic_write_text

ROLES = ("system", "user", "assistant")
LANGUAGES = ("en", "zh", "mixed")
VIDEO_PART_TYPES = ("video", "image")
TEXT_PART_TYPE = "text"
RECORD_FIELDS = ("id", "video", "videos", "start", "end", "subtitles", "messages", "meta")
# meta keys with a fixed meaning (others are free): name -> what it holds
META_FIELDS = {
    "task": "task name (str)",
    "language": "one of en, zh, mixed",
    "answer": "the ground-truth answer (any JSON value)",
    "options": "option texts of a multiple-choice question (list of str)",
    "times": "ground-truth times in seconds (list of numbers or [start, end] pairs)",
    "split": "train, val, test, ... (str)",
    "source": "where the record comes from (str)",
}


class RecordError(ValueError):
    """A record (or a line of a records file) does not fit the schema."""


@dataclass
class Record:
    """One training or evaluation example. ``to_dict()`` / ``from_dict()`` round-trip exactly.

    Fields: ``id`` (unique in a file), ``messages`` (HF-style dicts; content is a string or a list
    of ``{"type": "text", "text": ...}`` / ``{"type": "video"}`` parts), ``video`` (one path) or
    ``videos`` (a list; never both), ``start`` / ``end`` (clip bounds, seconds), ``subtitles``
    (path) and ``meta`` (free dict; see `META_FIELDS`).
    """

    id: str
    messages: list[dict[str, Any]]
    video: str | None = None
    videos: list[str] | None = None
    start: float | None = None
    end: float | None = None
    subtitles: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def video_list(self) -> list[str]:
        """The record's video paths in part order (``[video]``, ``videos`` or ``[]``)."""
        if self.videos is not None:
            return list(self.videos)
        return [self.video] if self.video is not None else []

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in schema order; unset fields and an empty ``meta`` are left out."""
        out: dict[str, Any] = {"id": self.id}
        if self.video is not None:
            out["video"] = self.video
        if self.videos is not None:
            out["videos"] = list(self.videos)
        for name in ("start", "end", "subtitles"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out["messages"] = copy.deepcopy(self.messages)
        if self.meta:
            out["meta"] = copy.deepcopy(self.meta)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Build a record from its JSON object (deep-copied). Raises `RecordError` naming every
        field that does not fit the schema (`schema_problems`)."""
        problems = schema_problems(data)
        if problems:
            name = data.get("id") if isinstance(data, Mapping) else None
            where = f"record {name!r}" if isinstance(name, str) else "record"
            raise RecordError(f"{where}: " + "; ".join(message for _, message in problems))
        return cls(
            id=data["id"],
            messages=copy.deepcopy(list(data["messages"])),
            video=data.get("video"),
            videos=list(data["videos"]) if data.get("videos") is not None else None,
            start=data.get("start"),
            end=data.get("end"),
            subtitles=data.get("subtitles"),
            meta=copy.deepcopy(dict(data.get("meta") or {})),
        )

    def to_json(self) -> str:
        """One JSON line (UTF-8 text, no newline). Raises `ValueError` for NaN or infinity."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def schema_problems(data: object) -> list[tuple[str, str]]:
    """Every way ``data`` breaks the record types, as ``(code, message)`` pairs; ``[]`` when it fits.

    Codes: ``not-an-object``, ``missing-field``, ``unknown-field``, ``invalid-field``. Rules
    between fields (video counts, role order, ...) are `kangaroo.data.validate`'s.
    """
    if not isinstance(data, Mapping):
        return [("not-an-object", f"a record is a JSON object, got {type(data).__name__}")]
    problems: list[tuple[str, str]] = []

    def bad(message: str) -> None:
        problems.append(("invalid-field", message))

    for name in ("id", "messages"):
        if name not in data:
            problems.append(("missing-field", f"missing field {name!r}"))
    unknown = [key for key in data if key not in RECORD_FIELDS]
    if unknown:
        problems.append(
            ("unknown-field", f"unknown field(s) {', '.join(map(repr, unknown))}; put extra data in 'meta'")
        )
    if "id" in data and (not isinstance(data["id"], str) or not data["id"].strip()):
        bad(f"'id' must be a non-empty string, got {data['id']!r}")
    video, videos = data.get("video"), data.get("videos")
    if video is not None and videos is not None:
        bad("give 'video' or 'videos', not both")
    if "video" in data and (not isinstance(video, str) or not video):
        bad(f"'video' must be a non-empty path string, got {video!r}")
    if "videos" in data and (
        not isinstance(videos, list) or not videos or not all(isinstance(v, str) and v for v in videos)
    ):
        bad(f"'videos' must be a non-empty list of path strings, got {videos!r}")
    for name in ("start", "end"):
        if name in data and not _is_number(data[name]):
            bad(f"{name!r} must be a finite number of seconds, got {data[name]!r}")
    if "subtitles" in data and (not isinstance(data["subtitles"], str) or not data["subtitles"]):
        bad(f"'subtitles' must be a non-empty path string, got {data['subtitles']!r}")
    if "messages" in data:
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            bad("'messages' must be a non-empty list")
        else:
            for i, message in enumerate(messages):
                _message_problems(message, f"messages[{i}]", bad)
    if "meta" in data:
        _meta_problems(data["meta"], bad)
    return problems


def _message_problems(message: object, where: str, bad: Any) -> None:
    if not isinstance(message, Mapping):
        bad(f"{where} must be an object with 'role' and 'content'")
        return
    extra = [key for key in message if key not in ("role", "content")]
    if extra:
        bad(f"{where} has unknown key(s) {', '.join(map(repr, extra))}")
    role = message.get("role")
    if role not in ROLES:
        bad(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
    if "content" not in message:
        bad(f"{where} has no 'content'")
        return
    content = message["content"]
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        bad(f"{where}.content must be a string or a list of parts, got {type(content).__name__}")
        return
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == TEXT_PART_TYPE:
            if not isinstance(part.get("text"), str):
                bad(f"{at}.text must be a string")
            elif set(part) != {"type", "text"}:
                bad(f"{at}: a text part has only 'type' and 'text'")
        elif kind in VIDEO_PART_TYPES:
            if set(part) != {"type"}:
                bad(f"{at}: a video part has only 'type' (the video comes from 'video'/'videos')")
        else:
            bad(f"{at} must be {{'type': 'text', 'text': ...}} or {{'type': 'video'}}, got {part!r}")


def _meta_problems(meta: object, bad: Any) -> None:
    if not isinstance(meta, Mapping):
        bad(f"'meta' must be an object, got {type(meta).__name__}")
        return
    for name in ("task", "split", "source"):
        if name in meta and not isinstance(meta[name], str):
            bad(f"meta.{name} must be a string, got {meta[name]!r}")
    if "language" in meta and meta["language"] not in LANGUAGES:
        bad(f"meta.language must be one of {', '.join(LANGUAGES)}, got {meta['language']!r}")
    options = meta.get("options")
    if "options" in meta and (not isinstance(options, list) or not all(isinstance(o, str) for o in options)):
        bad(f"meta.options must be a list of option texts, got {options!r}")
    times = meta.get("times")
    if "times" in meta and (
        not isinstance(times, list)
        or not all(
            _is_number(t) or (isinstance(t, list) and len(t) == 2 and all(map(_is_number, t))) for t in times
        )
    ):
        bad(f"meta.times must be a list of seconds or of [start, end] pairs, got {times!r}")


def count_video_parts(record: Record | Mapping[str, Any]) -> int:
    """How many video parts (``{"type": "video"}`` or ``"image"``) the messages hold, all turns."""
    messages = record.messages if isinstance(record, Record) else record.get("messages")
    count = 0
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            count += sum(1 for part in content if isinstance(part, Mapping) and part.get("type") in VIDEO_PART_TYPES)
    return count


def video_paths(record: Record, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The record's videos as paths under ``root`` (as written when ``root`` is None), in part order."""
    base = Path(root) if root is not None else None
    return [base / name if base is not None else Path(name) for name in record.video_list]


def iter_json_values(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any, str | None]]:
    """``(line, value, error)`` for each record of a JSONL file or of a JSON list.

    ``line`` is 1-based (for a JSON list: the line where the element starts); blank lines are
    skipped. On a line that does not parse, ``value`` is None and ``error`` says why; a JSON list
    that does not parse ends with one such entry. Raises `OSError` when the file cannot be read.
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        yield from _iter_json_list(path)
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
                continue
            try:
                yield number, json.loads(text), None
            except json.JSONDecodeError as exc:
                yield number, None, f"invalid JSON: {exc.msg} (column {exc.colno})"


def _iter_json_list(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield 1, None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
        return
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0) + 1  # after "["
    pos = _skip_space(text, pos)
    if pos < len(text) and text[pos] == "]":
        pos = _skip_space(text, pos + 1)
        if pos < len(text):
            yield text.count("\n", 0, pos) + 1, None, "invalid JSON: extra data after the list"
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield exc.lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno}); the rest of the list is not read"
            return
        yield line, value, None
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            pos = _skip_space(text, pos + 1)
            if pos < len(text):
                yield text.count("\n", 0, pos) + 1, None, "invalid JSON: extra data after the list"
            return
        where = text.count("\n", 0, pos) + 1
        yield where, None, "invalid JSON: expected ',' or ']' in the list; the rest of the list is not read"
        return


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def read_records(path: str | os.PathLike[str]) -> Iterator[Record]:
    """The records of a JSONL file (or a JSON list), in order.

    Raises `RecordError` (``path:line: ...``) at the first line that does not parse, does not
    fit the schema, or repeats an id; `OSError` when the file cannot be read. Use
    `kangaroo.data.validate.validate_records` to see every problem at once.
    """
    seen: dict[str, int] = {}
    for line, value, error in iter_json_values(path):
        if error is not None:
            raise RecordError(f"{path}:{line}: {error}")
        try:
            record = Record.from_dict(value)
        except RecordError as exc:
            raise RecordError(f"{path}:{line}: {exc}") from None
        if record.id in seen:
            raise RecordError(f"{path}:{line}: duplicate id {record.id!r} (first on line {seen[record.id]})")
        seen[record.id] = line
        yield record


def write_records(path: str | os.PathLike[str], records: Iterable[Record | Mapping[str, Any]]) -> int:
    """Write records as JSON lines (atomically: `kangaroo.io.atomic_write_text`); returns the count.

    Dicts are checked with `Record.from_dict`. Raises `RecordError` for a record that does not fit
    the schema or repeats an id, `ValueError` for NaN or infinity; nothing is written then.
    """
    count = 0
    seen: set[str] = set()

    def lines() -> Iterator[str]:
        nonlocal count
        for item in records:
            record = Record.from_dict(item.to_dict() if isinstance(item, Record) else item)
            if record.id in seen:
                raise RecordError(f"duplicate id {record.id!r}: ids are unique in a file")
            seen.add(record.id)
            count += 1
            yield record.to_json() + "\n"

    atomic_write_text(path, lines())
    return count
