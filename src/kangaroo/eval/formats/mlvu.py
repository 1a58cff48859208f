"""MLVU dev (HF ``MLVU/MVLU``, folder ``MLVU/``): the 7 multiple-choice tasks on long videos.

Reads ``<data_dir>/<annotations>/<task>.json`` (default ``json/``) for each of `TASK_FILES`
present: a JSON list of ``{"video", "question", "candidates", "answer", "question_type"}``
records (``answer`` is the text of one candidate; ``duration`` seconds is kept in ``extra``).
The generation tasks (``8_sub_scene``, ``9_summary``) are never read. Videos:
``<data_dir>/<videos>/<task>/<video>`` (default ``video/``). Groups: ``{"task": question_type}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path
from kangaroo.eval.formats.mvbench import load_rows, parse_choice_row
from kangaroo.eval.samples import EvalSample, resolve_video

TASK_FILES = ("1_plotQA", "2_needle", "3_ego", "4_count", "5_order", "6_anomaly_reco", "7_topic_reasoning")


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The 7 multiple-choice task files (a download may hold only some)."""
    annotations = data_path(root, options, "annotations", "json")
    return [annotations / f"{stem}.json" for stem in TASK_FILES]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """MLVU multiple-choice samples, task file by task file (ids ``<file stem>/<row index>``)."""
    root = data_dir.expanduser().absolute()
    videos = data_path(root, options, "videos", "video")
    present = [path for path in annotation_files(root, options) if path.is_file()]
    if not present:
        raise BenchmarkDataError(f"{data_path(root, options, 'annotations', 'json')}: none of the MLVU multiple-choice files "
                                 f"({', '.join(s + '.json' for s in TASK_FILES)}) is there")
    for path in present:
        for index, row in enumerate(load_rows(path)):
            yield _sample(row, index, path, videos)


def _sample(row: Any, index: int, path: Path, videos: Path) -> EvalSample:
    question, candidates, letter = parse_choice_row(row, path, index)
    task = row.get("question_type")
    if not isinstance(task, str) or not task:
        raise BenchmarkDataError(f"{path}: row {index}: 'question_type' must be a non-empty string")
    video, error = resolve_video(videos, path.stem, row["video"])
    extra = {"duration": float(row["duration"])} if isinstance(row.get("duration"), int | float) else {}
    return EvalSample(id=f"{path.stem}/{index}", question=question, options=candidates, answer=letter,
                      video=video, error=error, groups={"task": task}, extra=extra)
