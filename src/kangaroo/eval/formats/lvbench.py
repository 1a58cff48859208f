"""LVBench (Wang et al. 2024): extremely long videos, several questions per video.

Files read under ``data_dir`` (names are ``data`` options of the task):

- ``annotations`` (default ``video_info.meta.jsonl``): one JSON object per line, one line per
  video. Fields used: ``key`` (the YouTube id), ``type`` (the video's genre, group
  ``video_type``), ``video_info.duration_minutes`` (kept as ``extra["duration_minutes"]``) and
  ``qa``, a list of questions with ``uid`` (the sample id), ``question`` (it holds the options as
  ``(A) ...`` lines: they are parsed into ``options`` while ``question`` is kept as given, so the
  task's prompt must not use ``{options}``), ``answer`` (a letter), ``question_type`` (a list of
  category names) and ``time_reference`` (kept in ``extra``).
- ``videos`` (default ``videos``): ``<videos>/<key>.mp4``. Download layouts vary (video2dataset
  may shard and rename the files), so ``video_map`` may name a JSON file under ``data_dir``
  mapping ``key`` to a path relative to ``<videos>`` (absolute paths work too); keys it lacks fall
  back to ``<key>.mp4``.

Categories: a question may have several. Their abbreviations (exactly ``ER``, ``EU``, ``KIR``,
``TG``, ``Rea``, ``Sum``, in that order) are in ``extra["categories"]``, and joined by commas in
the group ``categories`` (e.g. ``"EU,Rea"``). The official per-category accuracy counts a
question once in each of its categories (leaderboard keys Overall, ER, EU, KIR, TG, Rea, Sum):
the harness computes it from ``extra["categories"]`` when the task has
``report_groups: [categories]``. Category names not in the official list are kept as given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path, load_json
from kangaroo.eval.samples import LETTERS, EvalSample, resolve_video

CATEGORIES = {
    "entity recognition": "ER",
    "event understanding": "EU",
    "key information retrieval": "KIR",
    "temporal grounding": "TG",
    "reasoning": "Rea",
    "summarization": "Sum",
}
ORDER = list(CATEGORIES.values())
_OPTION_LINE = re.compile(r"^\s*\(([A-Z])\)\s*(.*?)\s*$")


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The JSONL file of videos and their questions."""
    return [data_path(root, options, "annotations", "video_info.meta.jsonl")]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """LVBench questions in file order (see the module docstring); ``subtitles`` is ignored (none)."""
    data_dir = data_dir.absolute()  # samples carry absolute video paths
    path = annotation_files(data_dir, options)[0]
    videos = data_path(data_dir, options, "videos", "videos")
    video_map = _load_video_map(data_dir, options)
    for line_no, video in _load_lines(path):
        where = f"{path}: line {line_no}"
        key = str(_require(video, "key", where))
        qa = _require(video, "qa", where)
        if not isinstance(qa, list):
            raise BenchmarkDataError(f"{where}: 'qa' must be a list")
        path_str, error = resolve_video(videos, video_map.get(key, f"{key}.mp4"))
        for i, item in enumerate(qa):
            yield _sample(item, video, f"{where}, qa {i}", path_str, error)


def _load_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSONL file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchmarkDataError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkDataError(f"{path}: cannot read ({exc})") from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise BenchmarkDataError(f"{path}: line {line_no}: not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise BenchmarkDataError(f"{path}: line {line_no}: expected a JSON object")
        yield line_no, value


def _load_video_map(data_dir: Path, options: dict[str, Any]) -> dict[str, str]:
    """The user's ``{key: relative path}`` (empty when the task names none)."""
    if not options.get("video_map"):
        return {}
    path = data_path(data_dir, options, "video_map", "")
    mapping = load_json(path)
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise BenchmarkDataError(f"{path}: a video map must be a JSON object {{key: relative path}}")
    return {str(k): v for k, v in mapping.items()}


def _require(record: dict[str, Any], key: str, where: str) -> Any:
    value = record.get(key)
    if value is None:
        raise BenchmarkDataError(f"{where}: missing {key!r}")
    return value


def _sample(item: Any, video: dict[str, Any], where: str, path: str, error: str | None) -> EvalSample:
    """One question of one video."""
    if not isinstance(item, dict):
        raise BenchmarkDataError(f"{where}: expected a JSON object")
    question = str(_require(item, "question", where))
    options = parse_options(question, where)
    answer = str(_require(item, "answer", where)).strip()
    if answer not in LETTERS[: len(options)]:
        raise BenchmarkDataError(f"{where}: answer {answer!r} is not one of the letters {LETTERS[: len(options)]}")
    categories = _categories(item.get("question_type"), where)
    info = video.get("video_info") if isinstance(video.get("video_info"), dict) else {}
    groups = {"categories": ",".join(categories)}
    if video.get("type") is not None:
        groups["video_type"] = str(video["type"])
    return EvalSample(
        id=str(_require(item, "uid", where)), question=question, options=options, answer=answer,
        video=path, groups=groups, error=error,
        extra={"categories": categories, "duration_minutes": info.get("duration_minutes"),
               "time_reference": item.get("time_reference"), "key": video.get("key")},
    )


def parse_options(question: str, where: str) -> list[str]:
    """The texts of the ``(A) ...`` lines of ``question``; they must run A, B, C, ... in order."""
    found = [m.groups() for m in map(_OPTION_LINE.match, question.splitlines()) if m]
    letters = "".join(letter for letter, _ in found)
    if not found or letters != LETTERS[: len(found)]:
        raise BenchmarkDataError(f"{where}: the question has no options '(A) ...', '(B) ...' in order "
                                 f"(found {letters or 'none'})")
    return [text for _, text in found]


def _categories(value: Any, where: str) -> list[str]:
    """Abbreviations of ``question_type`` (a list, or one name), in the leaderboard's order."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise BenchmarkDataError(f"{where}: question_type must be a non-empty list, got {value!r}")
    by_name = {**CATEGORIES, **{abbr.lower(): abbr for abbr in ORDER}}
    abbrevs = {by_name.get(str(name).strip().lower(), str(name).strip()) for name in names}
    return sorted(abbrevs, key=lambda a: (ORDER.index(a) if a in ORDER else len(ORDER), a))
