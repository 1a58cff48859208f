"""A tiny Video-MME: five questions on three videos (short/medium/long), as the HF parquet.

``fFjv93ACGo8`` has an SRT whose lines are wrapped in ``<font>`` tags (as the official
subtitle.zip); ``Qb2xXzzeT1Y`` has none; ``mkvVideo001`` is stored as ``.mkv``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark_fixtures import tiny_video

PARQUET = "videomme/test-00000-of-00001.parquet"
JSON = "videomme/test.json"
SRT_CUES = ((0.0, 0.8, "Welcome to the kitchen."), (1.0, 1.8, "Now add the candles."))
SRT_VIDEO = "fFjv93ACGo8"


def _row(video: tuple[str, str, str, str], number: int, task_type: str, question: str,
         options: list[str], answer: str) -> dict[str, Any]:
    video_id, video_name, duration, domain = video
    return {"video_id": video_id, "duration": duration, "domain": domain, "sub_category": f"{domain} sub",
            "url": f"https://www.youtube.com/watch?v={video_name}", "videoID": video_name,
            "question_id": f"{video_id}-{number}", "task_type": task_type, "question": question,
            "options": options, "answer": answer}


_SHORT = ("001", SRT_VIDEO, "short", "Knowledge")
_MEDIUM = ("301", "Qb2xXzzeT1Y", "medium", "Sports Competition")
_LONG = ("601", "mkvVideo001", "long", "Life Record")
ROWS = [
    _row(_SHORT, 1, "Counting Problem", "Which decoration is the most numerous?",
         ["A. Apples.", "B. Candles.", "C. Berries.", "D. The three kinds are of the same number."], "C"),
    _row(_SHORT, 2, "OCR Problems", "What is written on the board?",
         ["A. Menu.", "B. Open.", "C. Closed.", "D. Sale."], "A"),
    _row(_MEDIUM, 1, "Action Recognition", "What does the player do after scoring?",
         ["A. Runs away.", "B. Waves.", "C. Kneels.", "D. Jumps."], "D"),
    _row(_MEDIUM, 2, "Temporal Reasoning", "When does the crowd cheer?",
         ["A. At the start.", "B. After the goal.", "C. At half time.", "D. Never."], "B"),
    _row(_LONG, 1, "Information Synopsis", "What is the video mainly about?",
         ["A. Cooking.", "B. Gardening.", "C. A trip to the sea.", "D. Repairing a bike."], "C"),
]


def srt_text() -> str:
    """The SRT of ``SRT_VIDEO``, every text line wrapped in Video-MME's <font> markup."""
    def stamp(seconds: float) -> str:
        return f"00:00:{int(seconds):02d},{round(seconds % 1 * 1000):03d}"

    return "".join(f'{i}\n{stamp(start)} --> {stamp(end)}\n<font color="white" size=".72c">{text}</font>\n\n'
                   for i, (start, end, text) in enumerate(SRT_CUES, 1))


def write(root: Path, annotations: str = "parquet") -> dict[str, str]:
    """Write the annotations (``"parquet"`` via pandas, or ``"json"``), videos and one SRT file.

    Returns ``{question_id: correct letter}``.
    """
    (root / "videomme").mkdir(parents=True, exist_ok=True)
    if annotations == "parquet":
        import pandas

        pandas.DataFrame(ROWS).to_parquet(root / PARQUET, index=False)
    else:
        (root / JSON).write_text(json.dumps(ROWS, indent=1), encoding="utf-8")
    suffixes = {SRT_VIDEO: ".mp4", "Qb2xXzzeT1Y": ".mp4", "mkvVideo001": ".mkv"}
    for seed, (name, suffix) in enumerate(suffixes.items()):
        tiny_video(root / "data" / f"{name}{suffix}", seed=seed)
    (root / "subtitle").mkdir(exist_ok=True)
    (root / "subtitle" / f"{SRT_VIDEO}.srt").write_text(srt_text(), encoding="utf-8")
    return {row["question_id"]: row["answer"] for row in ROWS}
