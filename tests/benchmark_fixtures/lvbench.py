"""A tiny LVBench: ``video_info.meta.jsonl`` (one line per video) and ``videos/<key>.mp4``."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_fixtures import tiny_video

OPTIONS = "\n(A) a referee\n(B) a goal\n(C) a red card\n(D) a corner"
VIDEOS = [
    {"key": "hbHZfdD3GRg", "type": "sport", "video_info": {"duration_minutes": 78.5}, "qa": [
        {"uid": "1536", "question": "What happened after the foul?" + OPTIONS, "answer": "B",
         "question_type": ["event understanding", "reasoning"], "time_reference": "12:30-13:05"},
        {"uid": "1537", "question": "Who blew the whistle?" + OPTIONS, "answer": "A",
         "question_type": ["entity recognition"], "time_reference": "01:00-01:10"},
        {"uid": "1538", "question": "What was shown last?" + OPTIONS, "answer": "D",
         "question_type": ["summarization"], "time_reference": ""},
    ]},
    {"key": "x7Kq2LmN0pQ", "type": "cartoon", "video_info": {"duration_minutes": 64.0}, "qa": [
        {"uid": "2001", "question": "When does the cat appear?\n(A) 00:10\n(B) 05:00\n(C) 20:00", "answer": "C",
         "question_type": ["temporal grounding"], "time_reference": "20:00-20:05"},
        {"uid": "2002", "question": "What is written on the sign?" + OPTIONS, "answer": "B",
         "question_type": ["key information retrieval", "entity recognition"], "time_reference": "30:00"},
    ]},
]


def write(root: Path) -> dict[str, str]:
    """Write the benchmark under ``root``; returns {uid: correct letter}."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(video) for video in VIDEOS]
    (root / "video_info.meta.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for seed, video in enumerate(VIDEOS):
        tiny_video(root / "videos" / f"{video['key']}.mp4", seconds=1.0, seed=seed)
    return {qa["uid"]: qa["answer"] for video in VIDEOS for qa in video["qa"]}
