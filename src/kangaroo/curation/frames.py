"""Frames for curation steps: only the few a step needs, small, from the record's clip."""

from __future__ import annotations

from typing import Any

import numpy as np

from .steps.base import Record, clip_bounds


def clip_frames(record: Record, num_frames: int, size: int | tuple[int, int] | None = None,
                seek: str = "auto", aspect: str = "stretch", **load_kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """``num_frames`` uniformly spaced frames of the record's clip: uint8 ``(T, H, W, 3)`` and
    timestamps ``(T,)`` seconds.

    seek:  ``auto`` (default: the nearest keyframes, fast, unless one lies outside the clip, e.g.
           a short clip cut from a long video, or two coincide: then the exact frames), ``keyframe``
           or ``exact`` (consecutive frames for motion).
    size:  e.g. ``128`` or ``(640, 360)``; None keeps the video's size.
    Raises `kangaroo.video.VideoError` when the video cannot be read.
    """
    from kangaroo.video import FrameSampling, load_video

    start, end = clip_bounds(record)
    kwargs = {"sampling": FrameSampling(num_frames=num_frames), "start": start, "end": end, "size": size,
              "aspect": aspect, **load_kwargs}
    clip = load_video(record["video"], seek="keyframe" if seek == "auto" else seek, **kwargs)
    times = np.asarray(clip.timestamps)
    if seek == "auto" and (not _inside(times, start, end, clip.duration) or len(set(times.tolist())) < len(times)):
        clip = load_video(record["video"], seek="exact", **kwargs)
        times = np.asarray(clip.timestamps)
    return clip.frames, times


def _inside(times: np.ndarray, start: float | None, end: float | None, duration: float) -> bool:
    low = 0.0 if start is None else start
    high = duration if end is None else end
    return bool(np.all((times >= low - 1e-6) & (times < high + 1e-6)))


def fit_width(width: int, height: int, max_width: int) -> tuple[int, int]:
    """``(w, h)`` scaled so that ``w <= max_width``, aspect kept, both even."""
    if width <= max_width:
        return width - width % 2, height - height % 2
    scaled = round(height * max_width / width)
    return max_width - max_width % 2, max(2, scaled - scaled % 2)


def frames_within_width(record: Record, num_frames: int, max_width: int) -> np.ndarray:
    """``num_frames`` uniformly spaced frames of the clip, uint8 ``(T, H, W, 3)``, scaled down (by
    the decoder) so that ``W <= max_width``, aspect kept. Raises `kangaroo.video.VideoError`."""
    from kangaroo.video import probe

    info = probe(record["video"], scan=False)
    width, height = info.display_width, info.display_height
    size = fit_width(width, height, max_width) if width > max_width else None
    frames, _ = clip_frames(record, num_frames, size=size, seek="auto")
    return frames


def check_coverage_settings(threshold: float, num_frames: int, max_width: int) -> None:
    """Validate the settings shared by the coverage filters (text, faces). Raises ValueError."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a fraction of the frame in [0, 1], got {threshold}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if max_width < 32:
        raise ValueError(f"max_width must be >= 32 pixels, got {max_width}")
