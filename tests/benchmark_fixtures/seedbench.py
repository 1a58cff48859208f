"""A tiny SEED-Bench v1: ``SEED-Bench.json`` and 8 frames per video question in
``SEED-Bench-video-image/<question_id>/`` (the reader's assumed layout of ``v1_video.zip``)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_fixtures import tiny_frames

QUESTION_TYPE = {"Scene Understanding": 1, "Text Understanding": 9, "Action Recognition": 10,
                 "Action Prediction": 11, "Procedure Understanding": 12}


def _question(qid: str, dim: int, answer: str, data_id: str, data_type: str = "video", **more) -> dict:
    return {"answer": answer, "choice_a": f"{qid} a", "choice_b": f"{qid} b", "choice_c": f"{qid} c",
            "choice_d": f"{qid} d", "data_id": data_id, "data_type": data_type,
            "question": f"What happens in {qid}?", "question_id": qid, "question_type_id": dim, **more}


QUESTIONS = [
    _question("101669", 5, "A", "1454426_2591111986", data_type="image"),  # an image question: skipped
    _question("v1738", 10, "B", "94328.webm"),
    _question("v1739", 10, "A", "94329.webm"),
    _question("v1962", 11, "D", "P03/P03_24.MP4", segment=[648.0, 658.0]),
    _question("v4397", 12, "C", "P06/cam01/P06_cereals.avi", segment=[18, 166]),
]


def write(root: Path) -> dict[str, str]:
    """Write the benchmark under ``root``; returns {question_id: correct letter} of the video questions."""
    root.mkdir(parents=True, exist_ok=True)
    data = {"questions": QUESTIONS, "question_type": QUESTION_TYPE}
    (root / "SEED-Bench.json").write_text(json.dumps(data), encoding="utf-8")
    videos = [q for q in QUESTIONS if q["data_type"] == "video"]
    for q in videos:
        tiny_frames(root / "SEED-Bench-video-image" / q["question_id"], 8, name="{index}.png")
    return {q["question_id"]: q["answer"] for q in videos}
