"""Reference backends: `OracleBackend` answers every question correctly (it checks that a
benchmark's data, prompt and scoring line up: it must score 100%), `ConstantBackend` always
gives the same reply (a chance-level baseline). Both read frames for real, so a run with
them also checks that every video of the benchmark decodes."""

from __future__ import annotations

from typing import Any

import numpy as np

from kangaroo.eval.samples import EvalSample
from kangaroo.video.sampling import FrameSampling

from .base import GenerationRequest


class _FrameCounter:
    """Loads only the timestamps of the frames a real model would see (decoding them, tiny)."""

    name = "reference"
    batch_size = 8

    def load_video(self, sample: EvalSample, sampling: FrameSampling) -> tuple[Any, np.ndarray]:
        from kangaroo.video import load_video

        clip = load_video(sample.video, sampling, size=(32, 32), seek="keyframe", **sample.load_kwargs())
        return None, np.asarray(clip.timestamps)


class OracleBackend(_FrameCounter):
    """Replies with the correct answer in the official style (``"B"``, or ``"3.1 seconds"``)."""

    name = "oracle"

    def describe(self) -> dict[str, Any]:
        return {"backend": "oracle", "note": "answers from the ground truth: a check of the harness"}

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        replies = []
        for request in requests:
            answer = request.sample.answer
            if isinstance(answer, list):
                reply = f"From {answer[0]} to {answer[1]} seconds."
            elif isinstance(answer, float | int):
                reply = f"At {answer} seconds."
            else:
                reply = f"{answer or 'A'})" if request.assistant_prefix.endswith("(") else str(answer or "A")
            replies.append(reply)
        return replies


class ConstantBackend(_FrameCounter):
    """Always replies ``reply`` (default ``"A"``)."""

    name = "constant"

    def __init__(self, reply: str = "A") -> None:
        self.reply = reply

    def describe(self) -> dict[str, Any]:
        return {"backend": "constant", "reply": self.reply}

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        return [self.reply for _ in requests]
