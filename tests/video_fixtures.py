"""Videos generated at test time whose every frame says which frame it is.

Frame ``i`` is a flat colour that encodes ``i`` in coarse steps (R = low 4 bits, G = next 4,
B = next 4), which survives lossy compression and chroma subsampling, so a test can read back
exactly which source frame a decoder returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kangaroo.video.writer import VideoWriter

STEP = 16


def frame_for(index: int, width: int, height: int) -> np.ndarray:
    """RGB ``(height, width, 3)`` whose colour encodes ``index`` (0 <= index < 4096)."""
    digits = [(index >> shift) & 0xF for shift in (0, 4, 8)]
    colour = np.array([d * STEP + STEP // 2 for d in digits], dtype=np.uint8)
    return np.broadcast_to(colour, (height, width, 3)).copy()


def frame_ids(frames: np.ndarray) -> np.ndarray:
    """Read back the index each frame ``(T, H, W, 3)`` encodes (from its centre)."""
    t, h, w, _ = frames.shape
    centre = frames[:, h // 4 : 3 * h // 4 + 1, w // 4 : 3 * w // 4 + 1].reshape(t, -1, 3).mean(axis=1)
    digits = np.clip(np.round((centre - STEP // 2) / STEP), 0, 15).astype(np.int64)
    return digits[:, 0] + 16 * digits[:, 1] + 256 * digits[:, 2]


def write_indexed(
    path: Path,
    count: int | None = None,
    *,
    fps: float = 25.0,
    times: Sequence[float] | None = None,
    size: tuple[int, int] = (64, 48),
    **writer_options: object,
) -> Path:
    """Encode ``count`` indexed frames at ``fps`` (or one per entry of ``times``, in seconds)."""
    n = len(times) if times is not None else count
    assert n is not None
    with VideoWriter(path, size[0], size[1], fps, **writer_options) as writer:  # type: ignore[arg-type]
        for i in range(n):
            writer.write(frame_for(i, *size), None if times is None else times[i])
    return path


def shown_at(frame_times: Sequence[float], targets: np.ndarray) -> np.ndarray:
    """Reference: the index of the frame a player shows at each target time."""
    times = np.asarray(frame_times, dtype=np.float64)
    return np.clip(np.searchsorted(times, targets + 1e-9, side="right") - 1, 0, len(times) - 1)
