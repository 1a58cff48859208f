"""Check a records file in one pass and report every problem, with its line.

``validate_records(path, root)`` reads a JSONL file (or a JSON list) and returns a `Report`:
one `Problem` per finding (severity, code, 1-based line, record id, message), never stopping at
the first. Codes and what they mean are in `PROBLEM_CODES` (and ``docs/data.md``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .records import ROLES, VIDEO_PART_TYPES, count_video_parts, iter_json_values, schema_problems

Severity = Literal["error", "warning"]

# code -> (severity, what it means)
PROBLEM_CODES: dict[str, tuple[Severity, str]] = {
    "invalid-json": ("error", "the line is not valid JSON (or not UTF-8)"),
    "not-an-object": ("error", "the line is JSON but not an object"),
    "missing-field": ("error", "'id' or 'messages' is missing"),
    "unknown-field": ("error", "a top-level key the schema does not have (extra data goes in 'meta')"),
    "invalid-field": ("error", "a field has the wrong type or value (role, content, part, meta.language, ...)"),
    "duplicate-id": ("error", "the id is used on another line too (both lines are reported)"),
    "video-count": ("error", "the number of video parts differs from the number of videos"),
    "placeholder-in-text": ("error", "text contains <video> or <image>: it stays text; use a video part"),
    "empty-turn": ("error", "a message has no text and no video"),
    "role-order": ("error", "roles must be [system] user assistant user assistant ... ending with assistant"),
    "bad-clip": ("error", "start or end negative, or start >= end"),
    "missing-video": ("error", "a video file does not exist under the root"),
    "unreadable-video": ("error", "a video exists but cannot be opened (probe failed)"),
    "missing-subtitles": ("error", "the subtitles file does not exist under the root"),
    "unreadable-subtitles": ("error", "the subtitles file cannot be read or parsed (with probing)"),
    "clip-outside-video": ("warning", "start/end lie beyond the video's duration (with probing)"),
    "answer-not-in-options": ("warning", "meta.answer is neither an option, its letter, nor its index"),
    "no-records": ("warning", "the file holds no records"),
}
PLACEHOLDER_RE = re.compile(r"<video>|<image>")
CLIP_TOLERANCE = 0.5  # seconds an end may exceed a video's duration before a warning


@dataclass(frozen=True)
class Problem:
    """One finding: ``line`` is the 1-based line of the JSONL file (None for the whole file)."""

    severity: Severity
    code: str
    line: int | None
    message: str
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.severity} {self.code}: {self.message}"


@dataclass
class Report:
    """What `validate_records` found in ``path``: ``records`` read, ``problems`` sorted by line."""

    path: str
    records: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    def codes(self) -> dict[str, int]:
        """How many problems of each code."""
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.code] = counts.get(problem.code, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "records": self.records,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }


def check_record(data: object, *, allow_open_end: bool = False) -> list[tuple[Severity, str, str]]:
    """Every problem of one record that needs no files, as ``(severity, code, message)``.

    The schema (`schema_problems`) plus the rules between fields: video count, placeholders in
    text, empty turns, role order (ending with assistant unless ``allow_open_end``), clip bounds,
    and answer vs options. Checks are skipped where a field has the wrong type.
    """
    found: list[tuple[Severity, str, str]] = [
        (PROBLEM_CODES[code][0], code, message) for code, message in schema_problems(data)
    ]
    if not isinstance(data, Mapping):
        return found

    def add(code: str, message: str) -> None:
        found.append((PROBLEM_CODES[code][0], code, message))

    raw_messages = data.get("messages")
    messages = [m for m in raw_messages if isinstance(m, Mapping)] if isinstance(raw_messages, list) else []
    videos = data.get("videos") if "videos" in data else ([data["video"]] if "video" in data else [])
    if isinstance(videos, list) and isinstance(raw_messages, list):
        parts = count_video_parts(data)
        if parts != len(videos):
            add("video-count", f"{parts} video part(s) in the messages but {len(videos)} video(s)")
    for i, message in enumerate(messages):
        content = message.get("content")
        texts: list[str] = []
        has_video = False
        if isinstance(content, str):
            texts = [content]
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping):
                    continue
                if part.get("type") in VIDEO_PART_TYPES:
                    has_video = True
                elif isinstance(part.get("text"), str):
                    texts.append(part["text"])
        else:
            continue
        placeholders = sorted({m for text in texts for m in PLACEHOLDER_RE.findall(text)})
        if placeholders:
            add(
                "placeholder-in-text",
                f"messages[{i}] text contains {', '.join(placeholders)}, which the processor keeps as "
                "text; use a {'type': 'video'} part",
            )
        if not has_video and not any(text.strip() for text in texts):
            add("empty-turn", f"messages[{i}] ({message.get('role')}) has no text and no video")
    roles = [m.get("role") for m in messages]
    if roles and all(role in ROLES for role in roles):
        for problem in _role_order_problems(roles, allow_open_end):
            add("role-order", problem)
    start, end = data.get("start"), data.get("end")
    start_ok = isinstance(start, int | float) and not isinstance(start, bool)
    end_ok = isinstance(end, int | float) and not isinstance(end, bool)
    if start_ok and start < 0:
        add("bad-clip", f"start {start} is negative")
    if end_ok and end <= 0:
        add("bad-clip", f"end {end} is not positive")
    if start_ok and end_ok and start >= end:
        add("bad-clip", f"start {start} is not before end {end}")
    meta = data.get("meta")
    options = meta.get("options") if isinstance(meta, Mapping) else None
    answer = meta.get("answer") if isinstance(meta, Mapping) else None
    if isinstance(options, list) and "answer" in meta and not _answer_in_options(answer, options):
        add("answer-not-in-options", f"meta.answer {answer!r} is not one of the {len(options)} options")
    return found


def _role_order_problems(roles: list[str], allow_open_end: bool) -> list[str]:
    problems = []
    body = roles[1:] if roles[0] == "system" else roles
    offset = len(roles) - len(body)
    for i, role in enumerate(body):
        if role == "system":
            problems.append(f"messages[{i + offset}] is a system message; only the first message may be")
            return problems
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            problems.append(f"messages[{i + offset}] is {role}, expected {expected} (turns alternate, user first)")
            return problems
    if not body:
        problems.append("no user message after the system message")
    elif body[-1] != "assistant" and not allow_open_end:
        problems.append("the last message is from the user; training records end with the assistant")
    return problems


def _answer_in_options(answer: object, options: list[Any]) -> bool:
    if isinstance(answer, bool):
        return False
    if isinstance(answer, int):
        return 0 <= answer < len(options)
    if not isinstance(answer, str):
        return False
    text = answer.strip()
    if text in (o.strip() for o in options if isinstance(o, str)):
        return True
    letter = text.strip("()").strip()
    return len(letter) == 1 and 0 <= ord(letter.upper()) - ord("A") < len(options)


class _FileChecker:
    """Existence (and, with ``probe``, readability) of videos and subtitles; cached per path."""

    def __init__(self, root: Path, probe: bool) -> None:
        self.root, self.probe = root, probe
        self._videos: dict[Path, tuple[str | None, str, float | None]] = {}
        self._subtitles: dict[Path, tuple[str | None, str]] = {}

    def video(self, name: str) -> tuple[str | None, str, float | None]:
        """``(code or None, message, duration or None)`` for the video ``name`` under the root."""
        path = self.root / name
        if path not in self._videos:
            self._videos[path] = self._check_video(path, name)
        return self._videos[path]

    def _check_video(self, path: Path, name: str) -> tuple[str | None, str, float | None]:
        if not path.exists():
            return "missing-video", f"video {name!r} not found ({path})", None
        if not self.probe or path.is_dir():  # a folder of frames: load_video reads it, probe does not
            return None, "", None
        from kangaroo.video import VideoError, probe

        try:
            info = probe(path, scan=False)
        except (VideoError, OSError) as exc:
            return "unreadable-video", f"video {name!r} cannot be opened: {exc}", None
        return None, "", (info.duration or None)

    def subtitles(self, name: str) -> tuple[str | None, str]:
        path = self.root / name
        if path not in self._subtitles:
            if not path.is_file():
                result: tuple[str | None, str] = ("missing-subtitles", f"subtitles {name!r} not found ({path})")
            elif self.probe:
                from kangaroo.video import VideoError, load_subtitles

                try:
                    load_subtitles(path)
                    result = (None, "")
                except (VideoError, OSError) as exc:
                    result = ("unreadable-subtitles", f"subtitles {name!r} cannot be read: {exc}")
            else:
                result = (None, "")
            self._subtitles[path] = result
        return self._subtitles[path]


def validate_records(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    probe: bool = True,
    allow_open_end: bool = False,
) -> Report:
    """Check every record of ``path`` (JSONL or a JSON list) and return all problems at once.

    Video and subtitle paths are resolved under ``root`` (default: the folder of ``path``); each
    video must exist and, with ``probe``, open with `kangaroo.video.probe` (headers only; each
    path probed once). ``allow_open_end`` accepts records that end with a user message (eval
    prompts). Raises `OSError` only when ``path`` itself cannot be read.
    """
    path = Path(path)
    checker = _FileChecker(Path(root) if root is not None else path.parent, probe)
    report = Report(path=str(path))
    problems: list[Problem] = []
    lines_of: dict[str, list[int]] = {}
    for line, value, error in iter_json_values(path):
        report.records += 1
        if error is not None:
            problems.append(Problem("error", "invalid-json", line, error))
            continue
        record_id = value.get("id") if isinstance(value, Mapping) else None
        record_id = record_id if isinstance(record_id, str) else None

        def add(severity: Severity, code: str, message: str, line: int = line, record_id: str | None = record_id) -> None:
            problems.append(Problem(severity, code, line, message, record_id))

        for severity, code, message in check_record(value, allow_open_end=allow_open_end):
            add(severity, code, message)
        if not isinstance(value, Mapping):
            continue
        if record_id is not None:
            lines_of.setdefault(record_id, []).append(line)
        _check_files(value, checker, add)
    for record_id, lines in lines_of.items():
        if len(lines) > 1:
            for line in lines:
                others = ", ".join(str(other) for other in lines if other != line)
                problems.append(
                    Problem("error", "duplicate-id", line, f"id {record_id!r} is also used on line(s) {others}", record_id)
                )
    if report.records == 0:
        problems.append(Problem("warning", "no-records", None, "the file holds no records"))
    problems.sort(key=lambda p: (p.line if p.line is not None else 0))
    report.problems = problems
    return report


def _check_files(data: Mapping[str, Any], checker: _FileChecker, add: Any) -> None:
    names = data.get("videos") if "videos" in data else [data.get("video")]
    start, end = data.get("start"), data.get("end")
    for name in names if isinstance(names, list) else []:
        if not isinstance(name, str) or not name:
            continue
        code, message, duration = checker.video(name)
        if code is not None:
            add(PROBLEM_CODES[code][0], code, message)
        elif duration is not None:
            if isinstance(start, int | float) and not isinstance(start, bool) and start >= duration:
                add("warning", "clip-outside-video", f"start {start} s is past the end of {name!r} ({duration:.3f} s)")
            if isinstance(end, int | float) and not isinstance(end, bool) and end > duration + CLIP_TOLERANCE:
                add("warning", "clip-outside-video", f"end {end} s is past the end of {name!r} ({duration:.3f} s)")
    subtitles = data.get("subtitles")
    if isinstance(subtitles, str) and subtitles:
        code, message = checker.subtitles(subtitles)
        if code is not None:
            add(PROBLEM_CODES[code][0], code, message)
