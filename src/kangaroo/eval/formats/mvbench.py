"""MVBench (HF ``OpenGVLab/MVBench``): 20 multiple-choice tasks on short clips.

Reads ``<data_dir>/<annotations>/<task>.json`` (default ``json/``) for each of the 20 tasks whose
file is present: a JSON list of ``{"video", "question", "candidates", "answer"}`` records, the
answer being the text of one candidate, plus ``start``/``end`` (seconds) for the bounded tasks.
Videos live at ``<data_dir>/<videos>/<prefix>/<video>`` (default ``video/``) with the per-task
prefix of `TASKS`.

Task data options: ``annotations``, ``videos``, and ``layout``:

- ``main`` (default): the official layout of the ``main`` branch. The star, sta and tvqa tasks
  carry clip bounds; ``episodic_reasoning`` is a folder of frames (``00001.jpg``...) at 3 fps.
- ``lmms_eval``: the ``video`` branch lmms-eval downloads, whose star/sta/tvqa clips are already
  cut to the bounds (which are then ignored) and whose ssv2/nturgbd videos are converted to mp4.

In both layouts a missing clevrer or star video is also looked for under ``data0613/<prefix>/``
(as lmms-eval does). Also holds the helpers MLVU shares (same record shape).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path, load_json
from kangaroo.eval.samples import EvalSample, answer_letter, resolve_video

LAYOUTS = ("main", "lmms_eval")
FRAME_FOLDER_FPS = 3.0  # tvqa/frames_fps3_hq: frames extracted at 3 fps (official get_index)
FALLBACK_FOLDER = "data0613"
FALLBACK_SOURCES = ("clevrer", "star")
CHOICE_FIELDS = ("video", "question", "candidates", "answer")


@dataclass(frozen=True)
class MVBenchTask:
    """Where one task's videos live, and how its clips are cut."""

    prefix: str  # folder under video/ on the `main` branch
    segment_prefix: str  # the lmms-eval `video` branch's folder
    bounded: bool = False  # records carry start/end (main layout only)
    frame_folder: bool = False  # each video is a folder of frames at FRAME_FOLDER_FPS (main only)


_STAR = MVBenchTask("star/Charades_v1_480", "star/Charades_segment", bounded=True)
_CLEVRER = MVBenchTask("clevrer/video_validation", "clevrer/video_validation")
_PERCEPTION = MVBenchTask("perception/videos", "perception/videos")

