"""Per-patch ground truth of rendered frames: the vision tower's pre-training targets."""

from __future__ import annotations

import numpy as np
import pytest

from kangaroo.synth import world
from kangaroo.synth.render import render_frame
from kangaroo.synth.scene import COLOURS, SHAPES
from kangaroo.synth.supervision import (
    COLOUR_CLASSES,
    SHAPE_CLASSES,
    canvas_geometry,
    patch_targets,
    render_on_canvas,
)


@pytest.mark.parametrize(("size", "patch"), [(112, 14), (128, 16), (224, 14)])
def test_targets_match_the_pixels_drawn_in_each_patch(size, patch):
    rng = np.random.default_rng(3)
    labelled = 0
    for _ in range(12):
        scene = world.sample_scene(rng)
        t = float(rng.uniform(0, scene.duration))
        background = render_on_canvas(world.Scene(**{**scene.__dict__, "objects": []}), t, size)
        canvas = render_on_canvas(scene, t, size)
        targets = patch_targets(scene, t, size, patch)
        grid = size // patch
        for row in range(grid):
            for col in range(grid):
                cell = (slice(row * patch, (row + 1) * patch), slice(col * patch, (col + 1) * patch))
                changed = np.abs(canvas[cell].astype(int) - background[cell]).max(axis=-1) > 40  # object pixels
                colour = targets.colour[row, col]
                if colour == 0:
                    assert changed.mean() < 0.5  # no object covers most of an unlabelled patch
                    continue
                labelled += 1
                assert targets.shape[row, col] > 0 and changed.mean() > 0.1
                rgb = np.array(COLOURS[COLOUR_CLASSES[colour]])
                # the named colour is the most common object colour in the patch
                near = np.abs(canvas[cell].astype(int) - rgb).max(axis=-1) <= 20
                assert near.sum() >= 0.4 * changed.sum()  # anti-aliased edges are neither
    assert labelled > 20


def test_every_visible_object_covers_a_patch_with_its_shape_and_colour():
    rng = np.random.default_rng(5)
    for _ in range(10):
        scene = world.sample_scene(rng)
        targets = patch_targets(scene, 0.0, 128, 8)
        for obj in scene.visible_at(0.0):
            colour, shape = COLOUR_CLASSES.index(obj.colour_at(0.0)), SHAPE_CLASSES.index(obj.shape)
            # an object drawn later may hide it; the topmost one always shows
            if obj is scene.visible_at(0.0)[-1]:
                assert ((targets.colour == colour) & (targets.shape == shape)).any()
    assert COLOUR_CLASSES[0] == SHAPE_CLASSES[0] == "none" and set(SHAPE_CLASSES[1:]) == set(SHAPES)


def test_canvas_holds_the_frame_centred_with_a_border():
    scene = world.sample_scene(np.random.default_rng(0), size=(128, 96))
    canvas = render_on_canvas(scene, 1.0, 128, fill=7)
    scale, left, top = canvas_geometry(128, 96, 128)
    assert (scale, left, top) == (1.0, 0, 16)
    assert (canvas[:16] == 7).all() and (canvas[-16:] == 7).all()
    np.testing.assert_array_equal(canvas[16:112], render_frame(scene, 1.0))
    small = render_on_canvas(scene, 1.0, 112)
    assert small.shape == (112, 112, 3) and (small[:14] == 127).all()
