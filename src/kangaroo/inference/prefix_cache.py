"""KV caches of recent prompts, so that a request continuing an earlier conversation prefills only
what is new (the mechanism of `kangaroo.inference.chat`, across independent requests).

An entry is reused only by a prompt whose videos start with the entry's videos (by feature-cache
key: content, sampling, model) and whose tokens share a prefix with the entry's, so two
conversations can never read each other's cache. An entry is taken out while a request extends it
(the cache grows in place) and put back, extended, afterwards.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import torch

from .chat import _common_prefix, reuse_prefix


@dataclass(eq=False)  # entries are told apart by identity: comparing tensors is no answer
class _Entry:
    media: tuple[str, ...]  # feature-cache keys of the prompt's videos, in order
    ids: torch.Tensor  # (1, C) the tokens the cache holds
    cache: Any


class PrefixCache:
    """The KV caches of the last ``max_entries`` prompts (oldest dropped first); thread-safe."""

    def __init__(self, max_entries: int = 8) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()

    def take(self, media: tuple[str, ...], input_ids: torch.Tensor) -> tuple[Any, int]:
        """``(cache cropped to the longest shared prefix, its length)`` for a prompt ``input_ids``
        ``(1, L)`` about ``media``, removed from this store; ``(None, 0)`` when nothing is shared."""
        with self._lock:
            best, best_length = None, 0
            for entry in self._entries:
                if entry.media != media[: len(entry.media)]:
                    continue
                length = _common_prefix(entry.ids, input_ids)
                if length > best_length:
                    best, best_length = entry, length
            if best is None:
                return None, 0
            self._entries.remove(best)
        return best.cache, reuse_prefix(best.cache, best.ids, input_ids)

    def put(self, media: tuple[str, ...], ids: torch.Tensor, cache: Any) -> None:
        """Keep ``cache``, the KV cache of ``ids`` ``(1, C)`` (a prompt about ``media`` and its reply)."""
        with self._lock:
            self._entries.append(_Entry(media, ids, cache))
            del self._entries[: max(0, len(self._entries) - self.max_entries)]

    def __len__(self) -> int:
        return len(self._entries)
