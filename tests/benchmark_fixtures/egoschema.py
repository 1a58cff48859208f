"""A tiny EgoSchema: five questions in questions.json, three of them in subset_answers.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark_fixtures import tiny_video

SUBSET_ANSWERS = {"0074f737-11cb-497d-8d07-77c3a8127391": 3, "00b9a0de-c59e-49cb-a127-6081e2fb8c8e": 0,
                  "01a4c9d6-3c2a-4bd4-a3b9-bf2f3ca9c6b1": 4}
OTHERS = ("001934bb-81bd-4cd8-a574-0472ef3f6678", "02a2b6b0-1c5f-4a13-8f0e-6ea1c0d9e7f2")


def _question(q_uid: str, number: int) -> dict[str, Any]:
    row: dict[str, Any] = {"q_uid": q_uid, "google_drive_id": f"drive{number}",
                           "question": f"What is C's main goal in clip {number}?"}
    row.update({f"option {i}": f"Option {i} of clip {number}." for i in range(5)})
    return row


def write(root: Path) -> dict[str, str]:
    """Write questions.json, subset_answers.json and videos/<q_uid>.mp4; ``{subset q_uid: letter}``."""
    root.mkdir(parents=True, exist_ok=True)
    uids = [OTHERS[0], *SUBSET_ANSWERS, OTHERS[1]]
    questions = [_question(q_uid, number) for number, q_uid in enumerate(uids)]
    (root / "questions.json").write_text(json.dumps(questions, indent=1), encoding="utf-8")
    (root / "subset_answers.json").write_text(json.dumps(SUBSET_ANSWERS, indent=1), encoding="utf-8")
    for seed, q_uid in enumerate(uids):
        tiny_video(root / "videos" / f"{q_uid}.mp4", seconds=1.0, seed=seed)
    return {q_uid: "ABCDE"[index] for q_uid, index in SUBSET_ANSWERS.items()}
