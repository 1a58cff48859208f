"""Video-MME (HF ``lmms-lab/Video-MME``): 2,700 four-choice questions on 900 videos.

Reads the annotation table ``<data_dir>/<annotations>`` (default
``videomme/test-00000-of-00001.parquet``; a ``.json`` list or ``.jsonl`` file with the same
columns works too, chosen by suffix). Columns used: ``question_id`` (the sample id),
``videoID`` (the file name), ``duration`` (short/medium/long), ``domain``, ``sub_category``,
``task_type`` (the result groups), ``question``, ``options`` (already prefixed ``"A. "``: the
prefix is stripped, and the option format ``"{letter}. {text}"`` restores it) and ``answer``
(a letter).

Videos: ``<data_dir>/<videos>/<videoID>.mp4`` (default ``data/``; ``.MP4``, ``.mkv`` and
``.webm`` are tried too). With subtitles: ``<data_dir>/<subtitles>/<videoID>.srt`` (default
``subtitle/``) with the ``<font ...>`` markup removed; a video without an SRT file gets no
subtitles (the prompt then shows the task's ``no_subtitles`` text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path, load_json
from kangaroo.eval.samples import LETTERS, EvalSample, resolve_video
from kangaroo.video.errors import SubtitleError
from kangaroo.video.subtitles import SubtitleLine, Subtitles, load_subtitles

DEFAULT_ANNOTATIONS = "videomme/test-00000-of-00001.parquet"
VIDEO_SUFFIXES = (".mp4", ".MP4", ".mkv", ".webm")
GROUP_COLUMNS = ("duration", "domain", "sub_category", "task_type")
TEXT_COLUMNS = ("question_id", "videoID", "question", "answer", *GROUP_COLUMNS)
_FONT_TAG = re.compile(r"</?font\b[^>]*>", re.IGNORECASE)


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The annotation table."""
    return [data_path(root, options, "annotations", DEFAULT_ANNOTATIONS)]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """Video-MME samples in table order (ids = ``question_id``)."""
    root = data_dir.expanduser().absolute()
    table = annotation_files(root, options)[0]
    videos = data_path(root, options, "videos", "data")
    subtitle_dir = data_path(root, options, "subtitles", "subtitle")
    loaded: dict[str, tuple[Subtitles | None, str | None]] = {}
    for index, row in enumerate(load_table(table)):
        sample = _sample(row, f"{table}: row {index}", videos)
        if subtitles:
            video_id = sample.extra["videoID"]
            if video_id not in loaded:
                loaded[video_id] = _subtitles(subtitle_dir / f"{video_id}.srt")
            sample.subtitles, subtitle_error = loaded[video_id]
            sample.error = sample.error or subtitle_error
        yield sample


def load_table(path: Path) -> list[Any]:
    """The annotation rows of a ``.parquet``, ``.json`` (a list) or ``.jsonl`` file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix == ".json":
        rows = load_json(path)
        if not isinstance(rows, list):
            raise BenchmarkDataError(f"{path}: expected a JSON list of rows, got {type(rows).__name__}")
        return rows
    if suffix == ".jsonl":
        return _read_jsonl(path)
    raise BenchmarkDataError(f"{path}: unknown annotation format (expected .parquet, .json or .jsonl)")


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: annotation file not found")
    try:
        import pandas
    except ImportError:
        raise BenchmarkDataError(
            f"{path}: reading parquet needs pandas and pyarrow (pip install 'kangaroo[eval]'), "
            "or point the task's data.annotations at a JSON copy") from None
    try:
        frame = pandas.read_parquet(path)
    except (ImportError, OSError, ValueError) as exc:
        raise BenchmarkDataError(f"{path}: cannot read the parquet file ({exc})") from None
    return frame.to_dict(orient="records")


def _read_jsonl(path: Path) -> list[Any]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BenchmarkDataError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkDataError(f"{path}: cannot read ({exc})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise BenchmarkDataError(f"{path}: line {number} is not valid JSON ({exc})") from None
    return rows


def _sample(row: Any, where: str, videos: Path) -> EvalSample:
    if not isinstance(row, dict):
        raise BenchmarkDataError(f"{where}: expected a mapping of columns, got {type(row).__name__}")
    missing = [key for key in (*TEXT_COLUMNS, "options") if row.get(key) is None]
    if missing:
        raise BenchmarkDataError(f"{where}: missing {missing}")
    text = {key: str(row[key]) for key in TEXT_COLUMNS}
    options = _options(row["options"], where)
    answer = text["answer"].strip()
    if answer not in LETTERS[: len(options)]:
        raise BenchmarkDataError(f"{where}: answer {answer!r} is not one of the option letters")
    video, error = find_video(videos, text["videoID"])
    return EvalSample(id=text["question_id"], question=text["question"], options=options, answer=answer,
                      video=video, error=error, groups={key: text[key] for key in GROUP_COLUMNS},
                      extra={"videoID": text["videoID"]})


def _options(value: Any, where: str) -> list[str]:
    """The option texts without their ``"A. "`` prefixes (a parquet list arrives as an array)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, str) for v in value):
        raise BenchmarkDataError(f"{where}: 'options' must be a list of at least 2 strings")
    return [strip_letter(option, LETTERS[i]) for i, option in enumerate(value)]


def strip_letter(option: str, letter: str) -> str:
    """``"A. Apples."`` -> ``"Apples."`` for letter ``A``; an option without the prefix is kept."""
    prefix = f"{letter}. "
    return option[len(prefix):] if option.startswith(prefix) else option


def find_video(videos: Path, video_id: str) -> tuple[str, str | None]:
    """``(path, error)`` of the first existing ``<video_id><suffix>``; the ``.mp4`` path when none is."""
    for suffix in VIDEO_SUFFIXES:
        path, error = resolve_video(videos, video_id + suffix)
        if error is None:
            return path, None
    return resolve_video(videos, video_id + VIDEO_SUFFIXES[0])


def _subtitles(path: Path) -> tuple[Subtitles | None, str | None]:
    """``(subtitles, error)``: None, None when there is no SRT file; an error when it is unreadable."""
    if not path.is_file():
        return None, None
    try:
        return strip_font_tags(load_subtitles(path)), None
    except SubtitleError as exc:
        return None, f"subtitles unreadable: {exc}"


def strip_font_tags(subtitles: Subtitles) -> Subtitles:
    """A copy without the ``<font color=... size=...>``/``</font>`` markup of Video-MME's SRT files."""
    lines = []
    for event in subtitles.events:
        text = _FONT_TAG.sub("", event.text).strip()
        if text:
            lines.append(SubtitleLine(event.start, event.end, text))
    return Subtitles(lines, subtitles.source)
