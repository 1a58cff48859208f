"""Sequence packing for training: several records in one row, none attending to another.

Packed records are marked by their position ids restarting at 0 (``[0 1 2 0 1 0 1 2 3]``).
transformers (>= 5) reads that restart (in a forward with ``use_cache=False`` and no 2D attention
mask, i.e. training) and gives SDPA / FlashAttention a block-diagonal causal mask, so every token sees only earlier tokens of its own record, and each record keeps its own
RoPE positions: a packed row computes what the records would compute one by one.
`block_diagonal_causal_mask` writes the same mask out, for code that needs it explicitly.

On CPU, PyTorch's SDPA with that mask still compares every token with the whole row and only
then masks, so packing would cost as much attention as one row-long sequence. The attention
implementation registered here as ``"sdpa_packed"`` (`packed_sdpa_attention`) instead runs one
causal SDPA call per record (``sum n_i^2`` instead of ``L^2``, what FlashAttention's varlen
kernels do on GPUs) and falls back to transformers' SDPA for anything that is not a packed row
(a padded batch, a cached decoding step). Select it with
``model.language_model.config._attn_implementation = "sdpa_packed"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask


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


def record_bounds(position_ids: torch.Tensor) -> list[int] | None:
    """Start of every record in one row of position ids ``(L,)`` plus ``L``, or None for a single
    sequence (no restart)."""
    restarts = torch.nonzero(position_ids[1:] - position_ids[:-1] != 1).flatten() + 1
    if len(restarts) == 0:
        return None
    return [0, *restarts.tolist(), int(position_ids.shape[0])]


def packed_sdpa_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                          scaling: float | None = None, position_ids: torch.Tensor | None = None, **kwargs):
    """Attention for packed rows, record by record; anything else goes to transformers' SDPA.

    query ``(B, H, L, d)``, key / value ``(B, H_kv, L, d)`` -> ``((B, L, H, d), None)``. A row is
    packed when its position ids restart and no cache extends the keys (``L_q == L_kv``); the
    block-diagonal mask transformers built for it is then implied and not read.
    """
    rows_bounds = None
    if position_ids is not None and query.shape[2] == key.shape[2] and query.shape[2] > 1:
        ids = position_ids.expand(query.shape[0], -1)  # (B, L)
        rows_bounds = [record_bounds(ids[b]) for b in range(query.shape[0])]
        if all(bounds is None for bounds in rows_bounds):
            rows_bounds = None
    if rows_bounds is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    key = repeat_kv(key, module.num_key_value_groups)  # (B, H, L, d)
    value = repeat_kv(value, module.num_key_value_groups)  # (B, H, L, d)
    dropout = dropout if module.training else 0.0
    rows = []
    for b, bounds in enumerate(rows_bounds):
        bounds = bounds or [0, query.shape[2]]
        pieces = [
            F.scaled_dot_product_attention(query[b : b + 1, :, s:e], key[b : b + 1, :, s:e], value[b : b + 1, :, s:e],
                                           dropout_p=dropout, scale=scaling, is_causal=True)  # (1, H, n, d)
            for s, e in itertools.pairwise(bounds)
        ]
        rows.append(torch.cat(pieces, dim=2))  # (1, H, L, d)
    return torch.cat(rows).transpose(1, 2).contiguous(), None  # (B, L, H, d)


AttentionInterface.register("sdpa_packed", packed_sdpa_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register("sdpa_packed", sdpa_mask)  # padded batches keep their masks
