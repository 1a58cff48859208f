"""LongVideoBench (Wu et al. 2024): long web videos with referring questions and subtitles.

Files read under ``data_dir`` (names are ``data`` options of the task):

- ``annotations`` (default ``lvb_val.json``): a JSON list of questions (``lvb_test_wo_gt.json``
  for the test split), or the HF parquet variant (``validation-00000-of-00001.parquet``; needs
  pandas, imported only then). Fields used: ``id``, ``question``, ``candidates`` (up to 5) or, in
  the parquet variant, ``option0`` .. ``option4`` padded with ``"N/A"``, ``correct_choice``
  (0-based index; absent in the test split, then the answer is None), ``video_path``,
  ``subtitle_path``, ``duration`` (seconds), ``starting_timestamp_for_subtitles``,
  ``duration_group``, ``question_category``, ``topic_category``; ``video_id``, ``level``,
  ``position`` and ``question_wo_referring_query`` are kept in ``extra``.
- ``videos`` (default ``videos``): ``<videos>/<video_path>``.
- ``subtitles`` (default ``subtitles``): ``<subtitles>/<subtitle_path>``, read only when the task
  asks for subtitles: a JSON list whose entries are ``{"timestamp": [s, e], "text": ...}`` (``e``
  may be null: the line lasts to the end of the video) or ``{"start": "HH:MM:SS.fff", "end": ...,
  "line": ...}``. ``starting_timestamp_for_subtitles`` is subtracted from every time, which puts
  the lines on the video file's clock. A missing subtitle file leaves ``subtitles`` None (the
  prompt then shows its ``no_subtitles`` text) and is noted in ``extra["subtitle_error"]``.

Bounds: the official loader samples only within ``[0, duration]`` of the file, so ``end`` is set
to ``duration`` when it is given. Groups: ``duration_group`` (as a string, e.g. ``"600"``),
``question_category`` and ``topic_category``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path, load_json
from kangaroo.eval.samples import LETTERS, EvalSample, resolve_video
from kangaroo.video.subtitles import SubtitleLine, Subtitles

PADDING = "N/A"  # how the parquet variant pads option0..option4 past the last candidate
GROUP_KEYS = ("duration_group", "question_category", "topic_category")
EXTRA_KEYS = ("video_id", "level", "position", "question_wo_referring_query")


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The question file."""
    return [data_path(root, options, "annotations", "lvb_val.json")]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """LongVideoBench questions in file order (see the module docstring for the files)."""
    data_dir = data_dir.absolute()  # samples carry absolute video paths
    path = annotation_files(data_dir, options)[0]
    videos = data_path(data_dir, options, "videos", "videos")
    subtitle_dir = data_path(data_dir, options, "subtitles", "subtitles") if subtitles else None
    cache: dict[str, tuple[Subtitles | None, str | None]] = {}
    for row, record in enumerate(_load_records(path)):
        where = f"{path}: row {row}"
        if not isinstance(record, dict):
            raise BenchmarkDataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        sample = _sample(record, where, videos)
        if subtitle_dir is not None:
            _attach_subtitles(sample, record, where, subtitle_dir, cache)
        yield sample


def _load_records(path: Path) -> list[Any]:
    """The question records of a JSON list or a parquet file."""
    if path.suffix == ".parquet":
        return _load_parquet(path)
    records = load_json(path)
    if not isinstance(records, list):
        raise BenchmarkDataError(f"{path}: expected a JSON list of questions")
    return records


def _load_parquet(path: Path) -> list[dict[str, Any]]:
    """Rows of the HF parquet variant as dicts (pandas is imported only here)."""
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: annotation file not found")
    try:
        import pandas as pd
    except ImportError:
        raise BenchmarkDataError(f"{path}: reading parquet needs pandas (pip install 'kangaroo[eval]')") from None
    try:
        return pd.read_parquet(path).to_dict("records")
    except Exception as exc:  # pyarrow raises assorted errors on a damaged file
        raise BenchmarkDataError(f"{path}: not a readable parquet file ({exc})") from None


def _require(record: dict[str, Any], key: str, where: str) -> Any:
    value = record.get(key)
    if value is None:
        raise BenchmarkDataError(f"{where}: missing {key!r}")
    return value


def _sample(record: dict[str, Any], where: str, videos: Path) -> EvalSample:
    """One question; its video path is checked but subtitles are attached separately."""
    options = _candidates(record, where)
    video, error = resolve_video(videos, str(_require(record, "video_path", where)))
    duration = _number(record.get("duration"), where, "duration")
    return EvalSample(
        id=str(_require(record, "id", where)),
        question=str(_require(record, "question", where)),
        options=options,
        answer=_answer(record.get("correct_choice"), len(options), where),
        video=video,
        end=duration if duration is not None and duration > 0 else None,
        groups={key: _group_value(record[key]) for key in GROUP_KEYS if _present(record.get(key))},
        error=error,
        extra={"duration": duration, **{key: _plain(record[key]) for key in EXTRA_KEYS if key in record}},
    )


