"""Frame sampling: which frames of a clip a model sees, as one value and pure functions of time.

`FrameSampling` is the one description of how frames are sampled (the rule, its count, rate and
cap, the dynamic rule by duration), shared by `load_video`, the processor, training recipes, eval
tasks and the feature cache. A sampler turns a clip's bounds ``[start, end)`` (seconds on the
video's clock) into target times; the decoder then returns, for each target, the frame a player
shows at that time (`frames_shown_at`). Keeping the rules here, free of I/O, means every part of
kangaroo samples the same frames from the same video.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from kangaroo.config import from_dict

from .errors import FrameSamplingError

SamplingName = Literal["uniform", "fps", "dynamic"]
SAMPLING_NAMES: tuple[str, ...] = typing.get_args(SamplingName)


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
        problems = []
        if self.min_frames < 1 or self.max_frames < self.min_frames:
            problems.append(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if not self.frames_per_second > 0:
            problems.append(f"frames_per_second must be > 0, got {self.frames_per_second}")
        if self.multiple_of < 1:
            problems.append(f"multiple_of must be >= 1, got {self.multiple_of}")
        if problems:
            raise FrameSamplingError(problems)

    @property
    def most_frames(self) -> int:
        """The count of long clips (``max_frames``, rounded down to a multiple when it is not one)."""
        return _round_to_multiple(self.max_frames, self)

    def capped(self, max_frames: int | None) -> DynamicFrameRule:
        """This rule with both bounds at most ``max_frames`` (None: unchanged)."""
        if max_frames is None:
            return self
        return dataclasses.replace(self, min_frames=min(self.min_frames, max_frames),
                                   max_frames=min(self.max_frames, max_frames))


# Table II of the paper: stage 3 (instruction tuning) and stage 4 (long-video tuning).
INSTRUCTION_TUNING_RULE = DynamicFrameRule(min_frames=16, max_frames=64)
LONG_VIDEO_TUNING_RULE = DynamicFrameRule(min_frames=64, max_frames=160)


@dataclass(frozen=True)
class FrameSampling:
    """How frames are sampled from a clip: the one value that `load_video`, the processor,
    recipes (``data.frames``), eval tasks (``frames``) and the feature cache hold.

    - ``uniform``: ``num_frames`` segment midpoints; ``num_frames=None`` means every frame of
      the clip (`load_video` only).
    - ``fps``: one frame per ``1 / fps`` seconds.
    - ``dynamic``: the count grows with the clip's duration per ``rule`` (default: the paper's
      instruction tuning, 16-64 frames); clips longer than ``long_min_duration`` seconds use
      ``long_rule`` instead (the paper's long-video tuning: 64-160 frames above 64 s).

    ``max_frames`` caps every rule. Frozen: change it with `dataclasses.replace` or `with_frames`.
    Raises `FrameSamplingError` (a ``ValueError``) listing every contradictory or out-of-range field.
    """

    sampling: SamplingName = "uniform"  # uniform | fps | dynamic
    num_frames: int | None = None  # uniform: frames per clip (None: every frame)
    fps: float | None = None  # fps: frames per second of video
    max_frames: int | None = None  # any rule: most frames per clip (None: no cap)
    rule: DynamicFrameRule | None = None  # dynamic: frames by duration (None: INSTRUCTION_TUNING_RULE)
    long_rule: DynamicFrameRule | None = None  # dynamic: the rule of clips longer than long_min_duration
    long_min_duration: float | None = None  # dynamic: clips longer than this (seconds) use long_rule

    def __post_init__(self) -> None:
        problems = []
        if self.sampling not in SAMPLING_NAMES:
            problems.append(f"unknown sampling {self.sampling!r}; choose one of {', '.join(SAMPLING_NAMES)}")
        if self.num_frames is not None and self.num_frames < 1:
            problems.append(f"num_frames must be >= 1, got {self.num_frames}")
        if self.num_frames is not None and self.sampling != "uniform":
            problems.append(f"num_frames is for sampling='uniform', not {self.sampling!r}; use max_frames")
        if self.sampling == "fps" and (self.fps is None or not self.fps > 0):
            problems.append(f"sampling='fps' needs fps > 0 (frames per second to sample), got {self.fps}")
        if self.fps is not None and self.sampling != "fps":
            problems.append(f"fps is for sampling='fps', not {self.sampling!r}")
        if self.max_frames is not None and self.max_frames < 1:
            problems.append(f"max_frames must be >= 1, got {self.max_frames}")
        dynamic_fields = {"rule": self.rule, "long_rule": self.long_rule, "long_min_duration": self.long_min_duration}
        if self.sampling != "dynamic":
            problems += [f"{name} is for sampling='dynamic', not {self.sampling!r}"
                         for name, value in dynamic_fields.items() if value is not None]
        elif (self.long_rule is None) != (self.long_min_duration is None):
            problems.append("long_rule and long_min_duration go together: give both or neither")
        elif self.long_min_duration is not None and not self.long_min_duration >= 0:
            problems.append(f"long_min_duration must be >= 0 seconds, got {self.long_min_duration}")
        if problems:
            raise FrameSamplingError(problems)
        if self.sampling == "dynamic" and self.rule is None:  # one value for one behaviour
            object.__setattr__(self, "rule", INSTRUCTION_TUNING_RULE)

    @property
    def every_frame(self) -> bool:
        """Uniform sampling without a count: every frame of the clip (uniform ``max_frames`` above it)."""
        return self.sampling == "uniform" and self.num_frames is None

    def rule_for(self, duration: float) -> DynamicFrameRule:
        """The dynamic rule of a clip of ``duration`` seconds (``long_rule`` above ``long_min_duration``),
        capped at ``max_frames``."""
        if self.sampling != "dynamic":
            raise FrameSamplingError([f"sampling={self.sampling!r} has no dynamic rule"])
        assert self.rule is not None
        long = self.long_min_duration is not None and duration > self.long_min_duration
        rule = self.long_rule if long else self.rule
        assert rule is not None
        return rule.capped(self.max_frames)

    def frame_count(self, duration: float) -> int | None:
        """Frames sampled from a clip of ``duration`` seconds (None: every frame, uncapped)."""
        if self.sampling == "fps":
            assert self.fps is not None
            return fps_frame_count(duration, self.fps, self.max_frames)
        if self.sampling == "dynamic":
            return dynamic_frame_count(duration, self.rule_for(duration))
        count = self.num_frames if self.num_frames is not None else self.max_frames
        return min(count, self.max_frames or count) if count is not None else None

    @property
    def most_frames(self) -> int | None:
        """The most frames any clip can get (None: unbounded, e.g. fps without ``max_frames``)."""
        if self.sampling == "dynamic":
            assert self.rule is not None
            rules = [r.capped(self.max_frames) for r in (self.rule, self.long_rule) if r is not None]
            return max(rule.most_frames for rule in rules)
        if self.sampling == "fps":
            return self.max_frames
        return self.frame_count(0.0)

    def with_frames(self, frames: int) -> FrameSampling:
        """A copy sampling ``frames`` frames: the count of ``uniform``, the cap of ``fps`` and ``dynamic``."""
        if self.sampling == "uniform":
            return dataclasses.replace(self, num_frames=frames)
        return dataclasses.replace(self, max_frames=frames)

    def describe(self) -> str:
        """One line for people: ``16 frames``, ``2 per second, at most 64``, ``8-32 frames by
        duration, 32-80 above 16 s``."""
        if self.sampling == "uniform":
            text = "every frame" if self.num_frames is None else f"{self.num_frames} frames"
        elif self.sampling == "fps":
            text = f"{self.fps:g} per second"
        else:
            assert self.rule is not None
            text = f"{self.rule.min_frames}-{self.rule.max_frames} frames by duration"
            if self.long_rule is not None:
                text += f", {self.long_rule.min_frames}-{self.long_rule.max_frames} above {self.long_min_duration:g} s"
        return text + (f", at most {self.max_frames}" if self.max_frames is not None else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON / YAML (unset fields left out); `from_dict` reads it back."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = dataclasses.asdict(value) if isinstance(value, DynamicFrameRule) else value
        return out

    @classmethod
    def from_dict(cls, data: Any) -> FrameSampling:
        """A `FrameSampling` from `to_dict`'s data (or a recipe's / task's ``frames`` mapping).
        Raises `FrameSamplingError` naming every unknown key, bad type or bad value."""
        return from_dict(cls, data, error=FrameSamplingError)


DEFAULT_SAMPLING = FrameSampling(num_frames=16)  # the processor's, a recipe's and a task's default


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
    return _round_to_multiple(count, rule)


def _round_to_multiple(count: int, rule: DynamicFrameRule) -> int:
    rounded = math.ceil(count / rule.multiple_of) * rule.multiple_of
    if rounded > rule.max_frames:  # max_frames itself is not a multiple: round down instead
        rounded = (rule.max_frames // rule.multiple_of) * rule.multiple_of or rule.max_frames
    return max(rounded, 1)


def sample_times(start: float, end: float, sampling: FrameSampling) -> np.ndarray:
    """Target times (float64 ``(T,)``) for the clip ``[start, end)`` under ``sampling``.

    Uniform sampling without ``num_frames`` ("every frame") needs the video's frame times, which
    `load_video` has; here it gives ``max_frames`` targets. Raises ``ValueError`` for bad bounds,
    or for every-frame sampling without a cap.
    """
    _check_bounds(start, end)
    count = sampling.frame_count(end - start)
    if count is None:
        raise ValueError("uniform sampling of every frame has no target times: give num_frames or max_frames")
    return uniform_times(start, end, count)


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
