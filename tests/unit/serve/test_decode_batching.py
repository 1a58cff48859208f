"""Batched decoding: a row of the batch makes the tokens its reply makes alone, and the sampler
keeps to temperature, top-p, suppressed tokens and its own generator."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from kangaroo.inference.loading import load_chat_model
from kangaroo.serve.batching import CacheBatch, next_token

NO_SUPPRESSION = torch.tensor([], dtype=torch.long)


@pytest.fixture(scope="module")
def model():
    """The bundled model: trained weights attend by position (a random model's attention is nearly
    uniform, so it would not notice a row decoded at the wrong positions)."""
    return load_chat_model(None, "cpu", None)[0]


def prefill(model, ids: list[int]) -> tuple[DynamicCache, int]:
    """The prompt's KV cache and its greedy first token."""
    cache = DynamicCache()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True).logits[0, -1]
    return cache, int(logits.argmax())


def greedy_alone(model, cache: DynamicCache, token: int, steps: int) -> list[int]:
    out = []
    with torch.no_grad():
        for _ in range(steps):
            token = int(model(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True).logits[0, -1].argmax())
            out.append(token)
    return out


def test_each_row_makes_the_tokens_of_its_reply_alone_and_a_row_can_leave_mid_turn(model):
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(300, 2000, (n,), generator=generator).tolist() for n in (5, 23, 11)]
    firsts, alone = [], []
    for ids in prompts:
        cache, first = prefill(model, ids)
        firsts.append(first)
        alone.append(greedy_alone(model, cache, first, 10))
    caches = [prefill(model, ids)[0] for ids in prompts]
    batch = CacheBatch(caches)
    assert batch.lengths == [5, 23, 11] and batch.mask.shape == (3, 23)
    made = [[], [], []]
    last = list(firsts)
    for _ in range(4):
        logits = batch.step(model, last)  # (3, V)
        last = [int(row.argmax()) for row in logits]
        for row, token in enumerate(last):
            made[row].append(token)
    leaving = batch.row_cache(1)  # row 1 leaves: its own cache, without padding
    assert leaving.get_seq_length() == 23 + 4
    made[1] += greedy_alone(model, leaving, last[1], 6)
    batch.keep([0, 2])
    last = [last[0], last[2]]
    for _ in range(6):
        logits = batch.step(model, last)
        last = [int(row.argmax()) for row in logits]
        made[0].append(last[0])
        made[2].append(last[1])
    assert made == alone
    assert batch.row_cache(1).get_seq_length() == 11 + 10


def test_greedy_takes_the_likeliest_token_that_is_not_suppressed():
    logits = torch.tensor([0.0, 5.0, 3.0, 1.0])
    assert next_token(logits, NO_SUPPRESSION, 0.0, None, None) == 1
    assert next_token(logits, torch.tensor([1]), 0.0, None, None) == 2
    drawn = {next_token(logits, torch.tensor([1]), 5.0, None, torch.Generator().manual_seed(i)) for i in range(200)}
    assert 1 not in drawn and len(drawn) == 3


def test_top_p_keeps_the_smallest_set_of_likeliest_tokens_that_reaches_it():
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    def draws(top_p):
        return {next_token(logits, NO_SUPPRESSION, 1.0, top_p, torch.Generator().manual_seed(i)) for i in range(300)}
    assert draws(None) == {0, 1, 2, 3}
    assert draws(0.7) == {0, 1}  # 0.5 + 0.3 reaches 0.7
    assert draws(0.5) == {0}  # the likeliest alone reaches 0.5
    assert draws(0.01) == {0}  # never empty


def test_a_seeded_generator_draws_the_same_tokens_whatever_else_draws():
    logits = torch.randn(64, generator=torch.Generator().manual_seed(1))
    def sample(generator):
        return [next_token(logits, NO_SUPPRESSION, 1.0, 0.9, generator) for _ in range(20)]
    first = sample(torch.Generator().manual_seed(7))
    torch.rand(100)  # the global generator moves on
    assert sample(torch.Generator().manual_seed(7)) == first
    assert sample(torch.Generator().manual_seed(8)) != first
