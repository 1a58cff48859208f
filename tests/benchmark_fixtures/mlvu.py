"""A tiny MLVU dev set: 1_plotQA and 4_count (two questions each), plus a generation file
(8_sub_scene.json) that the reader must skip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark_fixtures import tiny_video

ROWS: dict[str, list[dict[str, Any]]] = {
    "1_plotQA": [
        {"video": "movie101_66.mp4", "duration": 246, "question": "What color is the main male character?",
         "candidates": ["Yellow", "Red", "Green", "Blue"], "answer": "Yellow", "question_type": "plotQA"},
        {"video": "movie101_67.mp4", "duration": 310.5, "question": "Where does the story begin?",
         "candidates": ["A farm", "A ship", "A school", "A train"], "answer": "A school",
         "question_type": "plotQA"},
    ],
    "4_count": [
        {"video": "count_01.mp4", "duration": 180, "question": "How many times does the man jump?",
         "candidates": ["2", "3", "4", "5"], "answer": "3", "question_type": "count"},
        {"video": "count_02.mp4", "duration": 95, "question": "How many dogs appear?",
         "candidates": ["1", "2", "3", "4"], "answer": "4", "question_type": "count"},
    ],
}
GENERATION = [{"video": "subPlot_01.mp4", "duration": 500, "question": "Describe the scene.",
               "answer": "A man walks.", "question_type": "subPlot", "scoring_points": ["walks"]}]


def write(root: Path) -> dict[str, str]:
    """Write json/<task>.json and video/<task>/<file>; ``{sample id: correct letter}``."""
    (root / "json").mkdir(parents=True, exist_ok=True)
    (root / "json" / "8_sub_scene.json").write_text(json.dumps(GENERATION), encoding="utf-8")
    expected: dict[str, str] = {}
    for seed, (stem, rows) in enumerate(ROWS.items()):
        (root / "json" / f"{stem}.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
        for index, row in enumerate(rows):
            tiny_video(root / "video" / stem / row["video"], seed=seed + index)
            expected[f"{stem}/{index}"] = "ABCD"[row["candidates"].index(row["answer"])]
    return expected
