"""Subtitles aligned with sampled frames (Video-MME's "with subtitles" protocol).

`load_subtitles` reads SRT, ASS/SSA and WebVTT files of any common encoding into `Subtitles`:
plain-text events in seconds. `Subtitles.lines_at(times)` gives the lines shown at each sampled
frame's time and `Subtitles.to_prompt(times)` the de-duplicated text put before the question.
"""

from __future__ import annotations

import codecs
import html
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import charset_normalizer
import numpy as np
import pysubs2
from numpy.typing import ArrayLike

from kangaroo.video.errors import SubtitleError, VideoNotFoundError

# Used only when pysubs2 finds the content ambiguous between several formats.
_FORMAT_BY_EXTENSION = {".srt": "srt", ".ass": "ass", ".ssa": "ssa", ".vtt": "vtt"}
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class SubtitleLine:
    """One subtitle event: plain ``text`` shown during ``[start, end)`` seconds."""

    start: float
    end: float
    text: str


@dataclass
class Subtitles:
    """Subtitle events of one video, sorted by start (ties keep file order)."""

    events: list[SubtitleLine]
    source: str = ""

    def __post_init__(self) -> None:
        self.events = sorted(self.events, key=lambda e: e.start)

    def lines_at(self, times: ArrayLike) -> list[list[str]]:
        """For each time, the texts of the events with ``start <= t < end``, in start order."""
        t = np.asarray(times, dtype=np.float64)
        if t.ndim != 1:
            raise ValueError(f"times must be 1-D, got shape {t.shape}")
        out: list[list[str]] = [[] for _ in range(len(t))]
        # Sweep the times in ascending order: events join `active` when they start and leave it
        # once they end, so every query costs only its own output plus the events it retires.
        active: list[SubtitleLine] = []
        next_event = 0
        for i in np.argsort(t, kind="stable"):
            now = float(t[i])
            while next_event < len(self.events) and self.events[next_event].start <= now:
                active.append(self.events[next_event])
                next_event += 1
            active = [e for e in active if e.end > now]
            out[i] = [e.text for e in active]
        return out

    def text_at(self, times: ArrayLike, sep: str = "\n") -> list[str]:
        """For each time, the active lines joined by ``sep`` ("" when none)."""
        return [sep.join(lines) for lines in self.lines_at(times)]

    def lines_between(self, start: float, end: float) -> list[SubtitleLine]:
        """Events overlapping ``[start, end)``, in start order."""
        return [e for e in self.events if e.start < end and e.end > start]

    def to_prompt(self, times: ArrayLike) -> str:
        """Each distinct line active at ``times`` once, in order of first appearance, newline-joined.

        This is the subtitle text of Video-MME's "with subtitles" protocol (as in lmms-eval):
        only the subtitles shown at the sampled frames, not the whole transcript.
        """
        distinct = dict.fromkeys(text for lines in self.lines_at(times) for text in lines)
        return "\n".join(distinct)

    def shift(self, offset_seconds: float) -> Subtitles:
        """A copy with every event moved by ``offset_seconds`` (e.g. ``-clip.start``)."""
        moved = [replace(e, start=e.start + offset_seconds, end=e.end + offset_seconds) for e in self.events]
        return Subtitles(moved, self.source)


def load_subtitles(path: str | os.PathLike[str], encoding: str | None = None) -> Subtitles:
    """Read an SRT, ASS/SSA or WebVTT file; the encoding is detected unless given.

    Raises `VideoNotFoundError` when the file is missing and `SubtitleError` when it cannot be
    read, decoded or parsed.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise VideoNotFoundError(p, "no such subtitle file") from exc
    except OSError as exc:
        raise SubtitleError(p, f"cannot read file: {exc}") from exc
    enc = encoding or _detect_encoding(data)
    try:
        text = data.decode(enc)
    except (LookupError, UnicodeDecodeError) as exc:
        raise SubtitleError(p, f"cannot decode as {enc}: {exc}") from exc
    if not text.strip():
        return Subtitles([], str(p))
    try:
        events = _parse(text, p.suffix.lower())
    except Exception as exc:  # pysubs2's parsers raise assorted errors on malformed input
        raise SubtitleError(p, f"not a readable subtitle file: {exc}") from exc
    return Subtitles(events, str(p))


def _detect_encoding(data: bytes) -> str:
    """BOM, then strict UTF-8, then charset_normalizer's best guess, then latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        return "latin-1"
    # Short Western text often scores the same under cp1250 and cp1252 (then cp1250 is picked
    # and "à" reads "ŕ"); cp1252 is by far the more common subtitle encoding.
    tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    return "cp1252" if "cp1252" in tied else best.encoding


def _parse(text: str, suffix: str) -> list[SubtitleLine]:
    """Parse with pysubs2 (format from the content; the extension settles ambiguity)."""
    try:
        subs = pysubs2.SSAFile.from_string(text)
    except pysubs2.FormatAutodetectionError as exc:
        fmt = _FORMAT_BY_EXTENSION.get(suffix)
        if fmt not in exc.formats:
            raise
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    lines = []
    for event in subs.get_text_events():  # drops comments and ASS drawings
        plain = event.plaintext  # override tags removed, \N and \n -> newline, \h -> space
        if subs.format == "vtt":
            # pysubs2 appends what follows a cue (NOTE blocks, the next cue's id) to its text;
            # a cue ends at the first blank line. WebVTT text escapes &, < and > as entities.
            plain = html.unescape(_BLANK_LINE.split(plain, maxsplit=1)[0])
        body = "\n".join(line.strip() for line in plain.splitlines() if line.strip())
        if body and event.end > event.start:
            lines.append(SubtitleLine(event.start / 1000, event.end / 1000, body))
    return lines
