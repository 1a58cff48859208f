"""A tiny LongVideoBench: ``lvb_val.json``, ``videos/`` and ``subtitles/`` in both JSON styles."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_fixtures import tiny_video

# Video A's subtitles use {"timestamp": [s, e], "text"} and start 100 s into the source video;
# video B's use {"start": "HH:MM:SS.fff", "end", "line"} and start 10 s in.
SUBTITLES_A = [
    {"timestamp": [100.5, 101.0], "text": "hello from the news"},
    {"timestamp": [101.0, None], "text": "until the end"},
]
SUBTITLES_B = [
    {"start": "00:00:10.250", "end": "00:00:11.000", "line": "first line"},
    {"start": "00:00:11.000", "end": "00:00:11.750", "line": "second line"},
]
QUESTIONS = [
    # (id, video, candidates, correct_choice, duration_group, question_category, topic_category)
    ("vidA_0", "A", ["a dog", "a bike", "a kite", "a ball"], 2, 15, "E2O", "NP-News-Programs"),
    ("vidA_1", "A", ["red", "green", "blue", "black", "white"], 0, 15, "S2E", "NP-News-Programs"),
    ("vidB_0", "B", ["once", "twice", "never"], 1, 60, "E2O", "KS-Knowledge"),
    ("vidB_1", "B", ["left", "right", "up", "down"], 3, 60, "T3O", "KS-Knowledge"),
]
VIDEOS = {"A": ("vidA.mp4", "vidA_en.json", 100.0, 1.5), "B": ("vidB.mp4", "vidB_en.json", 10.0, 2.0)}


def record(qid: str, video: str, candidates: list[str], choice: int, group: int, category: str,
           topic: str) -> dict:
    """One ``lvb_val.json`` entry."""
    video_path, subtitle_path, offset, duration = VIDEOS[video]
    return {
        "video_id": video_path.removesuffix(".mp4"), "id": qid, "question": f"In the video, what about {qid}?",
        "question_wo_referring_query": "what?", "candidates": candidates, "correct_choice": choice,
        "position": [1], "topic_category": topic, "question_category": category, "level": "L1-Perception",
        "video_path": video_path, "subtitle_path": subtitle_path, "duration_group": group,
        "starting_timestamp_for_subtitles": offset, "duration": duration, "view_count": 10,
    }


def write(root: Path) -> dict[str, str]:
    """Write the benchmark under ``root``; returns {id: correct letter}."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "lvb_val.json").write_text(json.dumps([record(*q) for q in QUESTIONS]), encoding="utf-8")
    (root / "subtitles").mkdir(exist_ok=True)
    for seed, (key, lines) in enumerate((("A", SUBTITLES_A), ("B", SUBTITLES_B))):
        video_path, subtitle_path, _, _ = VIDEOS[key]
        tiny_video(root / "videos" / video_path, seconds=2.0, seed=seed)
        (root / "subtitles" / subtitle_path).write_text(json.dumps(lines), encoding="utf-8")
    return {q[0]: "ABCDE"[q[3]] for q in QUESTIONS}
