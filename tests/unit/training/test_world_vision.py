"""Vision pre-training on the world's ground truth: the tower learns to tell colours and shapes."""

from __future__ import annotations

import numpy as np
import torch

from kangaroo.model.builders import kangaroo_tiny
from kangaroo.model.tokenizer import build_byte_tokenizer
from kangaroo.processing import KangarooProcessor
from kangaroo.training.world_vision import _accuracy, _loss, _patch_features, pretrain_vision, world_frames


def _model():
    tokenizer = build_byte_tokenizer()
    model = kangaroo_tiny(tokenizer)
    return model, KangarooProcessor(tokenizer, model.config.layout)


def test_world_frames_are_prepared_like_the_processor_prepares_video():
    _, processor = _model()
    batch = world_frames(np.random.default_rng(0), 3, processor, patch=14)
    assert batch.pixels.shape == (3, 3, 112, 112) and batch.colour.shape == (3, 8, 8)
    # the padded border is the normalisation mean, i.e. 0 after normalising (as processor "pad" gives)
    assert batch.pixels[:, :, :10].abs().max() < 0.02
    again = world_frames(np.random.default_rng(0), 3, processor, patch=14)
    assert torch.equal(batch.pixels, again.pixels) and torch.equal(batch.colour, again.colour)


def test_pretraining_lowers_the_loss_and_trains_only_the_tower():
    torch.manual_seed(0)
    model, processor = _model()
    before = {n: p.clone() for n, p in model.named_parameters()}
    held = world_frames(np.random.default_rng(99), 48, processor, patch=14)
    readout = pretrain_vision(model, processor, steps=60, batch_size=16, lr=3e-3, seed=0)
    with torch.no_grad():
        features = _patch_features(model, held.pixels)
        trained_loss = float(_loss(readout, features, held))
        accuracy = _accuracy(readout, features, held)
    changed = {n.split(".")[0] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"vision_tower"}
    assert trained_loss < 1.5  # from about ln(9) + ln(7) = 4.1 at the start
    assert accuracy.background > 0.9 and accuracy.colour > 0.3
