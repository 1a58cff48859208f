"""SEED-Bench v1 (Li et al. 2023), the video dimensions 10-12.

Files read under ``data_dir`` (names are ``data`` options of the task):

- ``annotations`` (default ``SEED-Bench.json``): ``{"questions": [...], "question_type": {name:
  id}}``. Only questions with ``data_type == "video"`` and ``question_type_id`` in
  ``dimensions`` (default ``[10, 11, 12]``) are read. Fields used: ``question_id`` (the sample
  id), ``question``, ``choice_a`` .. ``choice_d``, ``answer`` (a letter), ``question_type_id``
  (group ``dimension``, named from ``question_type``), ``data_id`` and ``segment``.

The video of a question comes from ``source``:

- ``frames`` (default): the 8 frames per question the authors sampled evenly from its clip
  (``v1_video.zip.*``). **Assumed layout** (not confirmed in a stored source): one folder of
  images per question, ``<frame_folder>/<question_id>/`` with ``frame_folder`` defaulting to
  ``SEED-Bench-video-image``; set the ``frame_folder`` option to your folder's name. A folder is read
  at ``source_fps`` 1, so uniform sampling of 16 frames from its 8 images shows each image twice
  (the protocol used for Kangaroo). No bounds: the frames already cover the segment.
- ``videos``: the original clips. Dimension 10: ``<ssv2>/<data_id>`` (default ``SSV2/videos``),
  whole video. Dimension 11: ``<epic>/<data_id>`` (default ``EPIC-KITCHENS/videos``) with
  ``segment`` = [start, end] in seconds. Dimension 12: ``<breakfast>/<data_id>`` (default
  ``BreakfastII_15fps_qvga_sync``) with ``segment`` = [start, end] in frames at
  ``breakfast_fps`` (default 15), turned into seconds.

``segment`` is kept in ``extra`` whatever the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path, load_json
from kangaroo.eval.samples import LETTERS, EvalSample, resolve_video

DIMENSIONS = {10: "Action Recognition", 11: "Action Prediction", 12: "Procedure Understanding"}
CHOICES = ("choice_a", "choice_b", "choice_c", "choice_d")
SOURCES = ("frames", "videos")
# Per dimension: the data option naming its video folder, its default, and the unit of `segment`.
VIDEO_FOLDERS = {10: ("ssv2", "SSV2/videos"), 11: ("epic", "EPIC-KITCHENS/videos"),
                 12: ("breakfast", "BreakfastII_15fps_qvga_sync")}
FRAME_SEGMENT_DIMENSIONS = {12}  # segment in frames (at breakfast_fps); otherwise seconds


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The question file."""
    return [data_path(root, options, "annotations", "SEED-Bench.json")]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """SEED-Bench video questions in file order (see the module docstring); no subtitles."""
    data_dir = data_dir.absolute()  # samples carry absolute video paths
    path = annotation_files(data_dir, options)[0]
    source = str(options.get("source", "frames"))
    if source not in SOURCES:
        raise BenchmarkDataError(f"SEED-Bench: unknown source {source!r}; expected one of {SOURCES}")
    try:
        dimensions = {int(d) for d in options.get("dimensions", sorted(DIMENSIONS))}
    except (TypeError, ValueError):
        raise BenchmarkDataError(f"SEED-Bench: dimensions must be a list of integers, got {options['dimensions']!r}") from None
    questions, names = _load(path)
    for i, item in enumerate(questions):
        where = f"{path}: questions[{i}]"
        if not isinstance(item, dict):
            raise BenchmarkDataError(f"{where}: expected a JSON object")
        if item.get("data_type") != "video" or _dimension(item, where) not in dimensions:
            continue
        yield _sample(item, where, names, data_dir, options, source)


def _load(path: Path) -> tuple[list[Any], dict[int, str]]:
    """The questions, and dimension id -> name (the file's ``question_type``, else the paper's)."""
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise BenchmarkDataError(f"{path}: expected {{'questions': [...], 'question_type': {{...}}}}")
    names = dict(DIMENSIONS)
    types = data.get("question_type")
    if isinstance(types, dict):
        names.update({int(v): str(k) for k, v in types.items() if isinstance(v, int)})
    return data["questions"], names


def _dimension(item: dict[str, Any], where: str) -> int:
    value = item.get("question_type_id")
    if not isinstance(value, int) or isinstance(value, bool):
        try:
            return int(str(value))
        except ValueError:
            raise BenchmarkDataError(f"{where}: question_type_id {value!r} is not an integer") from None
    return value


def _require(item: dict[str, Any], key: str, where: str) -> Any:
    value = item.get(key)
    if value is None:
        raise BenchmarkDataError(f"{where}: missing {key!r}")
    return value


def _sample(item: dict[str, Any], where: str, names: dict[int, str], data_dir: Path,
            options: dict[str, Any], source: str) -> EvalSample:
    """One video question."""
    qid = str(_require(item, "question_id", where))
    choices = [str(_require(item, key, where)) for key in CHOICES]
    answer = str(_require(item, "answer", where)).strip()
    if answer not in LETTERS[: len(choices)]:
        raise BenchmarkDataError(f"{where} ({qid}): answer {answer!r} is not one of A, B, C, D")
    dimension = _dimension(item, where)
    sample = EvalSample(
        id=qid, question=str(_require(item, "question", where)), options=choices, answer=answer,
        groups={"dimension": names.get(dimension, str(dimension))},
        extra={"data_id": item.get("data_id"), "segment": item.get("segment"), "question_type_id": dimension},
    )
    if source == "frames":
        folder = data_path(data_dir, options, "frame_folder", "SEED-Bench-video-image")
        sample.video, sample.error = resolve_video(folder, qid)
        sample.source_fps = 1.0
    else:
        _locate_clip(sample, item, f"{where} ({qid})", dimension, data_dir, options)
    return sample


def _locate_clip(sample: EvalSample, item: dict[str, Any], where: str, dimension: int, data_dir: Path,
                 options: dict[str, Any]) -> None:
    """Set the original video and, for dimensions 11-12, its segment in seconds."""
    if dimension not in VIDEO_FOLDERS:
        raise BenchmarkDataError(f"{where}: no video folder is known for dimension {dimension}")
    key, default = VIDEO_FOLDERS[dimension]
    folder = data_path(data_dir, options, key, default)
    sample.video, sample.error = resolve_video(folder, str(_require(item, "data_id", where)))
    segment = item.get("segment")
    if segment is None:
        return
    if (not isinstance(segment, list) or len(segment) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in segment)):
        raise BenchmarkDataError(f"{where}: segment must be [start, end], got {segment!r}")
    scale = float(options.get("breakfast_fps", 15)) if dimension in FRAME_SEGMENT_DIMENSIONS else 1.0
    start, end = segment[0] / scale, segment[1] / scale
    if not 0 <= start < end:
        raise BenchmarkDataError(f"{where}: segment {segment!r} is not an interval")
    sample.start, sample.end = start, end
