"""Encode frames to a real video file with PyAV (used by tests, the synthetic world and the demo).

Frames stream to disk one at a time, so long videos never sit in memory. Presentation times can
be given per frame (variable frame rate) and may start later than 0. The file appears atomically
when the writer closes (`kangaroo.io.PendingFile`): a reader never sees a half-written video, and
a writer that fails leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from kangaroo.io import PendingFile

# Codec and pixel format by container when the caller names none.
DEFAULT_CODECS: dict[str, tuple[str, str]] = {
    ".mp4": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"),
    ".gif": ("gif", "rgb8"),
}


class VideoWriter:
    """Context manager that encodes RGB ``(H, W, 3)`` uint8 frames to ``path``.

    ``fps`` sets the nominal rate; ``write(frame, timestamp=t)`` places a frame at ``t`` seconds
    (timestamps must increase), otherwise frames follow each other at ``1/fps``.
    ``gop`` and ``bframes`` shape the stream like a typical web video (keyframe interval,
    B-frames); ``rotation`` stores a display rotation (degrees counter-clockwise); ``options`` go to
    the encoder, ``container_options`` to the muxer (e.g. ``{"movflags": "+faststart"}``).
    Frames go to a temporary file beside ``path``; `close` (or leaving the ``with`` block) renames
    it to ``path``, an exception inside the ``with`` block discards it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: float = 25.0,
        *,
        codec: str | None = None,
        pix_fmt: str | None = None,
        gop: int | None = None,
        bframes: int | None = None,
        crf: int | None = None,
        rotation: int = 0,
        options: dict[str, str] | None = None,
        container_options: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        default_codec, default_pix = DEFAULT_CODECS.get(self.path.suffix.lower(), ("libx264", "yuv420p"))
        self._rate = Fraction(fps).limit_denominator(1001)
        self._time_base = _time_base_for(self.path.suffix.lower(), codec or default_codec, self._rate)
        self._pending = PendingFile(self.path)
        try:
            self._container = av.open(str(self._pending.path), mode="w", options=container_options or {})
        except BaseException:
            self._pending.discard()
            raise
        try:
            stream = self._container.add_stream(codec or default_codec, rate=self._rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = pix_fmt or default_pix
            stream.time_base = self._time_base
            stream.codec_context.time_base = self._time_base
            if gop is not None:
                stream.codec_context.gop_size = gop
            if bframes is not None:
                stream.codec_context.max_b_frames = bframes
            opts = dict(options or {})
            if crf is not None:
                opts["crf"] = str(crf)
            if opts:
                stream.codec_context.options = opts
            if rotation:
                stream.set_display_rotation(rotation)
        except BaseException:
            self.discard()
            raise
        self._stream = stream
        self._next_pts = 0
        self._last_pts: int | None = None
        self.frames_written = 0

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        """Encode one RGB frame ``(H, W, 3)`` uint8, optionally at ``timestamp`` seconds."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
        pts = self._next_pts if timestamp is None else round(Fraction(timestamp) / self._time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"timestamps must increase: {timestamp} s is not after the previous frame")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = pts
        video_frame.time_base = self._time_base
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self._last_pts = pts
        self._next_pts = pts + round(1 / (self._rate * self._time_base))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder, close the file and move it to ``path``."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            container, self._container = self._container, None
            container.close()
        except BaseException:
            self.discard()
            raise
        self._pending.commit()

    def discard(self) -> None:
        """Stop without writing ``path`` (the temporary file is removed)."""
        container, self._container = self._container, None
        try:
            if container is not None:
                with contextlib.suppress(Exception):  # the file is thrown away: its trailer does not matter
                    container.close()
        finally:
            self._pending.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def _time_base_for(suffix: str, codec: str, rate: Fraction) -> Fraction:
    """90 kHz ticks, except where the format needs coarser ones (GIF counts centiseconds; AVI and
    MPEG-4 Part 2 tick once per frame)."""
    if suffix == ".gif":
        return Fraction(1, 100)
    if suffix == ".avi" or codec == "mpeg4":
        return 1 / rate
    return Fraction(1, 90000)


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    *,
    timestamps: Iterable[float] | None = None,
    **options: object,
) -> Path:
    """Encode ``frames`` (an iterable of RGB uint8 ``(H, W, 3)``) to ``path``; returns the path.

    ``timestamps`` (seconds, increasing) gives each frame's presentation time for variable frame
    rate or a late start. Other keyword arguments go to `VideoWriter`.
    """
    frame_iter = iter(frames)
    first = next(frame_iter, None)
    if first is None:
        raise ValueError("write_video needs at least one frame")
    time_iter = iter(timestamps) if timestamps is not None else None
    with VideoWriter(path, first.shape[1], first.shape[0], fps, **options) as writer:  # type: ignore[arg-type]
        for frame in _chain_first(first, frame_iter):
            writer.write(frame, None if time_iter is None else next(time_iter))
    return Path(path)


def _chain_first(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest
