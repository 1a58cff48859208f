"""Importers from LLaVA-, VideoChat2- and caption-style annotations, and an exporter to LLaVA.

- **LLaVA / LLaVA-Video** (`from_llava`): ``[{"id", "video" | "image", "conversations":
  [{"from": "human" | "gpt" | "system", "value": "<video>\\nWhat ..."}]}]``. Every ``<video>`` or
  ``<image>`` in a value becomes a ``{"type": "video"}`` part at that place; the text around it is
  kept byte for byte. When an item has a video but no placeholder, the video part goes at the
  start of the first human turn followed by ``"\\n"``, as LLaVA's training code does. A list under
  ``video``/``image`` gives ``videos``. What LLaVA keeps that the schema does not (the ``image``
  key, the ``<image>`` spelling, extra top-level keys) is kept in ``meta["llava"]`` so that
  `export_llava` gives the item back.
- **VideoChat2** (`from_videochat2`): ``[{"video", "QA": [{"i", "q", "a"}]}]``. By default the
  instruction ``i`` of the first QA becomes a system message, as VideoChat2's own training code
  does; a later QA with a different, non-empty ``i`` has it prefixed to its question (``i + "\\n"
  + q``). With ``instruction="prefix"`` every ``i`` is prefixed to its question. Several QAs give
  a multi-turn conversation; the video part opens the first user turn.
- **Captions** (`from_captions`): rows with ``video`` and ``caption`` (CSV with a header, or JSON
  lines) become a user turn (video + ``prompt``, default "Describe the video.") and the caption
  as the assistant's answer. Optional ``id``, ``start``, ``end`` columns fill those fields; other
  columns go to ``meta``.

Ids: a missing id becomes ``{id_prefix}{index}`` (0-based position in the input); a repeated
id gets ``-2``, ``-3``, ... appended, since ids are unique in a records file. Every importer
raises `RecordError` naming the item (its index) for input it cannot convert.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from .records import VIDEO_PART_TYPES, Record, RecordError, iter_json_values

IMPORT_FORMATS = ("llava", "videochat2", "captions")
EXPORT_FORMATS = ("llava",)
DEFAULT_CAPTION_PROMPT = "Describe the video."
LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
LLAVA_SPEAKERS = {"user": "human", "assistant": "gpt", "system": "system"}
_PLACEHOLDER_SPLIT = re.compile(r"(<video>|<image>)")


def _item_error(index: int, item: object, message: str) -> RecordError:
    name = item.get("id") if isinstance(item, Mapping) else None
    label = f"item {index}" + (f" (id {name!r})" if name is not None else "")
    return RecordError(f"{label}: {message}")


class _Ids:
    """Unique ids: ``{prefix}{index}`` when missing, ``-2``, ``-3``, ... appended when repeated."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.seen: set[str] = set()

    def __call__(self, raw: object, index: int) -> str:
        base = str(raw).strip() if raw is not None and str(raw).strip() else f"{self.prefix}{index}"
        name, n = base, 1
        while name in self.seen:
            n += 1
            name = f"{base}-{n}"
        self.seen.add(name)
        return name


def _media(item: Mapping[str, Any], index: int) -> tuple[str | None, str | None, list[str] | None]:
    """``(key, video, videos)`` from an item's ``video`` or ``image`` entry."""
    keys = [key for key in ("video", "image") if item.get(key) not in (None, "", [])]
    if len(keys) > 1:
        raise _item_error(index, item, "has both 'video' and 'image'")
    if not keys:
        return None, None, None
    key = keys[0]
    value = item[key]
    if isinstance(value, str):
        return key, value, None
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return key, None, list(value)
    raise _item_error(index, item, f"{key!r} must be a path or a list of paths, got {value!r}")


