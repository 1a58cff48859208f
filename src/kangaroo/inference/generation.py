"""Greedy answers for a batch of prompts with their videos: what evaluation and captioning share.

The prompts are left-padded to one width (the model derives positions from the attention mask,
so each answer equals the answer to its prompt alone); video tokens are never generated; each
answer stops at the first end-of-turn or end-of-text token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .chat import stop_ids


def greedy_answers(model: torch.nn.Module, processor, prompts: Sequence[Sequence[int]],
                   video_features: torch.Tensor | None, max_new_tokens: int | Sequence[int]) -> list[str]:
    """The decoded answer to each prompt.

    prompts:        token ids per prompt (from ``processor.encode``), video tokens expanded.
    video_features: ``(N, D)`` the features of every prompt's videos, concatenated in prompt order
                    (None for text-only prompts).
    max_new_tokens: one budget for all, or one per prompt.
    """
    budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    device = next(model.parameters()).device
    pad = processor.tokenizer.pad_token_id
    pad = pad if pad is not None else 0
    width = max(len(p) for p in prompts)
    input_ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=device)  # (B, L)
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    stops = stop_ids(processor)
    extra = {} if video_features is None else {"video_features": video_features.to(device)}
    with torch.no_grad():
        output = model.generate(
            input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=max(budgets), do_sample=False,
            temperature=None, top_p=None, top_k=None, eos_token_id=stops, pad_token_id=pad,
            suppress_tokens=sorted(processor.video_token_ids.values()), **extra,
        )
    answers = []
    for row, budget in zip(output[:, width:].tolist(), budgets, strict=True):
        row = row[:budget]
        end = next((i for i, token in enumerate(row) if token in stops), len(row))
        answers.append(processor.decode(row[:end]).strip())
    return answers
