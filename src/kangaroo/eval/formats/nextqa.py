"""NExT-QA multiple choice (Xiao et al. 2021): causal, temporal and descriptive questions.

Files read under ``data_dir`` (names are ``data`` options of the task):

- ``annotations`` (default ``nextqa``) / ``<split>.csv`` with ``split`` = ``test`` (default),
  ``val`` or ``train``: the official CSV, header
  ``video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4``. Fields used:
  ``video`` and ``qid`` (the sample id is ``f"{video}_{qid}"``), ``question`` (lowercase and
  without "?"; kept as given), ``a0`` .. ``a4``, ``answer`` (the index of the correct option) and
  ``type``; ``frame_count``, ``width`` and ``height`` are kept in ``extra``.
- ``video_map`` (default ``nextqa/map_vid_vidorID.json``, else ``map_vid_vidorID.json`` at the
  top): ``{video: "<dir>/<vidorID>"}``.
- ``videos`` (default ``NExTVideo``) in the ``layout`` given by the data option:
  ``official`` = ``<videos>/<dir>/<vidorID>.mp4`` through the map (VidOR's layout);
  ``flat`` = ``<videos>/<video>.mp4`` (lmms-eval's ``videos.zip``). Unset: ``official`` when the
  map file exists, else ``flat``.

Groups: ``type`` (CW, CH, TN, TC, DC, DL, DO; TP is merged into TN as the official
``eval_mc.py`` does, the original type is kept in ``extra["type"]``) and ``group`` (C, T or D).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kangaroo.eval.formats import BenchmarkDataError, data_path, load_json
from kangaroo.eval.samples import LETTERS, EvalSample, resolve_video

COLUMNS = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type",
           "a0", "a1", "a2", "a3", "a4")
OPTION_COLUMNS = ("a0", "a1", "a2", "a3", "a4")
TYPES = ("CW", "CH", "TN", "TC", "TP", "DC", "DL", "DO")
MERGED_TYPES = {"TP": "TN"}
SPLITS = ("train", "val", "test")
LAYOUTS = ("official", "flat")

Locator = Callable[[str], tuple[str, str | None]]  # video id -> (path, error)


def annotation_files(root: Path, options: dict[str, Any]) -> list[Path]:
    """The CSV of the task's split."""
    return [data_path(root, options, "annotations", "nextqa") / f"{options.get('split', 'test')}.csv"]


def read(data_dir: Path, options: dict[str, Any], subtitles: bool) -> Iterator[EvalSample]:
    """NExT-QA questions of one split in file order; ``subtitles`` is ignored (none)."""
    data_dir = data_dir.absolute()  # samples carry absolute video paths
    split = str(options.get("split", "test"))
    if split not in SPLITS:
        raise BenchmarkDataError(f"NExT-QA: unknown split {split!r}; expected one of {SPLITS}")
    path = annotation_files(data_dir, options)[0]
    locate = _video_locator(data_dir, options)
    for line_no, row in _load_rows(path):
        yield _sample(row, f"{path}: line {line_no}", locate)


def _load_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` for each data row; the header must hold the official columns."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise BenchmarkDataError(f"{path}: annotation file not found") from None
    except OSError as exc:
        raise BenchmarkDataError(f"{path}: cannot read ({exc})") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise BenchmarkDataError(f"{path}: line 1: the header lacks {missing}; expected {','.join(COLUMNS)}")
            for row in reader:
                yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise BenchmarkDataError(f"{path}: line {reader.line_num}: not valid CSV ({exc})") from None


def _video_locator(data_dir: Path, options: dict[str, Any]) -> Locator:
    """A function ``video id -> (path, error)`` for the chosen layout."""
    videos = data_path(data_dir, options, "videos", "NExTVideo")
    map_path = _map_path(data_dir, options)
    layout = str(options.get("layout") or ("official" if map_path.is_file() else "flat"))
    if layout not in LAYOUTS:
        raise BenchmarkDataError(f"NExT-QA: unknown layout {layout!r}; expected one of {LAYOUTS}")
    if layout == "flat":
        return lambda video: resolve_video(videos, f"{video}.mp4")
    mapping = load_json(map_path)
    if not isinstance(mapping, dict):
        raise BenchmarkDataError(f"{map_path}: expected a JSON object {{video: 'dir/vidorID'}}")

    def official(video: str) -> tuple[str, str | None]:
        relative = mapping.get(video)
        if relative is None:
            return str(videos / f"{video}.mp4"), f"video not found: {video} has no entry in {map_path}"
        return resolve_video(videos, f"{relative}.mp4")

    return official


def _map_path(data_dir: Path, options: dict[str, Any]) -> Path:
    """The user's ``video_map``, else the first default location that exists."""
    if options.get("video_map"):
        return data_path(data_dir, options, "video_map", "")
    candidates = [data_dir / "nextqa" / "map_vid_vidorID.json", data_dir / "map_vid_vidorID.json"]
    return next((p for p in candidates if p.is_file()), candidates[0])


def _sample(row: dict[str, str], where: str, locate: Locator) -> EvalSample:
    """One CSV row."""
    values = {c: (row.get(c) or "").strip() for c in COLUMNS}
    empty = [c for c in ("video", "question", "answer", "qid", "type", *OPTION_COLUMNS) if not values[c]]
    if empty or None in row:
        raise BenchmarkDataError(f"{where}: empty {empty} or extra cells; expected the columns {','.join(COLUMNS)}")
    kind = values["type"]
    if kind not in TYPES:
        raise BenchmarkDataError(f"{where}: unknown type {kind!r}; expected one of {TYPES}")
    options = [values[c] for c in OPTION_COLUMNS]
    if not values["answer"].isdigit() or int(values["answer"]) >= len(options):
        raise BenchmarkDataError(f"{where}: answer {values['answer']!r} is not an index 0-{len(options) - 1}")
    merged = MERGED_TYPES.get(kind, kind)
    video, error = locate(values["video"])
    return EvalSample(
        id=f"{values['video']}_{values['qid']}", question=values["question"], options=options,
        answer=LETTERS[int(values["answer"])], video=video, groups={"type": merged, "group": merged[0]},
        error=error,
        extra={"type": kind, **{c: values[c] for c in ("frame_count", "width", "height")}},
    )
