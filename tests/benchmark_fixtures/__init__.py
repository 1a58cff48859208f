"""Tiny benchmarks in each official annotation format, written at test time.

Each module ``<format>.py`` has ``write(root: Path) -> dict[str, str]``: it writes the
annotations and small videos (made with `kangaroo.video.writer.write_video`) under ``root``
exactly as the benchmark's download lays them out, and returns ``{sample id: correct letter}``
for every sample the reader should produce (ids as the reader makes them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kangaroo.video.writer import write_video


def tiny_video(path: Path, seconds: float = 2.0, fps: float = 8.0, seed: int = 0) -> Path:
    """A small H.264 video (64x48) of ``seconds`` at ``fps``: a moving bright square on grey."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 200, size=3, dtype=np.uint8)
    frames = []
    for i in range(max(1, round(seconds * fps))):
        frame = np.empty((48, 64, 3), dtype=np.uint8)
        frame[:] = background
        x = (i * 3) % 48
        frame[16:32, x : x + 16] = 255
        frames.append(frame)
    return write_video(path, frames, fps)


def tiny_frames(folder: Path, count: int, name: str = "{index:05d}.jpg", first: int = 1) -> Path:
    """A folder of ``count`` JPEG frames named by ``name`` (1-based by default, as MVBench's tvqa)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        frame = np.full((48, 64, 3), (i * 20) % 256, dtype=np.uint8)
        Image.fromarray(frame).save(folder / name.format(index=first + i))
    return folder
