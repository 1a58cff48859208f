"""Layer-wise LR decay, weight-decay groups and the warm-up + cosine schedule (paper section V-A)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel, SiglipVisionConfig, SiglipVisionModel

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.training.freezing import set_trainable
from kangaroo.training.optim import build_optimizer, cosine_with_warmup


def _groups_by_name(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, dict]:
    by_id = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters() if id(p) in by_id}


class _Wrapper(nn.Module):
    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.vision_tower = tower
        self.projector = nn.Linear(16, 8)


def _siglip(layers: int) -> nn.Module:
    config = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
                                num_attention_heads=2, image_size=28, patch_size=14)
    return SiglipVisionModel(config)


def test_llrd_on_the_tiny_two_layer_clip_tower():
    model = kangaroo_tiny()
    groups = _groups_by_name(model, build_optimizer(model, lr=1e-4, vision_lr_decay=0.9))
    expected = {
        "vision_tower.embeddings.patch_embedding.weight": 7.29e-5,  # 1e-4 * 0.9 ** 3
        "vision_tower.embeddings.class_embedding": 7.29e-5,
        "vision_tower.embeddings.position_embedding.weight": 7.29e-5,
        "vision_tower.pre_layrnorm.weight": 7.29e-5,
        "vision_tower.encoder.layers.0.self_attn.q_proj.weight": 8.1e-5,  # 0.9 ** 2
        "vision_tower.encoder.layers.0.mlp.fc2.bias": 8.1e-5,
        "vision_tower.encoder.layers.1.mlp.fc1.weight": 9e-5,  # 0.9 ** 1
        "vision_tower.post_layernorm.weight": 1e-4,
        "patchify.conv.weight": 1e-4,
        "projector.linear.weight": 1e-4,
        "language_model.model.layers.0.self_attn.q_proj.weight": 1e-4,
        "language_model.lm_head.weight": 1e-4,
    }
    for name, lr in expected.items():
        assert groups[name]["lr"] == pytest.approx(lr, rel=1e-12), name
        assert groups[name]["lr_scale"] == pytest.approx(lr / 1e-4, rel=1e-12), name


def test_llrd_on_a_four_layer_siglip_tower():
    model = _Wrapper(_siglip(4))
    groups = _groups_by_name(model, build_optimizer(model, lr=1.0, vision_lr_decay=0.9))
    expected = {
        "vision_tower.embeddings.patch_embedding.weight": 0.59049,  # 0.9 ** 5
        "vision_tower.embeddings.position_embedding.weight": 0.59049,
        "vision_tower.encoder.layers.0.mlp.fc1.weight": 0.6561,
        "vision_tower.encoder.layers.1.mlp.fc1.weight": 0.729,
        "vision_tower.encoder.layers.2.mlp.fc1.weight": 0.81,
        "vision_tower.encoder.layers.3.mlp.fc1.weight": 0.9,
        "vision_tower.post_layernorm.weight": 1.0,
        "vision_tower.head.mlp.fc1.weight": 1.0,
        "projector.weight": 1.0,
    }
    for name, lr in expected.items():
        assert groups[name]["lr"] == pytest.approx(lr, rel=1e-12), name


def test_llrd_on_a_four_layer_clip_tower():
    config = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=4,
                              num_attention_heads=2, image_size=28, patch_size=14)
    model = _Wrapper(CLIPVisionModel(config))
    groups = _groups_by_name(model, build_optimizer(model, lr=2.0, vision_lr_decay=0.5))
    assert groups["vision_tower.embeddings.class_embedding"]["lr"] == 2.0 * 0.5**5
    for i in range(4):
        assert groups[f"vision_tower.encoder.layers.{i}.self_attn.k_proj.weight"]["lr"] == 2.0 * 0.5 ** (4 - i)
    assert groups["vision_tower.post_layernorm.bias"]["lr"] == 2.0


def test_every_trainable_parameter_is_in_exactly_one_group():
    model = kangaroo_tiny()
    optimizer = build_optimizer(model, lr=1e-4)
    ids = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    keys = [(group["lr_scale"], group["weight_decay"]) for group in optimizer.param_groups]
    assert len(keys) == len(set(keys))  # one group per (lr scale, weight decay)


def test_no_weight_decay_for_biases_norms_and_embeddings():
    model = kangaroo_tiny(projector_type="ccam")
    groups = _groups_by_name(model, build_optimizer(model, lr=1e-4, weight_decay=0.05))
    no_decay = [
        "vision_tower.embeddings.patch_embedding.weight",
        "vision_tower.embeddings.position_embedding.weight",
        "vision_tower.embeddings.class_embedding",
        "vision_tower.pre_layrnorm.weight",
        "vision_tower.encoder.layers.0.layer_norm1.weight",
        "vision_tower.encoder.layers.0.self_attn.q_proj.bias",
        "patchify.conv.bias",
        "projector.queries",
        "projector.out_norm.weight",
        "projector.out_proj.bias",
        "language_model.model.embed_tokens.weight",
        "language_model.model.layers.0.input_layernorm.weight",  # RMSNorm
        "language_model.model.norm.weight",
    ]
    decay = [
        "vision_tower.encoder.layers.0.self_attn.q_proj.weight",
        "vision_tower.encoder.layers.1.mlp.fc2.weight",
        "patchify.conv.weight",
        "projector.out_proj.weight",
        "language_model.model.layers.0.mlp.gate_proj.weight",
        "language_model.lm_head.weight",
    ]
    for name in no_decay:
        assert groups[name]["weight_decay"] == 0.0, name
    for name in decay:
        assert groups[name]["weight_decay"] == 0.05, name


def test_frozen_parameters_are_not_in_the_optimizer():
    model = kangaroo_tiny()
    set_trainable(model, ["patchify", "projector"])
    optimizer = build_optimizer(model, lr=1e-4)
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    expected = {id(p) for p in [*model.patchify.parameters(), *model.projector.parameters()]}
    assert in_optimizer == expected
    assert {group["lr_scale"] for group in optimizer.param_groups} == {1.0}


def test_bad_arguments_and_unknown_towers_fail_clearly():
    with pytest.raises(ValueError, match="unknown vision tower layout"):
        build_optimizer(_Wrapper(nn.Linear(4, 4)), lr=1e-4)
    tower = _siglip(1)
    tower.extra = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"unknown vision tower layout.*extra\.weight"):
        build_optimizer(_Wrapper(tower), lr=1e-4)
    model = _Wrapper(nn.Linear(4, 4))
    model.vision_tower.requires_grad_(False)  # a frozen tower needs no layer-wise decay
    assert build_optimizer(model, lr=1e-4).param_groups[0]["lr"] == 1e-4
    with pytest.raises(ValueError, match="requires_grad"):
        build_optimizer(nn.Linear(2, 2).requires_grad_(False), lr=1e-4)
    for kwargs in ({"lr": 0.0}, {"lr": 1e-4, "vision_lr_decay": 0.0}, {"lr": 1e-4, "weight_decay": -1.0}):
        with pytest.raises(ValueError):
            build_optimizer(nn.Linear(2, 2), **kwargs)


def _two_group_optimizer() -> torch.optim.AdamW:
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    return torch.optim.AdamW([{"params": [a], "lr": 1e-3, "lr_scale": 1.0},
                              {"params": [b], "lr": 5e-4, "lr_scale": 0.5}])


def _lrs_by_step(optimizer, scheduler, steps: int) -> list[list[float]]:
    lrs = []
    for _ in range(steps):
        lrs.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return lrs


def test_cosine_with_warmup_values():
    optimizer = _two_group_optimizer()
    scheduler = cosine_with_warmup(optimizer, warmup_steps=10, total_steps=110, min_lr=1e-5)
    lrs = _lrs_by_step(optimizer, scheduler, 200)
    expected = {
        0: 0.0,  # warm-up starts at 0
        5: 5e-4,  # half-way through warm-up
        10: 1e-3,  # the peak
        60: 1e-5 + 0.5 * (1e-3 - 1e-5),  # half-way through the cosine
        35: 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi / 4)),
        110: 1e-5,  # the minimum at total_steps
        199: 1e-5,  # constant after
    }
    for step, lr in expected.items():
        assert lrs[step][0] == pytest.approx(lr, rel=1e-9, abs=1e-15), step
        assert lrs[step][1] == pytest.approx(lr * 0.5, rel=1e-9, abs=1e-15), step  # min_lr * lr_scale too
    assert all(later <= earlier for earlier, later in itertools.pairwise(lrs[10:111]))


def test_cosine_without_warmup_starts_at_the_peak_and_resumes_from_state():
    optimizer = _two_group_optimizer()
    scheduler = cosine_with_warmup(optimizer, warmup_steps=0, total_steps=4, min_lr=1e-6)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 5e-4]
    _lrs_by_step(optimizer, scheduler, 2)
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}

    fresh = _two_group_optimizer()
    resumed = cosine_with_warmup(fresh, warmup_steps=0, total_steps=4, min_lr=1e-6)
    fresh.load_state_dict(state["optimizer"])
    resumed.load_state_dict(state["scheduler"])
    assert _lrs_by_step(fresh, resumed, 3) == _lrs_by_step(optimizer, scheduler, 3)


def test_cosine_with_warmup_rejects_bad_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        cosine_with_warmup(_two_group_optimizer(), warmup_steps=5, total_steps=5, min_lr=0.0)
    with pytest.raises(ValueError, match="min_lr"):
        cosine_with_warmup(_two_group_optimizer(), warmup_steps=0, total_steps=5, min_lr=-1.0)
    with pytest.raises(ValueError, match="exceeds its peak"):
        cosine_with_warmup(_two_group_optimizer(), warmup_steps=0, total_steps=5, min_lr=1e-2)
