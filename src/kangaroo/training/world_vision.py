"""Pre-train a vision tower on the synthetic world's ground truth, and probe what it sees.

The paper's vision encoder comes pre-trained (EVA-CLIP); a tiny model has nothing to start from,
so its tower learns the world first: frames rendered from random scenes, on the processor's
square canvas, with the colour and shape of the object under every patch as targets
(`kangaroo.synth.supervision`). `linear_probe` then fits a fresh linear read-out on the frozen
features of training-split scenes and measures it on test-split scenes (held-out seeds and
colour-shape compositions): the check that the vision side sees before alignment starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kangaroo.synth.splits import allowed_for
from kangaroo.synth.supervision import (
    COLOUR_CLASSES,
    SHAPE_CLASSES,
    canvas_geometry,
    patch_targets,
    render_on_canvas,
)
from kangaroo.synth.world import sample_scene

OBJECT_WEIGHT = 5.0  # patches covered by an object weigh this much more than background patches


@dataclass(frozen=True)
class ProbeAccuracy:
    """Per-patch accuracy of a linear read-out: on object patches (colour, shape) and background."""

    colour: float
    shape: float
    background: float


@dataclass(frozen=True)
class FrameBatch:
    """Normalised frames ``(B, 3, S, S)`` with per-patch ``colour`` and ``shape`` classes ``(B, g, g)``."""

    pixels: torch.Tensor
    colour: torch.Tensor
    shape: torch.Tensor


def world_frames(rng: np.random.Generator, count: int, processor, patch: int, split: str = "train",
                 size: tuple[int, int] = (128, 96)) -> FrameBatch:
    """``count`` frames of random scenes at random times, prepared as the processor prepares video."""
    canvas = processor.layout.image_size
    scale, left, top = canvas_geometry(size[0], size[1], canvas)
    inside = torch.zeros(canvas, canvas, dtype=torch.bool)  # (S, S): where the frame lies on the canvas
    inside[top : top + round(size[1] * scale), left : left + round(size[0] * scale)] = True
    frames, colours, shapes = [], [], []
    for _ in range(count):
        scene = sample_scene(rng, size=size, allowed=allowed_for(split))
        t = float(rng.uniform(0.0, scene.duration))
        targets = patch_targets(scene, t, canvas, patch)
        frames.append(render_on_canvas(scene, t, canvas))
        colours.append(targets.colour)
        shapes.append(targets.shape)
    # the border is exactly the normalisation mean (0), as the processor's "pad" leaves it
    pixels = processor.normalize_frames(np.stack(frames)).masked_fill_(~inside, 0.0)  # (B, 3, S, S)
    return FrameBatch(pixels, torch.from_numpy(np.stack(colours)), torch.from_numpy(np.stack(shapes)))


class PatchReadout(nn.Module):
    """A linear map from each patch feature to colour and shape logits."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.colour = nn.Linear(dim, len(COLOUR_CLASSES))
        self.shape = nn.Linear(dim, len(SHAPE_CLASSES))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, P, C)`` -> colour logits ``(B, P, K_c)``, shape logits ``(B, P, K_s)``."""
        return self.colour(features), self.shape(features)


def _patch_features(model, pixels: torch.Tensor) -> torch.Tensor:
    return model.encode_frames(pixels)  # (B, P, C): the layer the model itself uses, no CLS


def _loss(readout: PatchReadout, features: torch.Tensor, batch: FrameBatch) -> torch.Tensor:
    colour_logits, shape_logits = readout(features)  # (B, P, K)
    colour, shape = batch.colour.flatten(1), batch.shape.flatten(1)  # (B, P)
    weight = torch.where(colour > 0, OBJECT_WEIGHT, 1.0)
    colour_loss = nn.functional.cross_entropy(colour_logits.transpose(1, 2), colour, reduction="none")
    shape_loss = nn.functional.cross_entropy(shape_logits.transpose(1, 2), shape, reduction="none")
    return ((colour_loss + shape_loss) * weight).mean()


def _accuracy(readout: PatchReadout, features: torch.Tensor, batch: FrameBatch) -> ProbeAccuracy:
    colour_logits, shape_logits = readout(features)
    colour, shape = batch.colour.flatten(1), batch.shape.flatten(1)
    objects = colour > 0
    return ProbeAccuracy(
        colour=float((colour_logits.argmax(-1) == colour)[objects].float().mean()),
        shape=float((shape_logits.argmax(-1) == shape)[objects].float().mean()),
        background=float((colour_logits.argmax(-1) == 0)[~objects].float().mean()),
    )


def pretrain_vision(model, processor, *, steps: int, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                    log: Callable[[str], None] | None = None,
                    on_step: Callable[[int, float], None] | None = None) -> PatchReadout:
    """Train ``model.vision_tower`` (with a linear read-out) on world frames for ``steps`` steps,
    AdamW with a cosine schedule; ``on_step(step, loss)`` after each. Returns the read-out; the
    tower is trained in place."""
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    patch = model.config.vision_config.patch_size
    readout = PatchReadout(model.config.vision_config.hidden_size)
    params = [*model.vision_tower.parameters(), *readout.parameters()]
    rng = np.random.default_rng(seed)
    model.vision_tower.train()

    def batch_loss() -> torch.Tensor:
        batch = world_frames(rng, batch_size, processor, patch)
        return _loss(readout, _patch_features(model, batch.pixels), batch)

    train_world_steps(params, batch_loss, steps=steps, lr=lr, name="vision", log=log, on_step=on_step)
    model.vision_tower.eval()
    return readout


def train_world_steps(params: list[torch.nn.Parameter], batch_loss: Callable[[], torch.Tensor], *, steps: int,
                      lr: float, warmup_steps: int = 0, name: str, log: Callable[[str], None] | None = None,
                      on_step: Callable[[int, float], None] | None = None) -> None:
    """The loop of the world stages: ``steps`` AdamW steps (weight decay 0.01, gradients clipped to
    1) on ``batch_loss()`` (draws a batch, returns its loss), the lr warmed up over ``warmup_steps``
    then cosine to 0 (`kangaroo.training.optim.cosine_with_warmup`); ``on_step(step, loss)`` after
    each, a ``log`` line every 100 steps."""
    from .optim import cosine_with_warmup

    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    scheduler = cosine_with_warmup(optimizer, warmup_steps=warmup_steps, total_steps=steps, min_lr=0.0)
    start = time.monotonic()
    for step in range(steps):
        loss = batch_loss()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        if on_step is not None:
            on_step(step + 1, loss.item())
        if log is not None and (step % 100 == 0 or step == steps - 1):
            log(f"{name} step {step + 1}/{steps}: loss {loss.item():.3f} ({time.monotonic() - start:.0f} s)")


def linear_probe(model, processor, *, train_frames: int = 512, test_frames: int = 256, steps: int = 300,
                 seed: int = 0) -> ProbeAccuracy:
    """Fit a fresh linear read-out on the frozen features of train-split frames; its per-patch
    accuracy on test-split frames (held-out seeds and compositions)."""
    patch = model.config.vision_config.patch_size
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        train = world_frames(rng, train_frames, processor, patch, split="train")
        test = world_frames(rng, test_frames, processor, patch, split="test")
        train_features = torch.cat([_patch_features(model, p) for p in train.pixels.split(64)]).float()
        test_features = torch.cat([_patch_features(model, p) for p in test.pixels.split(64)]).float()
    mean, std = train_features.mean((0, 1)), train_features.std((0, 1)) + 1e-6
    readout = PatchReadout(train_features.shape[-1])
    optimizer = torch.optim.Adam(readout.parameters(), lr=1e-2)
    for _ in range(steps):  # full batch: a convex problem
        loss = _loss(readout, (train_features - mean) / std, train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return _accuracy(readout, (test_features - mean) / std, test)
