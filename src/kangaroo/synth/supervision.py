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

from .render import render_frame
from .scene import COLOURS, SHAPES, Scene

NONE = 0  # the class of a patch that no object covers
COLOUR_CLASSES: tuple[str, ...] = ("none", *COLOURS)
SHAPE_CLASSES: tuple[str, ...] = ("none", *SHAPES)
COVER = 0.8  # a patch belongs to an object when its centre is within COVER x the object's radius


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
    """The colour and shape class of the object under each patch centre at ``t`` (objects drawn
    later win, as in the renderer); 0 where no object covers the centre."""
    grid = size // patch
    scale, left, top = canvas_geometry(scene.width, scene.height, size)
    centres = (np.arange(grid) + 0.5) * patch  # canvas pixels
    xs = (centres - left) / scale  # (g,) frame pixels
    ys = (centres - top) / scale
    colour = np.zeros((grid, grid), dtype=np.int64)
    shape = np.zeros((grid, grid), dtype=np.int64)
    for obj in scene.objects:
        if not obj.visible_at(t):
            continue
        x, y = obj.position_at(t)
        radius = obj.size * scene.height
        distance = np.hypot(xs[None, :] - x * scene.width, ys[:, None] - y * scene.height)  # (g, g)
        covered = distance <= COVER * radius
        colour[covered] = COLOUR_CLASSES.index(obj.colour_at(t))
        shape[covered] = SHAPE_CLASSES.index(obj.shape)
    return PatchTargets(colour, shape)