def _text_to_parts(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Split ``text`` at ``<video>``/``<image>``: ``(parts, placeholders found in order)``."""
    parts: list[dict[str, Any]] = []
    found: list[str] = []
    for piece in _PLACEHOLDER_SPLIT.split(text):
        if piece in ("<video>", "<image>"):
            parts.append({"type": "video"})
            found.append(piece)
        elif piece:
            parts.append({"type": "text", "text": piece})
    return parts, found


def from_llava(items: Iterable[Mapping[str, Any]], *, id_prefix: str = "llava-", source: str | None = None) -> list[Record]:
    """Records from LLaVA / LLaVA-Video items (see the module docstring). ``source`` sets
    ``meta["source"]``. Raises `RecordError` for an item it cannot convert."""
    ids = _Ids(id_prefix)
    records = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _item_error(index, item, "is not an object")
        conversations = item.get("conversations")
        if not isinstance(conversations, list) or not conversations:
            raise _item_error(index, item, "needs a non-empty 'conversations' list")
        key, video, videos = _media(item, index)
        messages: list[dict[str, Any]] = []
        placeholders: list[str] = []
        for turn_index, turn in enumerate(conversations):
            speaker = turn.get("from") if isinstance(turn, Mapping) else None
            value = turn.get("value") if isinstance(turn, Mapping) else None
            if speaker not in LLAVA_ROLES:
                raise _item_error(index, item, f"conversations[{turn_index}].from must be human, gpt or system, got {speaker!r}")
            if not isinstance(value, str):
                raise _item_error(index, item, f"conversations[{turn_index}].value must be a string")
            parts, found = _text_to_parts(value)
            placeholders += found
            content: str | list[dict[str, Any]] = parts if found else value
            messages.append({"role": LLAVA_ROLES[speaker], "content": content})
        video_count = len(videos) if videos is not None else int(video is not None)
        llava: dict[str, Any] = {}
        if not placeholders and video_count:
            first_user = next((m for m in messages if m["role"] == "user"), None)
            if first_user is None:
                raise _item_error(index, item, "has a video but no human turn to put it in")
            text = first_user["content"]
            first_user["content"] = [{"type": "video"} for _ in range(video_count)]
            first_user["content"].append({"type": "text", "text": "\n" + text})
        elif len(placeholders) != video_count:
            raise _item_error(
                index, item, f"{len(placeholders)} <video>/<image> placeholder(s) but {video_count} video(s)"
            )
        if key == "image":
            llava["media_key"] = "image"
        spelled = set(placeholders)
        if spelled == {"<image>"}:
            llava["placeholder"] = "<image>"
        elif len(spelled) > 1:
            llava["placeholders"] = placeholders
        extra = {k: v for k, v in item.items() if k not in ("id", "video", "image", "conversations")}
        if extra:
            llava["extra"] = extra
        meta: dict[str, Any] = {}
        if source is not None:
            meta["source"] = source
        if llava:
            meta["llava"] = llava
        data: dict[str, Any] = {"id": ids(item.get("id"), index), "messages": messages, "meta": meta}
        if video is not None:
            data["video"] = video
        if videos is not None:
            data["videos"] = videos
        records.append(_checked(data, index, item))
    return records


def from_videochat2(
    items: Iterable[Mapping[str, Any]],
    *,
    instruction: Literal["system", "prefix"] = "system",
    id_prefix: str = "videochat2-",
    source: str | None = None,
) -> list[Record]:
    """Records from VideoChat2 items (see the module docstring for where ``i`` goes). Extra keys
    (except ``start``/``end``, which become the clip bounds) go to ``meta``. Raises `RecordError`."""
    if instruction not in ("system", "prefix"):
        raise ValueError(f"instruction must be 'system' or 'prefix', got {instruction!r}")
    ids = _Ids(id_prefix)
    records = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _item_error(index, item, "is not an object")
        qa = item.get("QA")
        if not isinstance(qa, list) or not qa or not all(isinstance(x, Mapping) for x in qa):
            raise _item_error(index, item, "needs a non-empty 'QA' list of {i, q, a} objects")
        _, video, videos = _media(item, index)
        video_count = len(videos) if videos is not None else int(video is not None)
        messages: list[dict[str, Any]] = []
        system = str(qa[0].get("i") or "").strip() if instruction == "system" else ""
        if system:
            messages.append({"role": "system", "content": system})
        for turn, entry in enumerate(qa):
            question = str(entry.get("q") or "")
            answer = entry.get("a")
            if not isinstance(answer, str) or not answer.strip():
                raise _item_error(index, item, f"QA[{turn}].a must be a non-empty string")
            note = str(entry.get("i") or "").strip()
            if note and note != system:
                question = f"{note}\n{question}" if question else note
            parts: list[dict[str, Any]] = [{"type": "video"} for _ in range(video_count if turn == 0 else 0)]
            if question:
                parts.append({"type": "text", "text": question})
            if not parts:
                raise _item_error(index, item, f"QA[{turn}] has no question")
            content: str | list[dict[str, Any]] = parts if turn == 0 and video_count else question
            messages.append({"role": "user", "content": content})
            messages.append({"role": "assistant", "content": answer})
        data: dict[str, Any] = {"id": ids(item.get("id"), index), "messages": messages}
        if video is not None:
            data["video"] = video
        if videos is not None:
            data["videos"] = videos
        for name in ("start", "end"):
            if item.get(name) is not None:
                data[name] = _seconds(item[name], name, index, item)
        meta = {k: v for k, v in item.items() if k not in ("id", "video", "image", "QA", "start", "end")}
        if source is not None:
            meta["source"] = source
        data["meta"] = meta
        records.append(_checked(data, index, item))
    return records


def from_captions(
    rows: Iterable[Mapping[str, Any]],
    *,
    prompt: str = DEFAULT_CAPTION_PROMPT,
    id_prefix: str = "caption-",
    source: str | None = None,
) -> list[Record]:
    """Records from ``{"video", "caption", ...}`` rows: user = video + ``prompt``, assistant =
    caption, ``meta["task"] = "caption"``. Raises `RecordError` for a row without both."""
    if not prompt.strip():
        raise ValueError("the caption prompt must not be empty")
    ids = _Ids(id_prefix)
    records = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise _item_error(index, row, "is not an object")
        video, caption = row.get("video"), row.get("caption")
        if not isinstance(video, str) or not video.strip():
            raise _item_error(index, row, "needs a 'video' path")
        if not isinstance(caption, str) or not caption.strip():
            raise _item_error(index, row, "needs a non-empty 'caption'")
        data: dict[str, Any] = {
            "id": ids(row.get("id") or None, index),
            "video": video.strip(),
            "messages": [
                {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]},
                {"role": "assistant", "content": caption.strip()},
            ],
        }
        for name in ("start", "end"):
            if row.get(name) not in (None, ""):
                data[name] = _seconds(row[name], name, index, row)
        meta = {"task": "caption"} | {
            k: v for k, v in row.items() if k not in ("id", "video", "caption", "start", "end") and v not in (None, "")
        }
        if source is not None:
            meta["source"] = source
        data["meta"] = meta
        records.append(_checked(data, index, row))
    return records


def _seconds(value: object, name: str, index: int, item: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _item_error(index, item, f"{name!r} must be seconds, got {value!r}") from None


def _checked(data: dict[str, Any], index: int, item: object) -> Record:
    try:
        return Record.from_dict(data)
    except RecordError as exc:
        raise _item_error(index, item, str(exc)) from None


def export_llava(records: Iterable[Record], *, include_meta: bool = False) -> list[dict[str, Any]]:
    """LLaVA-style items: ``{"id", "video" | "image", "conversations": [{"from", "value"}]}``.

    Video parts become ``<video>`` (``<image>`` when the record was imported with that spelling);
    string contents are written unchanged, so LLaVA -> records -> LLaVA gives the same text and
    placeholders (and the same keys, from ``meta["llava"]``). ``start``, ``end`` and ``subtitles``
    are written as extra keys when set; ``include_meta`` adds the rest of ``meta`` as ``"meta"``.
    """
    items = []
    for record in records:
        llava = record.meta.get("llava") if isinstance(record.meta.get("llava"), Mapping) else {}
        spellings = list(llava.get("placeholders", []))
        default = llava.get("placeholder", "<video>")
        conversations = []
        for message in record.messages:
            content = message["content"]
            if isinstance(content, str):
                value = content
            else:
                pieces = []
                for part in content:
                    if part.get("type") in VIDEO_PART_TYPES:
                        pieces.append(spellings.pop(0) if spellings else default)
                    else:
                        pieces.append(part["text"])
                value = "".join(pieces)
            conversations.append({"from": LLAVA_SPEAKERS[message["role"]], "value": value})
        item: dict[str, Any] = {"id": record.id}
        key = llava.get("media_key", "video")
        if record.video is not None:
            item[key] = record.video
        elif record.videos is not None:
            item[key] = list(record.videos)
        item["conversations"] = conversations
        for name in ("start", "end", "subtitles"):
            if getattr(record, name) is not None:
                item[name] = getattr(record, name)
        item |= dict(llava.get("extra", {}))
        if include_meta:
            rest = {k: v for k, v in record.meta.items() if k != "llava"}
            if rest:
                item["meta"] = rest
        items.append(item)
    return items


def read_items(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The objects of a JSON list or JSONL file (``.csv``: the rows, by header). Raises
    `RecordError` (``path:line: ...``) for a line that does not parse, `OSError` for the file."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        for row in csv.DictReader(io.StringIO(text, newline="")):
            yield {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k is not None}
        return
    for line, value, error in iter_json_values(path):
        if error is not None:
            raise RecordError(f"{path}:{line}: {error}")
        yield value


def import_file(
    format: str,
    path: str | os.PathLike[str],
    **options: Any,
) -> list[Record]:
    """Records from the file ``path`` in ``format`` (one of `IMPORT_FORMATS`); ``options`` go to
    the format's importer (``prompt``, ``instruction``, ``id_prefix``, ``source``)."""
    importers = {"llava": from_llava, "videochat2": from_videochat2, "captions": from_captions}
    if format not in importers:
        raise ValueError(f"unknown import format {format!r}; use one of {', '.join(IMPORT_FORMATS)}")
    try:
        return importers[format](read_items(path), **options)
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from None


def relative_to_root(records: Iterable[Record], root: str | os.PathLike[str]) -> list[Record]:
    """Records whose absolute video and subtitle paths under ``root`` are made relative to it
    (records store paths relative to a root). Relative paths are left as they are. Raises
    `RecordError` for an absolute path outside ``root``."""
    base = Path(root).resolve()

    def rel(name: str, record: Record) -> str:
        path = Path(name)
        if not path.is_absolute():
            return name
        try:
            return path.resolve().relative_to(base).as_posix()
        except ValueError:
            raise RecordError(f"record {record.id!r}: {name!r} is not under the root {str(base)!r}") from None

    out = []
    for record in records:
        data = record.to_dict()
        if record.video is not None:
            data["video"] = rel(record.video, record)
        if record.videos is not None:
            data["videos"] = [rel(v, record) for v in record.videos]
        if record.subtitles is not None:
            data["subtitles"] = rel(record.subtitles, record)
        out.append(Record.from_dict(data))
    return out


def missing_videos(records: Iterable[Record], root: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """``(record id, path)`` for each video that does not exist under ``root``."""
    base = Path(root)
    return [(r.id, base / name) for r in records for name in r.video_list if not (base / name).exists()]

