"""TempCompass multi-choice (GitHub ``llyx97/TempCompass``): temporal questions on short clips.

Reads ``<data_dir>/<annotations>`` (default ``questions/multi-choice.json``):
``{video_id: {dim: [{"question", "answer"}, ...]}}``. The options are embedded in ``question``
as ``"A. text"`` lines after the first line: they are parsed into ``options`` while ``question``
is kept as given (the prompt shows it whole and has no ``{options}``). The answer letter is the
first character of ``answer`` (``"B. moving from right to left"``). Videos:
``<data_dir>/<videos>/<video_id>.mp4`` (default ``videos/``). Groups: ``{"dim": dim}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path, load_json
from kangaroo.eval.samples import LETTERS, EvalSample, resolve_video

_OPTION_LINE = re.compile(r"^([A-Z])\.\s*(.*?)\s*$")


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The multi-choice question file."""
    return [data_path(root, options, "annotations", "questions/multi-choice.json")]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """TempCompass multi-choice samples (ids ``<video_id>/<dim>/<index>``)."""
    root = data_dir.expanduser().absolute()
    path = annotation_files(root, options)[0]
    videos = data_path(root, options, "videos", "videos")
    data = load_json(path)
    if not isinstance(data, dict):
        raise BenchmarkDataError(f"{path}: expected a JSON object {{video_id: {{dim: [questions]}}}}")
    for video_id, dims in data.items():
        if not isinstance(dims, dict):
            raise BenchmarkDataError(f"{path}: {video_id}: expected a mapping of dimensions to question lists")
        video, error = resolve_video(videos, f"{video_id}.mp4")
        for dim, items in dims.items():
            if not isinstance(items, list):
                raise BenchmarkDataError(f"{path}: {video_id}/{dim}: expected a list of questions")
            for index, item in enumerate(items):
                question, choices, letter = _parse_item(item, f"{path}: {video_id}/{dim} row {index}")
                yield EvalSample(id=f"{video_id}/{dim}/{index}", question=question, options=choices,
                                 answer=letter, video=video, error=error, groups={"dim": dim})


def _parse_item(item: Any, where: str) -> tuple[str, list[str], str]:
    """``(question as given, option texts, answer letter)`` of one ``{"question", "answer"}`` item."""
    if not isinstance(item, dict):
        raise BenchmarkDataError(f"{where}: expected a JSON object, got {type(item).__name__}")
    question, answer = item.get("question"), item.get("answer")
    if not isinstance(question, str) or not isinstance(answer, str) or not answer.strip():
        raise BenchmarkDataError(f"{where}: 'question' and 'answer' must be non-empty strings")
    options = parse_options(question, where)
    letter = answer.strip()[0]
    if letter not in LETTERS[: len(options)]:
        raise BenchmarkDataError(f"{where}: the answer {answer!r} does not start with an option letter")
    return question, options, letter


def parse_options(question: str, where: str) -> list[str]:
    """The texts of the ``"A. text"`` lines after the question's first line (letters in order)."""
    matches = [m for m in map(_OPTION_LINE.match, question.splitlines()[1:]) if m]
    letters = "".join(m.group(1) for m in matches)
    if len(matches) < 2 or letters != LETTERS[: len(matches)]:
        raise BenchmarkDataError(f"{where}: expected option lines 'A. ...', 'B. ...' after the question's "
                                 f"first line, found letters {letters!r}")
    return [m.group(2) for m in matches]
