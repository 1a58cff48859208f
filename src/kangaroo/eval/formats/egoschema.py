"""EgoSchema (GitHub ``egoschema/EgoSchema``): five-choice questions on 3-minute Ego4D clips.

Reads ``<data_dir>/<questions>`` (default ``questions.json``): a JSON list of records with
``q_uid`` (the sample id and the video's name), ``question`` and ``"option 0"`` ...
``"option 4"`` (the keys contain a space). With the data option ``subset: true`` (default) it
also reads ``<data_dir>/<answers>`` (default ``subset_answers.json``, ``{q_uid: option index}``)
and yields only those questions, with ``answer = LETTERS[index]``; with ``subset: false`` it
yields every question with ``answer`` None (the full set is scored by the answer server).
Videos: ``<data_dir>/<videos>/<q_uid>.mp4`` (default ``videos/``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path, load_json
from kangaroo.eval.samples import LETTERS, EvalSample, resolve_video


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The questions file (the answers file is checked when read)."""
    return [data_path(root, options, "questions", "questions.json")]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """EgoSchema samples in questions.json order (ids = ``q_uid``)."""
    root = data_dir.expanduser().absolute()
    questions_path = annotation_files(root, options)[0]
    videos = data_path(root, options, "videos", "videos")
    subset = options.get("subset", True)
    if not isinstance(subset, bool):
        raise BenchmarkDataError(f"egoschema: the data option 'subset' must be true or false, got {subset!r}")
    questions = load_json(questions_path)
    if not isinstance(questions, list):
        raise BenchmarkDataError(f"{questions_path}: expected a JSON list of questions")
    answers = _answers(data_path(root, options, "answers", "subset_answers.json")) if subset else None
    found: set[str] = set()
    for index, row in enumerate(questions):
        sample = _sample(row, f"{questions_path}: row {index}", videos)
        if answers is None:
            yield sample
        elif sample.id in answers:
            found.add(sample.id)
            yield _with_answer(sample, answers[sample.id], f"{questions_path}: row {index}")
    if answers is not None and len(found) < len(answers):
        absent = sorted(set(answers) - found)
        raise BenchmarkDataError(f"{questions_path}: {len(absent)} q_uids of the answer file are not among the "
                                 f"questions (e.g. {absent[0]})")


def _answers(path: Path) -> dict[str, int]:
    """``{q_uid: option index}`` from subset_answers.json."""
    raw = load_json(path)
    if not isinstance(raw, dict):
        raise BenchmarkDataError(f"{path}: expected a JSON object {{q_uid: option index}}")
    for q_uid, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise BenchmarkDataError(f"{path}: the answer of {q_uid!r} must be an option index, got {value!r}")
    return raw


def _sample(row: Any, where: str, videos: Path) -> EvalSample:
    if not isinstance(row, dict):
        raise BenchmarkDataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    q_uid, question = row.get("q_uid"), row.get("question")
    if not isinstance(q_uid, str) or not q_uid or os.sep in q_uid:
        raise BenchmarkDataError(f"{where}: 'q_uid' must be a non-empty string, got {q_uid!r}")
    if not isinstance(question, str):
        raise BenchmarkDataError(f"{where}: 'question' must be a string")
    options = _options(row, where)
    video, error = resolve_video(videos, f"{q_uid}.mp4")
    return EvalSample(id=q_uid, question=question, options=options, video=video, error=error)


def _options(row: dict[str, Any], where: str) -> list[str]:
    """The values of ``"option 0"``, ``"option 1"``, ... up to the first absent key."""
    options = []
    while f"option {len(options)}" in row:
        value = row[f"option {len(options)}"]
        if not isinstance(value, str):
            raise BenchmarkDataError(f"{where}: 'option {len(options)}' must be a string")
        options.append(value)
    if len(options) < 2:
        raise BenchmarkDataError(f"{where}: expected the keys 'option 0' ... 'option 4'")
    return options


def _with_answer(sample: EvalSample, index: int, where: str) -> EvalSample:
    if not 0 <= index < len(sample.options):
        raise BenchmarkDataError(f"{where}: the answer index {index} of {sample.id} is out of range")
    sample.answer = LETTERS[index]
    return sample
