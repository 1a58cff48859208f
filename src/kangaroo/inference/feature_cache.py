"""Visual features cached on disk (`FeatureCache`) or in memory (`MemoryFeatureCache`), keyed by the video's content, the sampling and the model.

A key is the SHA-256 of: the file's bytes, the `FrameSampling` and frame geometry (size, aspect),
and a fingerprint of the model's visual branch (config and weights of the vision tower, patchify and projector), so a
changed video, other frames or retrained weights never hit a stale entry. Entries are written
atomically (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from kangaroo.io import atomic_path
from kangaroo.video.sampling import FrameSampling


def file_digest(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def visual_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 of the visual branch's configuration and weights (memoised on the model; call
    `forget_fingerprint` after changing weights in place)."""
    cached = getattr(model, "_kangaroo_visual_fingerprint", None)
    if cached is not None:
        return cached
    digest = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    for part in ("vision_tower", "patchify", "projector"):
        for name, tensor in getattr(model, part).state_dict().items():
            digest.update(f"{part}.{name}".encode())
            digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    model._kangaroo_visual_fingerprint = digest.hexdigest()
    return model._kangaroo_visual_fingerprint


def forget_fingerprint(model: torch.nn.Module) -> None:
    model.__dict__.pop("_kangaroo_visual_fingerprint", None)


class FeatureCache:
    """A directory of ``<key>.safetensors`` files holding one video's features and timestamps."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(video: str | os.PathLike[str], sampling: FrameSampling, model: torch.nn.Module, *,
            size: int, aspect: str) -> str:
        """The entry of ``video`` sampled with ``sampling`` at ``size`` px (``aspect`` policy) by ``model``."""
        payload = json.dumps({"video": file_digest(video), "sampling": sampling.to_dict(), "size": size,
                              "aspect": aspect, "model": visual_fingerprint(model)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def get(self, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(features (N, D), timestamps (T,))`` or None."""
        path = self.directory / f"{key}.safetensors"
        if not path.exists():
            return None
        tensors = load_file(path)
        return tensors["features"], tensors["timestamps"]

    def put(self, key: str, features: torch.Tensor, timestamps: torch.Tensor) -> None:
        with atomic_path(self.directory / f"{key}.safetensors") as tmp:
            save_file({"features": features.detach().cpu().contiguous(),
                       "timestamps": timestamps.detach().cpu().contiguous()}, tmp)


class MemoryFeatureCache:
    """The last ``max_entries`` videos' features in memory (least recently used dropped first), with
    `FeatureCache`'s keys; safe to share between threads. ``hits`` and ``misses`` count lookups."""

    key = staticmethod(FeatureCache.key)

    def __init__(self, max_entries: int = 32) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(features (N, D), timestamps (T,))`` or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, features: torch.Tensor, timestamps: torch.Tensor) -> None:
        with self._lock:
            self._entries[key] = (features.detach(), timestamps.detach())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
