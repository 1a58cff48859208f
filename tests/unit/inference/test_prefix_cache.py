"""`PrefixCache`: which entry a prompt continues, and that entries of one video coexist."""

import torch
from transformers import DynamicCache

from kangaroo.inference.prefix_cache import PrefixCache


def kv_cache(length: int) -> DynamicCache:
    """A one-layer KV cache holding ``length`` tokens."""
    cache = DynamicCache()
    states = torch.randn(1, 2, length, 4)  # (B, heads, L, head_dim)
    cache.update(states, states.clone(), layer_idx=0)
    return cache


def ids(*tokens: int) -> torch.Tensor:
    return torch.tensor([tokens])  # (1, L)


def test_the_longest_shared_prefix_wins_among_entries_about_the_same_video():
    store = PrefixCache(max_entries=4)
    store.put(("video-a",), ids(1, 2, 3, 4, 5), kv_cache(5))
    store.put(("video-a",), ids(1, 2, 9), kv_cache(3))  # another conversation about the same video
    store.put(("video-a",), ids(1, 2, 3, 4, 5, 6, 7), kv_cache(7))
    cache, kept = store.take(("video-a",), ids(1, 2, 3, 4, 5, 6, 7, 8, 9))
    assert kept == 7 and cache.get_seq_length() == 7
    assert len(store) == 2  # taken out while it is extended
    cache, kept = store.take(("video-a",), ids(1, 2, 9, 10))  # not the first entry of its video
    assert kept == 3 and len(store) == 1


def test_a_prompt_keeps_one_token_to_prefill_and_other_videos_never_share():
    store = PrefixCache()
    store.put(("video-a",), ids(1, 2, 3), kv_cache(3))
    assert store.take(("video-b",), ids(1, 2, 3, 4)) == (None, 0)
    cache, kept = store.take(("video-a",), ids(1, 2, 3))  # the same prompt again
    assert kept == 2 and cache.get_seq_length() == 2
