"""Rendering: the pixels (rendered and decoded from the written video) agree with the scene's
ground truth, and writing is deterministic."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kangaroo.synth.render import render_frame, write_image, write_scene
from kangaroo.synth.scene import COLOURS, Scene, SceneObject
from kangaroo.synth.world import needle_scene, sample_scene
from kangaroo.video import load_video, probe

NAMES = list(COLOURS)
PALETTE = np.array([COLOURS[n] for n in NAMES], dtype=np.float64)  # (8, 3)


def probe_point(scene: Scene, obj: SceneObject, t: float) -> tuple[int, int]:
    """(row, column) of a pixel well inside the object's shape (on the band of a ring)."""
    x, y = obj.position_at(t)
    cx, cy = x * scene.width, y * scene.height
    if obj.shape == "ring":
        cx += 0.75 * obj.size * scene.height
    return int(cy), int(cx)


def colour_name(frame: np.ndarray, row: int, col: int) -> str:
    """The palette colour nearest to the 3x3 mean around a pixel of a (decoded) frame."""
    mean = frame[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3).mean(axis=0)
    return NAMES[int(np.argmin(((PALETTE - mean) ** 2).sum(axis=1)))]


def without(scene: Scene, object_id: int) -> Scene:
    return dataclasses.replace(scene, objects=[o for o in scene.objects if o.id != object_id])


def find_scene(wanted: Callable[[Scene], bool], **kwargs: object) -> Scene:
    """The first scene (seeds 0, 1, ...) for which ``wanted`` holds."""
    return next(s for seed in range(200) if wanted(s := sample_scene(np.random.default_rng(seed), **kwargs)))


def decode(path: Path, scene: Scene) -> np.ndarray:
    clip = load_video(path)
    np.testing.assert_allclose(clip.timestamps, scene.frame_times(), atol=1e-4)
    return clip.frames


def test_frames_are_rgb_uint8_of_the_scene_size() -> None:
    scene = sample_scene(np.random.default_rng(0), size=(96, 64))
    frame = render_frame(scene, 1.0)
    assert frame.dtype == np.uint8 and frame.shape == (64, 96, 3)
    assert frame.flags.writeable and not np.shares_memory(frame, render_frame(scene, 1.0))


def test_each_object_is_drawn_exactly_while_visible_in_its_colour() -> None:
    for seed in range(4):
        scene = sample_scene(np.random.default_rng(seed), num_events=(4, 5))
        rows, cols = np.mgrid[0 : scene.height, 0 : scene.width] + 0.5
        for t in scene.frame_times():
            full = render_frame(scene, t)
            for obj in scene.objects:
                drawn = np.any(full != render_frame(without(scene, obj.id), t), axis=2)
                assert drawn.any() == obj.visible_at(t), (seed, t, obj.id)
                if obj.visible_at(t):
                    x, y = obj.position_at(t)
                    spread = np.hypot(cols - x * scene.width, rows - y * scene.height)[drawn]
                    assert spread.max() <= obj.size * scene.height + 1.5
                    row, col = probe_point(scene, obj, t)
                    assert tuple(full[row, col]) == COLOURS[obj.colour_at(t)]


def test_same_seed_gives_byte_identical_videos(tmp_path: Path) -> None:
    def make(name: str) -> bytes:
        scene = sample_scene(np.random.default_rng(5), duration=3.0, text_overlay=0.2, cuts=1, face=True)
        return write_scene(scene, tmp_path / name).read_bytes()

    assert make("a.mp4") == make("b.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"], "temporary file left behind"


def test_decoded_video_shows_the_ground_truth(tmp_path: Path) -> None:
    def has_all(s: Scene) -> bool:
        return {"change_colour", "appear", "disappear", "collide"} <= {e.kind for e in s.events}

    scene = find_scene(has_all, num_events=(5, 5), num_objects=(3, 4))
    frames = decode(write_scene(scene, tmp_path / "s.mp4"), scene)
    times = scene.frame_times()
    for frame, t in zip(frames, times, strict=True):
        for obj in scene.visible_at(t):
            assert colour_name(frame, *probe_point(scene, obj, t)) == obj.colour_at(t), (t, obj.id)

    def shown(obj: SceneObject, i: int) -> bool:
        """Whether decoded frame ``i`` looks like it has ``obj`` rather than only what is behind it."""
        row, col = probe_point(scene, obj, times[i])
        behind = render_frame(without(scene, obj.id), times[i])[row - 1 : row + 2, col - 1 : col + 2]
        return float(np.abs(frames[i][row - 1 : row + 2, col - 1 : col + 2].astype(float) - behind).mean()) > 25

    for event in scene.events:
        after = math.ceil(event.time * scene.fps)  # the first frame at or after the event
        obj = scene.object(event.objects[0])
        if event.kind == "change_colour":
            assert colour_name(frames[after - 1], *probe_point(scene, obj, times[after - 1])) == event.details["from"]
            assert colour_name(frames[after], *probe_point(scene, obj, times[after])) == event.details["to"]
        elif event.kind in ("appear", "disappear"):
            obj_then = dataclasses.replace(obj, appear=0.0, disappear=scene.duration)  # where it would be
            before, later = shown(obj_then, after - 1), shown(obj_then, after)
            assert (before, later) == ((False, True) if event.kind == "appear" else (True, False))


def test_static_video_barely_changes(tmp_path: Path) -> None:
    scene = sample_scene(np.random.default_rng(1), static=True, duration=3.0)
    frames = decode(write_scene(scene, tmp_path / "s.mp4"), scene).astype(np.int16)
    assert np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3)).max() < 1.0


def test_cut_switches_the_background_at_its_time(tmp_path: Path) -> None:
    scene = sample_scene(np.random.default_rng(2), cuts=1, static=True, duration=4.0)
    frames = decode(write_scene(scene, tmp_path / "s.mp4"), scene).astype(np.int16)
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # (T - 1,): frame i -> i + 1
    cut_frame = math.ceil(scene.cuts[0] * scene.fps)
    assert change[cut_frame - 1] > 10
    assert np.delete(change, cut_frame - 1).max() < 1.0


def test_text_overlay_is_drawn_in_its_boxes_only() -> None:
    scene = sample_scene(np.random.default_rng(4), text_overlay=0.3)
    drawn = np.any(render_frame(scene, 2.0) != render_frame(dataclasses.replace(scene, text_overlay=None), 2.0), axis=2)
    boxes = np.zeros_like(drawn)
    for x0, y0, x1, y1 in scene.text_overlay["boxes"]:
        boxes[y0:y1, x0:x1] = True
    assert not (drawn & ~boxes).any()
    assert drawn[boxes].mean() > 0.3
    assert boxes.mean() == pytest.approx(scene.text_overlay["coverage"])


def test_face_is_drawn_behind_the_objects() -> None:
    scene = sample_scene(np.random.default_rng(6), face=True, static=True)
    face = scene.background["face"]
    plain = render_frame(dataclasses.replace(scene, face=False, objects=[]), 0.0)
    with_face = render_frame(dataclasses.replace(scene, objects=[]), 0.0)
    drawn = np.any(with_face != plain, axis=2)
    rows, cols = np.nonzero(drawn)
    cx, cy, fh = face["x"] * scene.width, face["y"] * scene.height, face["height"] * scene.height
    assert cy - fh / 2 - 1 <= rows.min() and rows.max() <= cy + fh / 2 + 1 and drawn.mean() > 0.1
    assert cx - 0.39 * fh - 1 <= cols.min() and cols.max() <= cx + 0.39 * fh + 1
    cheek = with_face[int(cy + 0.1 * fh), int(cx - 0.25 * 0.78 * fh)]
    assert tuple(cheek) == tuple(face["skin"])
    full = render_frame(scene, 0.0)
    for obj in scene.objects:  # objects stay on top
        assert tuple(full[probe_point(scene, obj, 0.0)]) == COLOURS[obj.colour_at(0.0)]


def test_needle_shows_only_in_its_window_of_a_long_video(tmp_path: Path) -> None:
    scene, needle = needle_scene(np.random.default_rng(0), duration=60.0, size=(64, 48), needle_duration=1.0)
    path = write_scene(scene, tmp_path / "needle.mp4")
    assert probe(path).duration == pytest.approx(60.0, abs=0.6)
    frames = decode(path, scene)
    obj = scene.object(needle.objects[0])
    first = round(needle.time * scene.fps)
    for i in (first, first + 1):
        assert colour_name(frames[i], *probe_point(scene, obj, needle.time)) == obj.colours[0][1]
    for i in (first - 1, first + 2):
        row, col = probe_point(scene, obj, needle.time)
        behind = render_frame(without(scene, obj.id), i / scene.fps)[row, col].astype(float)
        assert np.abs(frames[i][row, col] - behind).mean() < 25


def test_write_image_saves_the_frame_as_png(tmp_path: Path) -> None:
    scene = sample_scene(np.random.default_rng(3))
    path = write_image(scene, tmp_path / "frame.png", t=1.5)
    with Image.open(path) as image:
        assert image.format == "PNG"
        np.testing.assert_array_equal(np.asarray(image), render_frame(scene, 1.5))


def test_world_and_renderer_do_not_import_torch() -> None:
    code = "import sys, kangaroo.synth.world, kangaroo.synth.render; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
