"""Stage presets (Table II) and freezing: frozen parameters never move."""

from __future__ import annotations

import pytest
import torch

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.training.freezing import STAGE_TRAINABLE, set_trainable
from kangaroo.training.optim import build_optimizer

CHILDREN = ("vision_tower", "patchify", "projector", "language_model")


def _video_loss(model) -> torch.Tensor:
    config = model.config
    ids = torch.tensor([[5, 6, config.video_start_token_id, *[config.video_pad_token_id] * 16,
                         config.video_end_token_id, 7, 8, 9]])  # 2 frames at 112 px: 16 tokens
    out = model(input_ids=ids, labels=ids, pixel_values_videos=torch.randn(2, 3, 112, 112),
                video_timestamps=torch.tensor([0.0, 1.5]), video_frame_counts=torch.tensor([2]))
    return out.loss


def test_stage_presets_follow_table_ii():
    assert STAGE_TRAINABLE == {
        "image_pretraining": ("vision_tower", "projector"),
        "video_pretraining": ("vision_tower", "projector"),
        "pretraining_refinement": ("vision_tower", "patchify", "projector"),
        "instruction_tuning": ("vision_tower", "patchify", "projector", "language_model"),
        "long_video_tuning": ("patchify", "projector", "language_model"),
    }


@pytest.mark.parametrize("stage", sorted(STAGE_TRAINABLE))
def test_set_trainable_unfreezes_exactly_the_named_children(stage):
    model = kangaroo_tiny()
    counts = set_trainable(model, STAGE_TRAINABLE[stage])
    for child in CHILDREN:
        flags = {p.requires_grad for p in getattr(model, child).parameters()}
        assert flags == {child in STAGE_TRAINABLE[stage]}, child
    expected = sum(p.numel() for c in STAGE_TRAINABLE[stage] for p in getattr(model, c).parameters())
    assert counts == {"trainable": expected, "frozen": sum(p.numel() for p in model.parameters()) - expected}


def test_unknown_names_raise_and_list_the_valid_ones():
    model = kangaroo_tiny()
    with pytest.raises(ValueError, match=r"\['vit'\].*language_model.*patchify.*projector.*vision_tower"):
        set_trainable(model, ["vit", "projector"])
    with pytest.raises(ValueError, match="sequence of names"):
        set_trainable(model, "projector")
    assert all(p.requires_grad for p in model.parameters())  # nothing changed on error


def test_frozen_parameters_stay_bit_identical_over_optimizer_steps():
    torch.manual_seed(0)
    model = kangaroo_tiny()
    set_trainable(model, ["patchify", "projector"])
    optimizer = build_optimizer(model, lr=1e-2, weight_decay=0.05)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for _ in range(3):
        optimizer.zero_grad()
        _video_loss(model).backward()
        optimizer.step()
    for name, p in model.named_parameters():
        if name.startswith(("patchify.", "projector.")):
            assert not torch.equal(p, before[name]), name
        else:
            assert p.grad is None, name
            assert torch.equal(p, before[name]), name
