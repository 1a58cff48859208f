"""Dense ground truth for the vision tower: what object covers each patch of a rendered frame.

The Kangaroo paper starts from a pre-trained vision encoder (EVA-CLIP). The tiny model has none,
so it is pre-trained on the world itself: every frame the renderer draws comes with the exact
colour and shape of the object under each ViT patch. A linear read-out of the tower's features
that recovers them is the check that the vision side sees before alignment starts.

Frames are placed on the square canvas the processor uses (``aspect="pad"``: scaled to fit,
centred, the border at the normalisation mean), so pre-training sees what the model will see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import render_frame, shape_contains
from .scene import COLOURS, SHAPES, Scene

COLOUR_CLASSES: tuple[str, ...] = ("none", *COLOURS)  # class 0: no object covers the patch
SHAPE_CLASSES: tuple[str, ...] = ("none", *SHAPES)
POINTS = 4  # each patch is sampled at POINTS x POINTS points
MIN_COVER = 0.25  # a patch belongs to the object covering most of its points, if at least this share


@dataclass(frozen=True)
class PatchTargets:
    """Per-patch classes of one frame: ``colour`` and ``shape`` int64 ``(g, g)`` (0 = none)."""

    colour: np.ndarray
    shape: np.ndarray


def canvas_geometry(width: int, height: int, size: int) -> tuple[float, int, int]:
    """``(scale, left, top)`` of a ``width x height`` frame fitted inside a ``size`` square."""
    scale = size / max(width, height)
    return scale, (size - round(width * scale)) // 2, (size - round(height * scale)) // 2


def render_on_canvas(scene: Scene, t: float, size: int, fill: int = 127) -> np.ndarray:
    """The frame shown at ``t`` on a ``size x size`` canvas (uint8 ``(size, size, 3)``), scaled with
    nearest-neighbour sampling and centred; the border is ``fill``."""
    frame = render_frame(scene, t)  # (H, W, 3)
    scale, left, top = canvas_geometry(scene.width, scene.height, size)
    width, height = round(scene.width * scale), round(scene.height * scale)
    rows = np.minimum((np.arange(height) + 0.5) / scale, scene.height - 1).astype(np.int64)
    cols = np.minimum((np.arange(width) + 0.5) / scale, scene.width - 1).astype(np.int64)
    canvas = np.full((size, size, 3), fill, dtype=np.uint8)
    canvas[top : top + height, left : left + width] = frame[rows[:, None], cols[None, :]]
    return canvas


def patch_targets(scene: Scene, t: float, size: int, patch: int) -> PatchTargets:
    """The colour and shape class, at ``t``, of the object that covers most of each patch (objects
    drawn later hide earlier ones, as in the renderer); 0 where no object covers `MIN_COVER` of it."""
    grid = size // patch
    scale, left, top = canvas_geometry(scene.width, scene.height, size)
    offsets = (np.arange(POINTS) + 0.5) * patch / POINTS  # within a patch, canvas pixels
    points = (np.arange(grid)[:, None] * patch + offsets[None, :]).reshape(-1)  # (g * POINTS,)
    xs = (points - left) / scale  # frame pixels
    ys = (points - top) / scale
    owner = np.full((len(ys), len(xs)), -1, dtype=np.int64)  # index into visible, per sample point
    visible = scene.visible_at(t)
    for index, obj in enumerate(visible):
        x, y = obj.position_at(t)
        u = xs[None, :] - x * scene.width  # (1, n)
        v = ys[:, None] - y * scene.height  # (n, 1)
        owner[shape_contains(obj.shape, u, v, obj.size * scene.height)] = index
    per_patch = owner.reshape(grid, POINTS, grid, POINTS).transpose(0, 2, 1, 3).reshape(grid, grid, -1)
    colour = np.zeros((grid, grid), dtype=np.int64)
    shape = np.zeros((grid, grid), dtype=np.int64)
    if visible:
        shares = np.stack([(per_patch == k).mean(axis=-1) for k in range(len(visible))])  # (K, g, g)
        winner = shares.argmax(axis=0)  # (g, g)
        covered = shares.max(axis=0) >= MIN_COVER
        colour_of = np.array([COLOUR_CLASSES.index(o.colour_at(t)) for o in visible])
        shape_of = np.array([SHAPE_CLASSES.index(o.shape) for o in visible])
        colour[covered] = colour_of[winner[covered]]
        shape[covered] = shape_of[winner[covered]]
    return PatchTargets(colour, shape)
