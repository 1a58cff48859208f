"""A tiny MVBench (``main`` branch layout): three task files, five questions.

action_sequence (star, bounded), episodic_reasoning (tvqa frame folder at 3 fps, bounded) and
object_existence (clevrer, no bounds; one candidate list of 3).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark_fixtures import tiny_frames, tiny_video

ROWS: dict[str, list[dict[str, Any]]] = {
    "action_sequence": [
        {"video": "ZS9XR.mp4", "question": "What happened after the person took the food?",
         "candidates": ["Ate the medicine.", "Tidied up the blanket.", "Put down the cup.", "Took the box."],
         "answer": "Tidied up the blanket.", "start": 0.5, "end": 1.5},
        {"video": "K2QPL.mp4", "question": "What did the person do first?",
         "candidates": ["Opened the door.", "Sat on the bed.", "Held the phone.", "Threw the towel."],
         "answer": "Opened the door.", "start": 0, "end": 2},
    ],
    "episodic_reasoning": [
        {"video": "s01e02_seg02_clip_07", "question": "Why did Sheldon leave the room?",
         "candidates": ["He was hungry.", "He was late.", "He heard a noise.", "He was tired.", "He was bored."],
         "answer": "He heard a noise.", "start": 1.0, "end": 2.5},
    ],
    "object_existence": [
        {"video": "video_10000.mp4", "question": "Are there any moving cylinders when the video ends?",
         "candidates": ["not sure", "yes", "no"], "answer": "no"},
        {"video": "video_10001.mp4", "question": "Is there a rubber sphere when the video begins?",
         "candidates": ["yes", "no", "not sure"], "answer": "yes"},
    ],
}
PREFIXES = {"action_sequence": "star/Charades_v1_480", "episodic_reasoning": "tvqa/frames_fps3_hq",
            "object_existence": "clevrer/video_validation"}
FRAME_COUNT = 9  # the tvqa folder: 3 s at 3 fps


def write(root: Path) -> dict[str, str]:
    """Write json/<task>.json and the videos under ``root``; ``{sample id: correct letter}``."""
    (root / "json").mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    for seed, (task, rows) in enumerate(ROWS.items()):
        (root / "json" / f"{task}.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
        for index, row in enumerate(rows):
            target = root / "video" / PREFIXES[task] / row["video"]
            if task == "episodic_reasoning":
                tiny_frames(target, FRAME_COUNT)
            else:
                tiny_video(target, seed=seed + index)
            expected[f"{task}/{index}"] = "ABCDE"[row["candidates"].index(row["answer"])]
    return expected
