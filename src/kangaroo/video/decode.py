"""`load_video` and `probe`: the video layer's entry points.

``load_video`` samples target times with the shared samplers (`sampling.py`), decodes only the
frames shown at those times, and returns them with their real presentation timestamps.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from .clip import StreamInfo, VideoClip, VideoInfo
from .container import (
    declared_rotation,
    file_size,
    open_container,
    scan_packets,
    stream_timeline,
    video_stream,
)
from .errors import InvalidSamplingError, VideoNotFoundError, VideoTooLargeError
from .isolation import run_isolated
from .output import FrameBuffer
from .parallel import decode_targets
from .sampling import FrameSampling, frames_shown_at, resolve_bounds, sample_times
from .stills import IMAGE_SUFFIXES, list_frame_files, open_image
from .transforms import ASPECT_POLICIES, parse_size

DEFAULT_MAX_PIXELS = 8192 * 8192  # declared frame size above this is rejected before decoding
DEFAULT_MAX_OUTPUT_BYTES = 8 * 2**30  # the returned array may not exceed this
SEEK_MODES = ("exact", "keyframe")
ProgressCallback = Callable[[int, int], None]


def load_video(
    source: str | os.PathLike[str],
    sampling: FrameSampling | None = None,
    start: float | None = None,
    end: float | None = None,
    size: int | tuple[int, int] | str | None = None,
    seek: str = "exact",
    *,
    aspect: str = "pad",
    pad_value: int = 0,
    source_fps: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    timeout: float | None = None,
    isolate: bool = False,
    threads: int = 0,
    progress: ProgressCallback | None = None,
) -> VideoClip:
    """Decode the frames a sampler picks from a video, with their real timestamps.

    source:      a video file (mp4, mov, mkv, webm, avi, gif, ...), a still image (a 1-frame
                 clip, whatever the sampling), or a folder of frame images (needs ``source_fps``).
    sampling:    a `FrameSampling`: ``FrameSampling(num_frames=16)`` (uniform),
                 ``FrameSampling(sampling="fps", fps=1, max_frames=64)``, ``FrameSampling(sampling="dynamic")``
                 (count grows with duration, 16-64 frames by default); ``None`` returns every frame.
    start, end:  clip bounds in seconds on the video's clock.
    size:        ``448``, ``(width, height)`` or ``"640x360"``: resize sampled frames in FFmpeg's
                 scaler with the ``aspect`` policy (``pad`` with ``pad_value`` / ``crop`` / ``stretch``).
    seek:        ``exact`` (the frame shown at each target) or ``keyframe`` (the nearest keyframe:
                 fast, for long videos and curation; its real timestamp is returned).
    max_pixels, max_output_bytes: budgets checked before anything large is allocated.
    timeout:     seconds allowed for decoding; ``isolate=True`` decodes in a subprocess so a crash
                 or hang inside FFmpeg cannot take the caller down.
    threads:     decoding threads (0 = one per available CPU); targets in different GOPs are
                 decoded on separate threads.
    progress:    ``progress(done, total)`` as target frames are decoded.

    Returns a `VideoClip` with ``frames`` uint8 ``(T, H, W, 3)`` and ``timestamps`` float64 ``(T,)``.
    Raises a `VideoError` subclass naming the source and the cause.
    """
    kwargs = dict(
        sampling=sampling or FrameSampling(), start=start, end=end,
        size=size, seek=seek, aspect=aspect, pad_value=pad_value, source_fps=source_fps,
        max_pixels=max_pixels, max_output_bytes=max_output_bytes, timeout=timeout, threads=threads,
    )
    if isolate:
        return run_isolated(_load, os.fspath(source), kwargs, timeout, progress)
    return _load(os.fspath(source), progress=progress, **kwargs)


def _load(
    path: str,
    *,
    sampling: FrameSampling,
    start: float | None,
    end: float | None,
    size: int | tuple[int, int] | str | None,
    seek: str,
    aspect: str,
    pad_value: int,
    source_fps: float | None,
    max_pixels: int,
    max_output_bytes: int,
    timeout: float | None,
    threads: int,
    progress: ProgressCallback | None,
) -> VideoClip:
    try:
        out_size = parse_size(size)
        if seek not in SEEK_MODES:
            raise ValueError(f"unknown seek mode {seek!r}; choose one of {', '.join(SEEK_MODES)}")
        if aspect not in ASPECT_POLICIES:
            raise ValueError(f"unknown aspect policy {aspect!r}; choose one of {', '.join(ASPECT_POLICIES)}")
        if not 0 <= pad_value <= 255:
            raise ValueError(f"pad_value must be in 0..255, got {pad_value}")
    except ValueError as exc:
        raise InvalidSamplingError(path, str(exc)) from None
    deadline = None if timeout is None else time.monotonic() + timeout
    sampler = _Sampler(path, sampling, start, end)
    fit = dict(out_size=out_size, aspect=aspect, pad_value=pad_value, max_output_bytes=max_output_bytes)
    p = Path(path)
    if p.is_dir():
        return _load_folder(p, sampler, source_fps, max_pixels, progress, **fit)
    if not p.exists():
        raise VideoNotFoundError(path, "no such file")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return _load_image(p, sampler, max_pixels, **fit)
    return _load_container(path, sampler, seek, max_pixels, deadline, threads, progress, **fit)


class _Sampler:
    """The sampling request, checked once and applied to a clip once its duration is known."""

    def __init__(self, path: str, sampling: FrameSampling, start: float | None, end: float | None) -> None:
        if not isinstance(sampling, FrameSampling):
            raise InvalidSamplingError(path, f"sampling must be a FrameSampling, got {sampling!r}")
        self.path, self.sampling, self.start, self.end = path, sampling, start, end
        self.max_frames = sampling.max_frames
        self.every_frame = sampling.every_frame

    def bounds(self, duration: float) -> tuple[float, float]:
        try:
            return resolve_bounds(duration, self.start, self.end)
        except ValueError as exc:
            raise InvalidSamplingError(self.path, str(exc)) from None

    def times(self, lo: float, hi: float) -> np.ndarray:
        try:
            return sample_times(lo, hi, self.sampling)
        except ValueError as exc:
            raise InvalidSamplingError(self.path, str(exc)) from None


def _load_container(path, sampler: _Sampler, seek, max_pixels, deadline, threads, progress, **fit) -> VideoClip:
    with open_container(path) as container:
        stream = video_stream(container, path)
        ctx = stream.codec_context
        if ctx.width * ctx.height > max_pixels:
            raise VideoTooLargeError(path, f"declared {ctx.width}x{ctx.height} exceeds {max_pixels} pixels")
        timeline = stream_timeline(container, stream)
        index = None
        if timeline.duration is None or sampler.every_frame:
            index = scan_packets(container, stream, path, deadline)
            container.seek(timeline.first_pts, stream=stream, backward=True)
        duration = timeline.duration if timeline.duration is not None else float(timeline.seconds(index.end))
        lo, hi = sampler.bounds(duration)
        inside = None
        if sampler.every_frame:
            shown = timeline.seconds(index.pts)
            inside = index.pts[(shown >= lo) & (shown < hi)]
            if len(inside) == 0:
                inside = index.pts[frames_shown_at(shown, np.array([lo]))]
        if inside is not None and (sampler.max_frames is None or len(inside) <= sampler.max_frames):
            targets_ticks, target_times = inside, timeline.seconds(inside)
        else:  # a count was asked for, or every frame would exceed max_frames: uniform over the clip
            target_times = sampler.times(lo, hi)
            targets_ticks = timeline.ticks(target_times)
        rotation = declared_rotation(container)
        pixel_aspect = Fraction(stream.sample_aspect_ratio or 1) or Fraction(1)
        shown = (max(1, round(ctx.width * pixel_aspect)), ctx.height)
        if rotation in (90, 270):
            shown = (shown[1], shown[0])
        buffer = FrameBuffer(len(targets_ticks), shown, fit["out_size"], fit["aspect"], fit["pad_value"],
                             fit["max_output_bytes"], path)
        unique, slots_of = np.unique(targets_ticks, return_inverse=True)
        timestamps = np.zeros(len(targets_ticks), dtype=np.float64)
        done = 0
        lock = threading.Lock()

        def sink(j: int, frame) -> None:  # may run on several decoding threads, once per j
            nonlocal done
            slots = np.flatnonzero(slots_of == j)
            buffer.put_av(int(slots[0]), frame, rotation, pixel_aspect)
            for slot in slots[1:]:
                buffer.copy(int(slot), int(slots[0]))
            timestamps[slots] = timeline.seconds(frame.pts)
            with lock:
                done += len(slots)
                if progress is not None:
                    progress(done, len(targets_ticks))

        decode_targets(container, stream, timeline, path, deadline, threads, seek, unique, sink)
    return VideoClip(buffer.frames, timestamps, duration, path, np.asarray(target_times, dtype=np.float64),
                     lo, hi, shown)


def _load_image(p: Path, sampler: _Sampler, max_pixels, **fit) -> VideoClip:
    image = open_image(p, max_pixels)
    sampler.bounds(0.0)
    buffer = FrameBuffer(1, image.size, fit["out_size"], fit["aspect"], fit["pad_value"],
                         fit["max_output_bytes"], str(p))
    buffer.put_image(0, image)
    zero = np.zeros(1, dtype=np.float64)
    return VideoClip(buffer.frames, zero, 0.0, str(p), zero.copy(), 0.0, 0.0, image.size)


def _load_folder(folder: Path, sampler: _Sampler, source_fps, max_pixels, progress, **fit) -> VideoClip:
    files = list_frame_files(folder)
    if source_fps is None or not source_fps > 0:
        raise InvalidSamplingError(folder, "a folder of frames needs source_fps (its frame rate, > 0)")
    frame_times = np.arange(len(files), dtype=np.float64) / source_fps
    duration = len(files) / source_fps
    lo, hi = sampler.bounds(duration)
    target_times = frame_times[(frame_times >= lo) & (frame_times < hi)]
    if not sampler.every_frame or (sampler.max_frames is not None and len(target_times) > sampler.max_frames):
        target_times = sampler.times(lo, hi)
    picked = frames_shown_at(frame_times, target_times)
    first = open_image(files[picked[0]], max_pixels)
    buffer = FrameBuffer(len(picked), first.size, fit["out_size"], fit["aspect"], fit["pad_value"],
                         fit["max_output_bytes"], str(folder))
    done_at: dict[int, int] = {}
    for slot, index in enumerate(picked):
        if index in done_at:
            buffer.copy(slot, done_at[index])
        else:
            buffer.put_image(slot, first if slot == 0 else open_image(files[index], max_pixels))
            done_at[int(index)] = slot
        if progress is not None:
            progress(slot + 1, len(picked))
    return VideoClip(buffer.frames, frame_times[picked], duration, str(folder),
                     np.asarray(target_times, dtype=np.float64), lo, hi, first.size)


def probe(source: str | os.PathLike[str], *, scan: bool = True) -> VideoInfo:
    """Metadata of a video (or still image) without decoding frames.

    With ``scan`` the video packets are read (not decoded) to count frames and keyframes and to
    tell whether the frame rate varies. Raises a `VideoError` subclass.
    """
    path = os.fspath(source)
    p = Path(path)
    if not p.exists():
        raise VideoNotFoundError(path, "no such file")
    if p.is_dir():
        raise VideoNotFoundError(path, "is a directory; probe reads one video file")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return _probe_image(p)
    with open_container(path) as container:
        stream = video_stream(container, path)
        ctx = stream.codec_context
        timeline = stream_timeline(container, stream)
        rotation = declared_rotation(container)
        index = scan_packets(container, stream, path) if scan else None
        duration = timeline.duration
        if duration is None and index is not None:
            duration = float(timeline.seconds(index.end))
        rate = stream.average_rate or stream.guessed_rate
        frame_count = len(index.pts) if index is not None else (stream.frames or None)
        keyframe_count = len(index.keyframes) if index is not None else None
        interval = interval_frames = None
        is_vfr = None
        if index is not None:
            if keyframe_count and keyframe_count > 1:
                interval = float(np.mean(np.diff(index.keyframes)) * timeline.time_base)
            if keyframe_count:
                interval_frames = frame_count / keyframe_count
            is_vfr = _varies(np.diff(index.pts))
        width, height = ctx.width, ctx.height
        pixel_aspect = Fraction(stream.sample_aspect_ratio or 1) or Fraction(1)
        shown = (max(1, round(width * pixel_aspect)), height)
        if rotation in (90, 270):
            shown = (shown[1], shown[0])
        streams = [
            StreamInfo(s.index, s.type, s.codec_context.name if s.codec_context else "unknown",
                       float(s.duration * s.time_base) if s.duration and s.time_base else None,
                       s.metadata.get("language"))
            for s in container.streams
        ]
        return VideoInfo(
            source=path, format=container.format.name, size_bytes=file_size(path),
            duration=float(duration or 0.0),
            start_time=float(container.start_time / 1_000_000) if container.start_time is not None else 0.0,
            streams=streams, video_stream=stream.index, codec=ctx.name,
            profile=ctx.profile if isinstance(ctx.profile, str) else None,
            pix_fmt=ctx.pix_fmt, width=width, height=height, display_width=shown[0], display_height=shown[1],
            rotation=rotation, average_fps=float(rate) if rate else None, frame_count=frame_count,
            keyframe_count=keyframe_count, keyframe_interval=interval, keyframe_interval_frames=interval_frames,
            is_vfr=is_vfr, bit_rate=container.bit_rate or None, scanned=index is not None,
        )


def _varies(durations: np.ndarray) -> bool:
    """Whether frame durations differ by more than 1% (and a tick) from their median."""
    if len(durations) < 2:
        return False
    median = float(np.median(durations))
    return bool(np.any(np.abs(durations - median) > 0.01 * median + 1))


def _probe_image(p: Path) -> VideoInfo:
    image = open_image(p, DEFAULT_MAX_PIXELS)
    fmt = (p.suffix.lstrip(".") or "image").lower()
    return VideoInfo(
        source=str(p), format=fmt, size_bytes=file_size(str(p)), duration=0.0, start_time=0.0,
        streams=[StreamInfo(0, "video", fmt, None)], video_stream=0, codec=fmt, profile=None, pix_fmt="rgb24",
        width=image.width, height=image.height, display_width=image.width, display_height=image.height,
        rotation=0, average_fps=None, frame_count=1, keyframe_count=1, keyframe_interval=None,
        keyframe_interval_frames=1.0, is_vfr=False, bit_rate=None, scanned=True,
    )
