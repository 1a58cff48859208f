"""Visual tokens computed once per record when the whole vision side is frozen.

A stage that trains only the LLM (the bundled recipe's instruction stage, or any recipe whose
``trainable`` leaves out ``vision_tower``, ``patchify`` and ``projector``) sees the same visual
tokens for a record every epoch: uniform and fps sampling pick the same frames, and the frozen
tower, patchify and projector map them to the same tokens. Decoding the video and running the
tower again each epoch is then wasted work (on 2 CPU cores it is most of a step). `VisualTokenCache`
keeps each record's tokens in memory after its first visit; the record encoder hands them to the
batch instead of frames, and the model takes them as ``video_features``.

Records with still images are not cached: each visit draws the image a new random timestamp,
which the temporal embedding turns into different tokens. Memory: one float per visual token
and LLM channel, e.g. 15,000 records x 128 tokens x 128 channels x 4 bytes = 1 GB.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import torch

VISION_MODULES = ("vision_tower", "patchify", "projector")  # what must be frozen for the cache to be exact


def vision_is_frozen(model: torch.nn.Module) -> bool:
    """True when no parameter of the vision tower, patchify or projector is trained."""
    return not any(p.requires_grad for name in VISION_MODULES for p in getattr(model, name).parameters())


@dataclass(frozen=True)
class CachedVideos:
    """One record's videos: frames sampled per video, and each video's visual tokens ``(N_v, D)``."""

    frame_counts: list[int]
    tokens: list[torch.Tensor]


class VisualTokenCache:
    """Each record's visual tokens, one ``(N_v, D)`` tensor per video, keyed by record index;
    filled from any thread (the record encoder's workers), read without a lock."""

    def __init__(self, model: torch.nn.Module, autocast: torch.dtype | None = None) -> None:
        if not vision_is_frozen(model):
            raise ValueError("visual tokens can only be cached when vision_tower, patchify and projector are frozen")
        self.model = model
        self.autocast = autocast  # the training step's autocast dtype: the tokens are computed as it would
        self._videos: dict[int, CachedVideos] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._videos)

    def get(self, index: int) -> CachedVideos | None:
        return self._videos.get(index)

    def compute(self, pixel_values: torch.Tensor, timestamps: torch.Tensor, frame_counts: Iterable[int]) -> CachedVideos:
        """The visual tokens of one record's videos (frames ``(T, 3, S, S)``, times ``(T,)``)."""
        counts = [int(c) for c in frame_counts]
        device = next(self.model.parameters()).device
        with torch.no_grad(), torch.autocast(device.type, dtype=self.autocast, enabled=self.autocast is not None):
            tokens = self.model.get_video_features(pixel_values.to(device), timestamps.to(device), counts)
        return CachedVideos(counts, [t.detach().cpu() for t in tokens])

    def put(self, index: int, videos: CachedVideos) -> None:
        with self._lock:
            self._videos[index] = videos