# The official task -> video folder table (Ask-Anything mvbench.ipynb; lmms-eval for the `video` branch).
TASKS: dict[str, MVBenchTask] = {
    "action_sequence": _STAR,
    "action_prediction": _STAR,
    "action_antonym": MVBenchTask("ssv2_video", "ssv2_video_mp4"),
    "fine_grained_action": MVBenchTask("Moments_in_Time_Raw/videos", "Moments_in_Time_Raw/videos"),
    "unexpected_action": MVBenchTask("FunQA_test/test", "FunQA_test/test"),
    "object_existence": _CLEVRER,
    "object_interaction": _STAR,
    "object_shuffle": _PERCEPTION,
    "moving_direction": _CLEVRER,
    "action_localization": MVBenchTask("sta/sta_video", "sta/sta_video_segment", bounded=True),
    "scene_transition": MVBenchTask("scene_qa/video", "scene_qa/video"),
    "action_count": _PERCEPTION,
    "moving_count": _CLEVRER,
    "moving_attribute": _CLEVRER,
    "state_change": _PERCEPTION,
    "fine_grained_pose": MVBenchTask("nturgbd", "nturgbd_convert"),
    "character_order": _PERCEPTION,
    "egocentric_navigation": MVBenchTask("vlnqa", "vlnqa"),
    "episodic_reasoning": MVBenchTask("tvqa/frames_fps3_hq", "tvqa/video_fps3_hq_segment", bounded=True,
                                      frame_folder=True),
    "counterfactual_inference": _CLEVRER,
}


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The 20 task files, in the official order (a download may hold only some)."""
    annotations = data_path(root, options, "annotations", "json")
    return [annotations / f"{task}.json" for task in TASKS]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """MVBench samples, task by task in the official order (ids ``<task>/<row index>``)."""
    root = data_dir.expanduser().absolute()
    layout = str(options.get("layout", "main"))
    if layout not in LAYOUTS:
        raise BenchmarkDataError(f"mvbench: unknown layout {layout!r}; choose one of {list(LAYOUTS)}")
    videos = data_path(root, options, "videos", "video")
    present = [path for path in annotation_files(root, options) if path.is_file()]
    if not present:
        raise BenchmarkDataError(f"{data_path(root, options, 'annotations', 'json')}: none of the 20 MVBench task "
                                 "files (<task>.json) is there")
    for path in present:
        for index, row in enumerate(load_rows(path)):
            yield _sample(path.stem, row, index, path, videos, layout)


def _sample(task: str, row: Any, index: int, path: Path, videos: Path, layout: str) -> EvalSample:
    spec = TASKS[task]
    question, candidates, letter = parse_choice_row(row, path, index)
    prefix = spec.prefix if layout == "main" else spec.segment_prefix
    video, error = locate_with_fallback(videos, prefix, row["video"])
    sample = EvalSample(id=f"{task}/{index}", question=question, options=candidates, answer=letter,
                        video=video, error=error, groups={"task": task})
    if layout == "main":
        if spec.bounded:
            sample.start, sample.end = _bounds(row, f"{path}: row {index}")
        if spec.frame_folder:
            sample.source_fps = FRAME_FOLDER_FPS
            if spec.bounded:
                # the official sampler reads file k (00001.jpg, ...) as the frame at k / fps, while a
                # frame folder's first file is shown at 0 s: shift the bounds by one frame to match
                shift = 1.0 / FRAME_FOLDER_FPS
                sample.start, sample.end = max(0.0, sample.start - shift), max(0.0, sample.end - shift)
    return sample


def locate_with_fallback(videos: Path, prefix: str, name: str) -> tuple[str, str | None]:
    """``(path, error)`` of ``videos/prefix/name``, else of ``videos/data0613/prefix/name`` (clevrer, star)."""
    path, error = resolve_video(videos, prefix, name)
    if error is not None and prefix.split("/", 1)[0] in FALLBACK_SOURCES:
        fallback, fallback_error = resolve_video(videos, FALLBACK_FOLDER, prefix, name)
        if fallback_error is None:
            return fallback, None
    return path, error


def _bounds(row: dict[str, Any], where: str) -> tuple[float, float]:
    """The record's ``start`` and ``end`` seconds."""
    values = []
    for key in ("start", "end"):
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BenchmarkDataError(f"{where}: {key!r} must be a number of seconds, got {value!r}")
        values.append(float(value))
    return values[0], values[1]


def load_rows(path: Path) -> list[Any]:
    """A JSON file holding a list of records; BenchmarkDataError when missing or not a list."""
    rows = load_json(path)
    if not isinstance(rows, list):
        raise BenchmarkDataError(f"{path}: expected a JSON list of questions, got {type(rows).__name__}")
    return rows


def parse_choice_row(row: Any, path: Path, index: int) -> tuple[str, list[str], str]:
    """``(question, candidates, answer letter)`` of an MVBench/MLVU record whose answer is option text.

    Checks that ``video`` names a file. Raises BenchmarkDataError naming the file and row index.
    """
    where = f"{path}: row {index}"
    if not isinstance(row, dict):
        raise BenchmarkDataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [key for key in CHOICE_FIELDS if key not in row]
    if missing:
        raise BenchmarkDataError(f"{where}: missing {missing}")
    if not isinstance(row["video"], str) or not row["video"] or os.path.isabs(row["video"]):
        raise BenchmarkDataError(f"{where}: 'video' must be a relative file name, got {row['video']!r}")
    if not isinstance(row["question"], str):
        raise BenchmarkDataError(f"{where}: 'question' must be a string")
    candidates = row["candidates"]
    if not isinstance(candidates, list) or len(candidates) < 2 or not all(_is_scalar(c) for c in candidates):
        raise BenchmarkDataError(f"{where}: 'candidates' must be a list of at least 2 strings")
    options = [str(c) for c in candidates]
    if not _is_scalar(row["answer"]):
        raise BenchmarkDataError(f"{where}: 'answer' must be a string")
    try:
        letter = answer_letter(options, str(row["answer"]), where)
    except ValueError as exc:
        raise BenchmarkDataError(str(exc)) from None
    return row["question"], options, letter


def _is_scalar(value: Any) -> bool:
    """A string or a number (some option lists hold counts): anything `str` renders faithfully."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)
