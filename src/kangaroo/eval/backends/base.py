"""What the harness asks of a model: load a sample's frames, then answer a batch of prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kangaroo.eval.samples import EvalSample
from kangaroo.video.sampling import FrameSampling


@dataclass
class GenerationRequest:
    """One prompt for a backend.

    video:            what the backend's ``load_video`` returned for this sample.
    system:           the system message ("" for none).
    user:             the user's text, which follows the video in the same message.
    assistant_prefix: the reply starts with this text; the backend returns only the continuation.
    max_new_tokens:   the reply's budget (decoding is greedy).
    history:          earlier turns of the conversation, ``(user text, assistant reply)`` each; the
                      video goes with the first user turn (`conversation`).
    """

    sample: EvalSample
    video: Any
    system: str
    user: str
    assistant_prefix: str = ""
    max_new_tokens: int = 32
    history: tuple[tuple[str, str], ...] = ()


def conversation(request: GenerationRequest, video_parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat messages of ``request`` up to its last user turn: the system message, the earlier
    turns, the question; ``video_parts`` (the backend's content parts for the video) open the first
    user turn. The assistant prefix is the backend's to add."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    turns = [*request.history, (request.user, None)]
    for i, (user, reply) in enumerate(turns):
        messages.append({"role": "user", "content": [*(video_parts if i == 0 else []), {"type": "text", "text": user}]})
        if reply is not None:
            messages.append({"role": "assistant", "content": reply})
    return messages


class Backend(Protocol):
    """A model under evaluation. ``batch_size`` requests go to ``generate`` at once."""

    name: str
    batch_size: int

    def describe(self) -> dict[str, Any]:
        """What to record in the results manifest (model path or endpoint, settings)."""
        ...

    def load_video(self, sample: EvalSample, sampling: FrameSampling) -> tuple[Any, np.ndarray]:
        """``(video payload for a GenerationRequest, timestamps (T,) seconds of the frames ``sampling`` picks)``.

        Raises a `kangaroo.video.VideoError` when the video cannot be read.
        """
        ...

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        """The reply to each request, in order (greedy decoding)."""
        ...
