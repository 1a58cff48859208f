"""A tiny NExT-QA (MC): ``nextqa/test.csv``, ``nextqa/map_vid_vidorID.json`` and ``NExTVideo/<dir>/<id>.mp4``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from benchmark_fixtures import tiny_video

HEADER = ["video", "frame_count", "width", "height", "question", "answer", "qid", "type",
          "a0", "a1", "a2", "a3", "a4"]
VIDEO_DIRS = {"4010069381": "0101", "3238737531": "1102"}
ROWS = [
    ["4010069381", "369", "640", "480", "how do the two man play the instrument", "0", "6", "CH",
     "roll the handle", "tap their feet", "strum the string", "hit with sticks", "pat with hand"],
    ["4010069381", "369", "640", "480", "what does the man do after playing", "3", "7", "TP",
     "sit down", "walk away", "clap", "bow", "sing"],
    ["4010069381", "369", "640", "480", "where are the men", "2", "8", "DL",
     "kitchen", "beach", "stage", "car", "park"],
    ["3238737531", "120", "320", "240", "why did the girl fall", "1", "0", "CW",
     "tired", "tripped over the toy", "pushed", "dancing", "sleepy"],
    ["3238737531", "120", "320", "240", "what does the girl do before falling", "4", "1", "TN",
     "eat", "drink", "read", "sing", "run"],
]


def write(root: Path) -> dict[str, str]:
    """Write the benchmark under ``root`` (official layout); returns {video_qid: correct letter}."""
    folder = root / "nextqa"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "test.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    mapping = {video: f"{d}/{video}" for video, d in VIDEO_DIRS.items()}
    (folder / "map_vid_vidorID.json").write_text(json.dumps(mapping), encoding="utf-8")
    for seed, relative in enumerate(mapping.values()):
        tiny_video(root / "NExTVideo" / f"{relative}.mp4", seconds=1.0, seed=seed)
    return {f"{row[0]}_{row[6]}": "ABCDE"[int(row[5])] for row in ROWS}
