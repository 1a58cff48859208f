"""Evaluate a kangaroo checkpoint: the same processor, sampling and chat template as chat."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kangaroo.eval.samples import EvalSample
from kangaroo.video.sampling import FrameSampling

from .base import GenerationRequest, conversation


@dataclass(eq=False)  # compared and hashed by identity: one loaded clip, one set of features
class LoadedVideo:
    """A sample's frames for the model; ``features`` is filled by the first prompt that needs
    them, so further questions about the same loaded clip skip the vision encoder."""

    pixel_values: torch.Tensor  # (T, 3, S, S)
    timestamps: torch.Tensor  # (T,)
    features: torch.Tensor | None = None  # (N, D)


class KangarooBackend:
    """A saved `KangarooForCausalLM` with its processor (or, with ``model_dir=None``, the
    random-weights tiny model). ``batch_size`` prompts are generated together (left-padded;
    greedy answers equal one-at-a-time answers)."""

    def __init__(self, model_dir: str | os.PathLike[str] | None, device: str = "cpu", dtype: Any = None,
                 batch_size: int = 1) -> None:
        from kangaroo.inference.loading import load_chat_model, model_name

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.processor, self.is_random = load_chat_model(model_dir, device=device, dtype=dtype)
        self.model_dir = None if model_dir is None else os.fspath(model_dir)
        self.device = device
        self.batch_size = batch_size
        self.name = "kangaroo:" + model_name(self.model_dir)

    def describe(self) -> dict[str, Any]:
        config = self.model.config
        return {"backend": "kangaroo", "model_dir": self.model_dir, "random_weights": self.is_random,
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "projector": getattr(config, "projector_type", None), "image_size": self.processor.layout.image_size,
                "device": self.device, "dtype": str(next(self.model.parameters()).dtype), "batch_size": self.batch_size}

    def load_video(self, sample: EvalSample, sampling: FrameSampling) -> tuple[Any, np.ndarray]:
        processor = self.processor.with_sampling(sampling)
        pixel_values, timestamps = processor.load_video_frames(sample.video, **sample.load_kwargs())
        return LoadedVideo(pixel_values, timestamps), timestamps.numpy().astype(np.float64)

    def _input_ids(self, request: GenerationRequest, frame_count: int) -> list[int]:
        messages = conversation(request, [{"type": "video"}])
        ids = self.processor.encode(messages, [frame_count])[0].tolist()
        return ids + (self.processor.encode_text(request.assistant_prefix) if request.assistant_prefix else [])

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        from kangaroo.inference.generation import greedy_answers

        videos: list[LoadedVideo] = [r.video for r in requests]
        self._encode([v for v in dict.fromkeys(videos) if v.features is None])  # each clip once
        prompts = [self._input_ids(r, int(v.pixel_values.shape[0])) for r, v in zip(requests, videos, strict=True)]
        features = torch.cat([v.features for v in videos])  # (sum N, D), in prompt order
        return greedy_answers(self.model, self.processor, prompts, features, [r.max_new_tokens for r in requests])

    def _encode(self, videos: list[LoadedVideo]) -> None:
        """Run the vision branch once over all of ``videos`` and keep each one's features."""
        if not videos:
            return
        device = next(self.model.parameters()).device
        pixel_values = torch.cat([v.pixel_values for v in videos]).to(device)  # (sum T, 3, S, S)
        timestamps = torch.cat([v.timestamps for v in videos]).to(device)  # (sum T,)
        counts = [int(v.pixel_values.shape[0]) for v in videos]
        with torch.no_grad():
            features = self.model.get_video_features(pixel_values, timestamps, counts)  # list of (N_i, D)
        for video, feature in zip(videos, features, strict=True):
            video.features = feature
