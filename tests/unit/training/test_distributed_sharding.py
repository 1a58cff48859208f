"""`kangaroo.training.distributed` without a process group: data shards and single-process no-ops.

The multi-process behaviour (FSDP2 on 2 ranks) is in tests/integration/test_distributed.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DistributedSampler

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer
from kangaroo.training.distributed import (
    DistributedContext,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    freeze_unused_vision_parameters,
    full_state_dict,
    init_distributed,
    shard_indices,
    shard_model,
    token_mean_loss_scale,
)

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def ctx_for(rank: int, world_size: int) -> DistributedContext:
    return DistributedContext(rank=rank, world_size=world_size, local_rank=rank, is_main=rank == 0)


@pytest.mark.parametrize("num_items", [1, 3, 7, 10, 12])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4, 8])
def test_shards_cover_every_item_with_equal_lengths(num_items: int, world_size: int) -> None:
    shards = [shard_indices(num_items, ctx_for(r, world_size), seed=3, epoch=1) for r in range(world_size)]
    per_rank = math.ceil(num_items / world_size)
    assert all(len(s) == per_rank for s in shards)
    flat = [i for s in shards for i in s]
    assert set(flat) == set(range(num_items))
    if num_items % world_size == 0:  # no padding: every item exactly once
        assert sorted(flat) == list(range(num_items))
    else:  # padding repeats items: each at most ceil(total / num_items) times
        assert max(flat.count(i) for i in range(num_items)) <= math.ceil(per_rank * world_size / num_items)


@pytest.mark.parametrize("shuffle", [True, False])
def test_shards_equal_torch_distributed_sampler(shuffle: bool) -> None:
    for num_items, world_size, epoch in ((10, 4, 0), (13, 3, 5), (2, 4, 1)):
        for rank in range(world_size):
            sampler = DistributedSampler(range(num_items), num_replicas=world_size, rank=rank, shuffle=shuffle,
                                         seed=11)
            sampler.set_epoch(epoch)
            mine = shard_indices(num_items, ctx_for(rank, world_size), seed=11, epoch=epoch, shuffle=shuffle)
            assert mine == list(sampler)


def test_shards_are_deterministic_and_reshuffled_per_epoch() -> None:
    ctx = ctx_for(1, 2)
    first = shard_indices(50, ctx, seed=0, epoch=0)
    assert shard_indices(50, ctx, seed=0, epoch=0) == first
    assert shard_indices(50, ctx, seed=0, epoch=1) != first
    assert shard_indices(50, ctx, seed=1, epoch=0) != first
    assert shard_indices(8, ctx, seed=0, epoch=0, shuffle=False) == [1, 3, 5, 7]
    assert shard_indices(0, ctx, seed=0, epoch=0) == []


def test_shard_indices_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="num_items"):
        shard_indices(-1, ctx_for(0, 2), seed=0, epoch=0)
    with pytest.raises(ValueError, match="rank 2"):
        shard_indices(4, ctx_for(2, 2), seed=0, epoch=0)


def test_single_process_without_torchrun_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    ctx = init_distributed(device="cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.backend, ctx.is_distributed) == (0, 1, True, None, False)
    assert ctx.device == torch.device("cpu")
    assert all_reduce_mean(2.5, ctx) == 2.5
    assert all_reduce_sum(3.0, ctx) == 3.0
    assert token_mean_loss_scale(17, ctx) == 1.0
    with pytest.raises(ValueError, match="no label tokens"):
        token_mean_loss_scale(0, ctx)
    barrier(ctx)
    ctx.destroy()


def test_master_address_alone_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # as `accelerate launch --cpu` sets for one process
    monkeypatch.setenv("MASTER_PORT", "29500")
    ctx = init_distributed(device="cpu")
    assert (ctx.world_size, ctx.backend) == (1, None)


def test_partial_torchrun_env_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        init_distributed(device="cpu")


def test_shard_model_on_one_process_freezes_only_the_unused_vision_layers() -> None:
    model = kangaroo_tiny(build_byte_tokenizer(), seed=0)
    sharded = shard_model(model, DistributedContext(), mixed_precision="bf16")
    assert sharded is model
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    # vision_feature_layer -2 of a 2-layer ViT: layer 1 and the post-layernorm never reach the loss.
    unused = {name for name, _ in model.named_parameters()
              if name.startswith(("vision_tower.encoder.layers.1.", "vision_tower.post_layernorm."))}
    assert unused and frozen == unused
    assert freeze_unused_vision_parameters(model) == 0  # already frozen
    state = full_state_dict(model, DistributedContext())
    assert state.keys() == model.state_dict().keys()
    assert full_state_dict(model, ctx_for(1, 2)) is None
    with pytest.raises(ValueError, match="mixed_precision"):
        shard_model(model, DistributedContext(), mixed_precision="int8")
