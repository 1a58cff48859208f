"""Frame sampling rules: pure functions of time, shared by training, eval, curation and serving.

A sampler turns a clip's bounds ``[start, end)`` (seconds on the video's clock) into target
times; the decoder then returns, for each target, the frame a player shows at that time
(`frames_shown_at`). Keeping the rules here, free of I/O, means every part of kangaroo samples
the same frames from the same video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

SamplingName = Literal["uniform", "fps", "dynamic"]
SAMPLING_NAMES: tuple[str, ...] = ("uniform", "fps", "dynamic")


@dataclass(frozen=True)
class DynamicFrameRule:
    """How many frames a clip of a given duration gets (the paper's dynamic frame sampling).

    The count is ``ceil(duration * frames_per_second)`` clamped to ``[min_frames, max_frames]``
    and rounded up to a multiple of ``multiple_of`` (2 keeps the patchify module's temporal
    kernel whole) without exceeding ``max_frames``.
    """

    min_frames: int = 16  # the paper's instruction tuning starts at 16 frames
    max_frames: int = 64  # ... and grows to 64 (10K-token context)
    frames_per_second: float = 1.0  # growth rate: one frame per second of video
    multiple_of: int = 2  # frame counts are rounded up to this multiple

    def __post_init__(self) -> None:
        if self.min_frames < 1 or self.max_frames < self.min_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if not self.frames_per_second > 0:
            raise ValueError(f"frames_per_second must be > 0, got {self.frames_per_second}")
        if self.multiple_of < 1:
            raise ValueError(f"multiple_of must be >= 1, got {self.multiple_of}")


# Table II of the paper: stage 3 (instruction tuning) and stage 4 (long-video tuning).
INSTRUCTION_TUNING_RULE = DynamicFrameRule(min_frames=16, max_frames=64)
LONG_VIDEO_TUNING_RULE = DynamicFrameRule(min_frames=64, max_frames=160)


def _check_bounds(start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"clip bounds must be finite, got start={start}, end={end}")
    if end < start:
        raise ValueError(f"clip end {end} is before its start {start}")


def uniform_times(start: float, end: float, num_frames: int) -> np.ndarray:
    """Midpoints of ``num_frames`` equal segments of ``[start, end)``: float64 ``(num_frames,)``.

    This is how Kangaroo and Video-CCAM sample: no frame at the very edges, even coverage.
    A zero-length clip (a still image) gives ``num_frames`` copies of ``start``.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    _check_bounds(start, end)
    step = (end - start) / num_frames
    return start + (np.arange(num_frames, dtype=np.float64) + 0.5) * step


def fps_frame_count(duration: float, fps: float, max_frames: int | None = None) -> int:
    """Frames that sampling ``duration`` seconds at ``fps`` gives, capped at ``max_frames``."""
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    count = max(1, math.floor(duration * fps + 0.5))
    return min(count, max_frames) if max_frames is not None else count


def fps_times(start: float, end: float, fps: float, max_frames: int | None = None) -> np.ndarray:
    """Targets every ``1/fps`` seconds (segment midpoints); above ``max_frames``, uniform over the
    whole clip with ``max_frames`` targets, so the tail is never dropped."""
    _check_bounds(start, end)
    return uniform_times(start, end, fps_frame_count(end - start, fps, max_frames))


def dynamic_frame_count(duration: float, rule: DynamicFrameRule = INSTRUCTION_TUNING_RULE) -> int:
    """Frame count for a clip of ``duration`` seconds under ``rule``."""
    if duration < 0 or not math.isfinite(duration):
        raise ValueError(f"duration must be a finite number >= 0, got {duration}")
    count = min(max(math.ceil(duration * rule.frames_per_second - 1e-9), rule.min_frames), rule.max_frames)
    rounded = math.ceil(count / rule.multiple_of) * rule.multiple_of
    if rounded > rule.max_frames:  # max_frames itself is not a multiple: round down instead
        rounded = (rule.max_frames // rule.multiple_of) * rule.multiple_of or rule.max_frames
    return max(rounded, 1)


def dynamic_times(start: float, end: float, rule: DynamicFrameRule = INSTRUCTION_TUNING_RULE) -> np.ndarray:
    """Uniform targets, as many as `dynamic_frame_count` gives for the clip's duration."""
    _check_bounds(start, end)
    return uniform_times(start, end, dynamic_frame_count(end - start, rule))


def sample_times(
    start: float,
    end: float,
    *,
    sampling: str = "uniform",
    num_frames: int | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    rule: DynamicFrameRule | None = None,
) -> np.ndarray:
    """Target times for a clip under one of the named rules.

    - ``uniform``: ``num_frames`` segment midpoints (``num_frames`` required).
    - ``fps``: one target per ``1/fps`` seconds, at most ``max_frames``.
    - ``dynamic``: the count grows with duration per ``rule`` (default: instruction tuning, 16-64);
      ``max_frames`` further caps it.

    Raises ``ValueError`` on a missing or contradictory argument.
    """
    if sampling == "uniform":
        if num_frames is None:
            raise ValueError("sampling='uniform' needs num_frames")
        if max_frames is not None:
            num_frames = min(num_frames, max_frames)
        return uniform_times(start, end, num_frames)
    if sampling == "fps":
        if fps is None:
            raise ValueError("sampling='fps' needs fps (frames per second to sample)")
        return fps_times(start, end, fps, max_frames)
    if sampling == "dynamic":
        rule = rule or INSTRUCTION_TUNING_RULE
        if max_frames is not None:
            rule = DynamicFrameRule(
                min(rule.min_frames, max_frames), min(rule.max_frames, max_frames),
                rule.frames_per_second, rule.multiple_of,
            )
        return dynamic_times(start, end, rule)
    raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLING_NAMES)}")


def frames_shown_at(frame_times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the frame a player shows at each target: the last frame starting at or before it.

    ``frame_times`` must be sorted ascending (presentation order). Targets before the first
    frame map to frame 0. Returns int64 ``(len(targets),)``.
    """
    if len(frame_times) == 0:
        raise ValueError("no frames to choose from")
    idx = np.searchsorted(np.asarray(frame_times), np.asarray(targets), side="right") - 1
    return np.clip(idx, 0, len(frame_times) - 1).astype(np.int64)


def resolve_bounds(duration: float, start: float | None, end: float | None) -> tuple[float, float]:
    """Clip bounds inside ``[0, duration]``: ``None`` means the video's own start or end.

    Raises ``ValueError`` when the range is empty or lies outside the video.
    """
    lo = 0.0 if start is None else float(start)
    hi = duration if end is None else float(end)
    if lo < 0:
        raise ValueError(f"start must be >= 0, got {lo}")
    if hi <= lo and duration > 0:
        raise ValueError(f"empty clip: end {hi} <= start {lo}")
    if duration > 0 and lo >= duration:
        raise ValueError(f"start {lo} is at or past the video's end ({duration:.3f} s)")
    return lo, min(hi, duration) if duration > 0 else lo
