"""Sequence packing for training: several records in one row, none attending to another.

Packed records are marked by their position ids restarting at 0 (``[0 1 2 0 1 0 1 2 3]``).
transformers (>= 5) reads that restart (in a forward with ``use_cache=False`` and no 2D attention
mask, i.e. training) and gives SDPA / FlashAttention a block-diagonal causal mask, so every token sees only earlier tokens of its own record, and each record keeps its own
RoPE positions: a packed row computes what the records would compute one by one.
`block_diagonal_causal_mask` writes the same mask out, for code that needs it explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _check(lengths: Sequence[int]) -> None:
    if not lengths or any(int(n) < 1 for n in lengths):
        raise ValueError(f"packing needs one or more positive lengths, got {list(lengths)}")


def packed_position_ids(lengths: Sequence[int]) -> torch.Tensor:
    """Position ids ``(1, sum(lengths))`` long, restarting at 0 for every record."""
    _check(lengths)
    return torch.cat([torch.arange(int(n)) for n in lengths])[None]


def packed_sequence_ids(lengths: Sequence[int]) -> torch.Tensor:
    """Which record each token belongs to: ``(1, sum(lengths))`` long, ``[0 0 0 1 1 2 ...]``."""
    _check(lengths)
    return torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor([int(n) for n in lengths]))[None]


def block_diagonal_causal_mask(lengths: Sequence[int]) -> torch.Tensor:
    """Boolean ``(1, 1, N, N)`` mask, True where query i may attend to key j: same record, j <= i.

    This materialises N x N booleans; prefer `packed_position_ids`, which lets the attention kernel
    build the mask as it needs it.
    """
    sequence = packed_sequence_ids(lengths)[0]  # (N,)
    n = sequence.shape[0]
    causal = torch.ones(n, n, dtype=torch.bool).tril()  # (N, N)
    return (causal & (sequence[:, None] == sequence[None, :]))[None, None]  # (1, 1, N, N)