def _candidates(record: dict[str, Any], where: str) -> list[str]:
    """``candidates``, or ``option0..option4`` without the trailing ``"N/A"`` padding."""
    if "candidates" in record and record["candidates"] is not None:
        candidates = list(record["candidates"])
    else:
        candidates = [record[f"option{i}"] for i in range(len(LETTERS)) if f"option{i}" in record]
        while candidates and (candidates[-1] is None or str(candidates[-1]).strip() == PADDING):
            candidates.pop()
    if not candidates:
        raise BenchmarkDataError(f"{where}: no 'candidates' (nor option0..option4)")
    if not all(isinstance(c, str) for c in candidates):
        raise BenchmarkDataError(f"{where}: the candidates must be strings, got {candidates!r}")
    return candidates


def _answer(value: Any, count: int, where: str) -> str | None:
    """The letter of ``correct_choice``; None when the split hides it."""
    if not _present(value):
        return None
    try:
        index = int(value)
        whole = float(value) == index
    except (TypeError, ValueError):
        raise BenchmarkDataError(f"{where}: correct_choice {value!r} is not an integer") from None
    if not whole or not 0 <= index < count:
        raise BenchmarkDataError(f"{where}: correct_choice {value!r} is not an index into {count} candidates")
    return LETTERS[index]


def _present(value: Any) -> bool:
    """False for None and NaN (how parquet marks a missing value)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _number(value: Any, where: str, key: str) -> float | None:
    if not _present(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BenchmarkDataError(f"{where}: {key} {value!r} is not a number") from None


def _group_value(value: Any) -> str:
    """``600`` and ``600.0`` both become ``"600"``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _plain(value: Any) -> Any:
    """Parquet gives numpy arrays and scalars; keep JSON-friendly values in ``extra``."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _attach_subtitles(sample: EvalSample, record: dict[str, Any], where: str, folder: Path,
                      cache: dict[str, tuple[Subtitles | None, str | None]]) -> None:
    """Set ``sample.subtitles`` from the record's subtitle file (shared by its questions)."""
    relative = record.get("subtitle_path")
    if not _present(relative):
        sample.extra["subtitle_error"] = "no subtitle_path"
        return
    offset = _number(record.get("starting_timestamp_for_subtitles"), where, "starting_timestamp_for_subtitles")
    key = f"{relative}\0{offset}\0{sample.end}"
    if key not in cache:
        cache[key] = _load_subtitle_file(folder / str(relative), offset or 0.0, sample.end)
    sample.subtitles, error = cache[key]
    if error:
        sample.extra["subtitle_error"] = error


def _load_subtitle_file(path: Path, offset: float, video_end: float | None) -> tuple[Subtitles | None, str | None]:
    """``(subtitles, None)``, or ``(None, message)`` when the file is missing."""
    if not path.is_file():
        return None, f"subtitles not found: {path}"
    entries = load_json(path)
    if not isinstance(entries, list):
        raise BenchmarkDataError(f"{path}: expected a JSON list of subtitle entries")
    lines = [_subtitle_line(entry, f"{path}: entry {i}", offset, video_end) for i, entry in enumerate(entries)]
    return Subtitles([line for line in lines if line.text], str(path)), None


def _subtitle_line(entry: Any, where: str, offset: float, video_end: float | None) -> SubtitleLine:
    """One entry in either subtitle style, moved onto the video's clock."""
    if not isinstance(entry, dict):
        raise BenchmarkDataError(f"{where}: expected a JSON object")
    if "timestamp" in entry:
        span = entry["timestamp"]
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise BenchmarkDataError(f"{where}: timestamp must be [start, end], got {span!r}")
        start = _number(span[0], where, "timestamp start")
        end = _number(span[1], where, "timestamp end")
        text = entry.get("text")
    elif "start" in entry:
        start = _clock_seconds(entry["start"], where)
        end = _clock_seconds(entry["end"], where) if entry.get("end") is not None else None
        text = entry.get("line")
    else:
        raise BenchmarkDataError(f"{where}: neither 'timestamp' nor 'start' in {sorted(entry)}")
    if start is None:
        raise BenchmarkDataError(f"{where}: no start time")
    start -= offset
    # An open end (null) lasts to the end of the video, as in the official loader.
    end = end - offset if end is not None else (video_end if video_end is not None else math.inf)
    return SubtitleLine(start, end, str(text or "").strip())


def _clock_seconds(value: Any, where: str) -> float:
    """``"HH:MM:SS.fff"`` (also ``MM:SS`` and a comma before the fraction) as seconds."""
    try:
        parts = [float(part) for part in str(value).replace(",", ".").split(":")]
    except ValueError:
        raise BenchmarkDataError(f"{where}: time {value!r} is not HH:MM:SS.fff") from None
    if not 1 <= len(parts) <= 3:
        raise BenchmarkDataError(f"{where}: time {value!r} is not HH:MM:SS.fff")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds
