"""The scene_cut step finds the cuts PySceneDetect finds on the same file.

Each clip is encoded at test time (PyAV, H.264) from shots of varied content: moving textures,
solid colours, blocky noise, a fast-moving pattern, with hard cuts, a dissolve and a fade through
black, at 25 and 50 fps, larger than the 256-px analysis size (so both sides downscale). The
reference is ``scenedetect.detect(path, Detector())`` with PySceneDetect's defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kangaroo.curation.steps.scene_cut import SceneCutStep
from kangaroo.video import write_video

scenedetect = pytest.importorskip("scenedetect")

Shot = Callable[[float, int, int], np.ndarray]  # (t seconds, width, height) -> RGB (h, w, 3)
WIDTH, HEIGHT = 384, 216  # PySceneDetect downscales by 1.5, the step to 256x144


def texture(seed: int) -> Shot:
    """A drifting sinusoidal texture whose colours and orientation depend on ``seed``."""
    rng = np.random.default_rng(seed)
    base, tint = rng.integers(40, 216, 3), rng.uniform(-1, 1, 3)
    fx, fy = rng.uniform(0.02, 0.08, 2)

    def frame(t: float, w: int, h: int) -> np.ndarray:
        across = (fx * np.arange(w)).astype(np.float32)
        down = (fy * np.arange(h) + 3.0 * t + seed).astype(np.float32)
        # sin(across + down) from 1-D terms: (h, w, 1)
        wave = (np.sin(down)[:, None] * np.cos(across) + np.cos(down)[:, None] * np.sin(across))[..., None]
        return np.clip(base + wave * (50 * tint).astype(np.float32), 0, 255).astype(np.uint8)

    return frame


def solid(rgb: tuple[int, int, int]) -> Shot:
    return lambda t, w, h: np.full((h, w, 3), rgb, dtype=np.uint8)


def blocks(seed: int, size: int = 16) -> Shot:
    """Static noise of ``size``-px blocks."""
    def frame(t: float, w: int, h: int) -> np.ndarray:
        small = np.random.default_rng(seed).integers(0, 256, (h // size + 1, w // size + 1, 3))
        return np.repeat(np.repeat(small, size, 0), size, 1)[:h, :w].astype(np.uint8)

    return frame


def moving_checker(speed: float) -> Shot:
    """A black and white checkerboard of 24-px squares sliding ``speed`` px/s to the right."""
    def frame(t: float, w: int, h: int) -> np.ndarray:
        columns, rows = (np.arange(w) + int(speed * t)) // 24, np.arange(h) // 24
        board = ((rows[:, None] + columns) % 2 * 255).astype(np.uint8)  # (h, w)
        return np.repeat(board[..., None], 3, axis=2)

    return frame


def clip(path: Path, shots: list[Shot], cuts: tuple[float, ...], duration: float, fps: float = 25.0,
         dissolve: dict[int, float] | None = None, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """Shot k plays from cuts[k-1] to cuts[k]; ``dissolve[k] = s`` blends shot k-1 into shot k over
    the first ``s`` seconds of shot k (a gradual transition instead of a hard cut)."""
    w, h = size
    frames = []
    for i in range(round(duration * fps)):
        t = i / fps
        k = sum(c <= t + 1e-9 for c in cuts)
        image = shots[k](t, w, h).astype(np.float32)
        blend = (dissolve or {}).get(k)
        if blend and t - cuts[k - 1] < blend:
            a = (t - cuts[k - 1]) / blend
            image = a * image + (1 - a) * shots[k - 1](t, w, h)
        frames.append(image.round().astype(np.uint8))
    return write_video(path, frames, fps)


BLACK = solid((0, 0, 0))
CLIPS = {
    "textures": dict(shots=[texture(1), texture(2), texture(3)], cuts=(1.2, 2.6), duration=4.0),
    "solid_colours": dict(shots=[solid((200, 40, 40)), solid((40, 40, 200)), solid((30, 160, 60))],
                          cuts=(0.8, 2.0), duration=3.0),
    "solid_noise_texture": dict(shots=[solid((128, 128, 128)), blocks(7), texture(4)], cuts=(1.0, 2.2),
                                duration=3.2),
    "dissolve_then_hard": dict(shots=[texture(5), texture(6), solid((220, 200, 40))], cuts=(1.0, 3.0),
                               duration=4.0, dissolve={1: 1.0}),
    "fade_through_black": dict(shots=[texture(8), BLACK, texture(9), texture(10)], cuts=(1.0, 1.5, 2.8),
                               duration=3.6, dissolve={1: 0.5, 2: 0.5}),
    "fast_motion": dict(shots=[moving_checker(150.0), blocks(11), moving_checker(-150.0)], cuts=(1.4, 2.4),
                        duration=3.4),
    "close_cuts_50fps": dict(shots=[texture(12), solid((240, 240, 240)), texture(13), blocks(14)],
                             cuts=(0.8, 1.2, 1.6), duration=2.4, fps=50.0),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, tuple[Path, float]]:
    folder = tmp_path_factory.mktemp("parity")
    return {name: (clip(folder / f"{name}.mp4", **spec), spec.get("fps", 25.0)) for name, spec in CLIPS.items()}


def reference_cuts(path: Path, detector: str) -> list[float]:
    from scenedetect.detectors import AdaptiveDetector, ContentDetector

    found = scenedetect.detect(str(path), ContentDetector() if detector == "content" else AdaptiveDetector())
    return [start.seconds for start, _ in found[1:]]


@pytest.mark.parametrize("detector", ["content", "adaptive"])
@pytest.mark.parametrize("name", list(CLIPS))
def test_step_cuts_where_pyscenedetect_cuts(videos, name, detector):
    path, fps = videos[name]
    expected = reference_cuts(path, detector)
    scenes = SceneCutStep(detector=detector, min_duration=0.0).scene_bounds({"id": name, "video": str(path)})
    found = [start for start, _ in scenes[1:]]
    assert len(found) == len(expected), (found, expected)
    assert np.allclose(found, expected, atol=1 / fps + 1e-6), (found, expected)  # within one analysed frame
    hard = [c for k, c in enumerate(CLIPS[name]["cuts"], 1) if k not in CLIPS[name].get("dissolve", {})]
    for cut in hard:  # and the clips' hard cuts are among them (the test sees real cuts)
        assert any(abs(f - cut) <= 1 / fps + 1e-6 for f in found), (cut, found)
