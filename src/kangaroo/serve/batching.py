"""Batched decoding: the started replies of the engine make each token together, in one forward pass.

Each reply owns a KV cache of its own length (its prompt and reply so far, less the last token).
`CacheBatch` left-pads them into one batch cache; an attention mask hides the padding and every row
keeps its own positions, so a row's logits are those of its reply alone (up to float rounding).
A row that ends is split off at once with its own cache (for the prefix store); the rest go on.
`next_token` picks a row's token: greedy, or sampled with temperature and top-p from the reply's own
random generator, so a seeded reply is the same whatever it was batched with.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache


def _layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(keys, values)]`` per layer, each ``(B, H_kv, L, d)``."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def _cache_of(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> DynamicCache:
    cache = DynamicCache()
    for index, (keys, values) in enumerate(layers):
        cache.update(keys, values, index)
    return cache


class CacheBatch:
    """The KV caches of several replies as one left-padded batch cache.

    ``lengths[i]``: the tokens row ``i`` holds (its own cache length so far); ``cache`` ``(B, H_kv,
    L_max, d)`` per layer, row ``i`` padded on the left by ``L_max - lengths[i]``.
    """

    def __init__(self, caches: list[Any]) -> None:
        if not caches:
            raise ValueError("a batch needs at least one cache")
        self.lengths = [int(c.get_seq_length()) for c in caches]
        longest = max(self.lengths)
        per_cache = [_layers(c) for c in caches]
        layers = []
        pads = [(0, 0, longest - n, 0) for n in self.lengths]  # left padding of each row's tokens
        for index in range(len(per_cache[0])):
            keys = [torch.nn.functional.pad(p[index][0], pad) for p, pad in zip(per_cache, pads, strict=True)]
            values = [torch.nn.functional.pad(p[index][1], pad) for p, pad in zip(per_cache, pads, strict=True)]
            layers.append((torch.cat(keys), torch.cat(values)))  # (B, H_kv, L_max, d) each
        self.cache = _cache_of(layers)
        device = layers[0][0].device
        self.mask = torch.tensor([[0] * (longest - n) + [1] * n for n in self.lengths], device=device)  # (B, L_max)

    def step(self, model: Any, tokens: list[int]) -> torch.Tensor:
        """Feed each row its last token; ``(B, V)`` logits of the next. Every row grows by one."""
        device = self.mask.device
        self.mask = torch.cat([self.mask, torch.ones(len(tokens), 1, dtype=self.mask.dtype, device=device)], dim=1)
        positions = torch.tensor([[n] for n in self.lengths], device=device)  # (B, 1): each row's own position
        inputs = torch.tensor([[t] for t in tokens], device=device)  # (B, 1)
        logits = model(input_ids=inputs, attention_mask=self.mask, position_ids=positions, cache=self.cache,
                       use_cache=True).logits[:, -1]  # (B, V)
        self.lengths = [n + 1 for n in self.lengths]
        return logits

    def row_cache(self, row: int) -> DynamicCache:
        """Row ``row``'s own cache, without its padding."""
        start = self.mask.shape[1] - self.lengths[row]
        return _cache_of([(k[row : row + 1, :, start:].clone(), v[row : row + 1, :, start:].clone())
                          for k, v in _layers(self.cache)])

    def keep(self, rows: list[int]) -> None:
        """Drop every row but ``rows`` (in that order)."""
        index = torch.tensor(rows, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]
        self.lengths = [self.lengths[r] for r in rows]


def next_token(logits: torch.Tensor, suppressed: torch.Tensor, temperature: float, top_p: float | None,
               generator: torch.Generator | None) -> int:
    """One token from one row's ``(V,)`` logits: the likeliest at temperature 0, else sampled from
    ``softmax(logits / temperature)`` cut to the smallest set of tokens whose probability reaches
    ``top_p`` (the OpenAI API's two controls; no top-k). ``suppressed`` token ids are never picked."""
    logits = logits.float().index_fill(0, suppressed.to(logits.device), float("-inf"))
    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)  # (V,)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        before = sorted_probs.cumsum(0) - sorted_probs  # mass of the tokens ranked above each
        sorted_probs[before >= top_p] = 0.0  # the first token is always kept
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))
