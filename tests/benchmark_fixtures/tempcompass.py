"""A tiny TempCompass multi-choice set: two videos (one reversed), three dimensions, five questions."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_fixtures import tiny_video

QUESTIONS = {
    "1034419625": {
        "direction": [
            {"question": "What is the direction of the man?\nA. moving towards the camera\n"
                         "B. moving from right to left\nC. moving away from the camera\nD. moving from left to right",
             "answer": "B. moving from right to left"},
        ],
        "speed": [
            {"question": "How fast does the man walk?\nA. slowly\nB. at normal speed\nC. fast",
             "answer": "C. fast"},
            {"question": "Does the car speed up?\nA. it speeds up\nB. it slows down\nC. constant speed",
             "answer": "A. it speeds up"},
        ],
    },
    "1034419625_reverse": {
        "direction": [
            {"question": "What is the direction of the man?\nA. moving towards the camera\n"
                         "B. moving from right to left\nC. moving away from the camera\nD. moving from left to right",
             "answer": "D. moving from left to right"},
        ],
        "action": [
            {"question": "What is the man doing?\nA. dancing\nB. walking\nC. cooking\nD. swimming",
             "answer": "B. walking"},
        ],
    },
}


def write(root: Path) -> dict[str, str]:
    """Write questions/multi-choice.json and videos/<video_id>.mp4; ``{sample id: correct letter}``."""
    (root / "questions").mkdir(parents=True, exist_ok=True)
    (root / "questions" / "multi-choice.json").write_text(json.dumps(QUESTIONS, indent=1), encoding="utf-8")
    expected: dict[str, str] = {}
    for seed, (video_id, dims) in enumerate(QUESTIONS.items()):
        tiny_video(root / "videos" / f"{video_id}.mp4", seed=seed)
        for dim, items in dims.items():
            expected.update({f"{video_id}/{dim}/{i}": item["answer"][0] for i, item in enumerate(items)})
    return expected
