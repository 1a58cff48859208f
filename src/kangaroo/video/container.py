"""Reading video containers with PyAV: open, pick the stream, index packets, decode targets.

Timestamps are kept in the stream's integer ticks until the end, where they become seconds on
the file's presentation clock: ``(pts - origin) * time_base`` with ``origin`` the container's
start time, so a file whose stream starts at 1.5 s has its first frame at 0.0, as players show it.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.logging
import numpy as np

from .errors import (
    NoVideoStreamError,
    UnsupportedFormatError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    VideoTimeoutError,
)

av.logging.set_level(None)  # keep FFmpeg's log bridge off: errors reach us as exceptions
_LOG_LOCK = threading.Lock()
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees")
_ATTACHED_PIC = 0x0400  # AV_DISPOSITION_ATTACHED_PIC: cover art, not a video


@contextlib.contextmanager
def open_container(path: str, timeout: float | None = None) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for reading; FFmpeg's failures become `VideoError` subclasses. Always closed."""
    try:
        container = av.open(path, mode="r", timeout=timeout)
    except FileNotFoundError:
        raise VideoNotFoundError(path, "no such file") from None
    except IsADirectoryError:
        raise VideoNotFoundError(path, "is a directory, not a video file") from None
    except av.error.InvalidDataError as exc:
        raise UnsupportedFormatError(path, f"not a video FFmpeg can read ({exc.strerror or exc})") from None
    except av.error.ExitError as exc:
        raise VideoTimeoutError(path, f"opening timed out ({exc})") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise UnsupportedFormatError(path, f"cannot open: {exc}") from None
    try:
        yield container
    finally:
        container.close()


def video_stream(container: av.container.InputContainer, path: str) -> av.video.stream.VideoStream:
    """The first real video stream (cover art attached to audio files does not count)."""
    for stream in container.streams.video:
        if not stream.disposition & _ATTACHED_PIC:
            return stream
    kinds = sorted({s.type for s in container.streams}) or ["none"]
    raise NoVideoStreamError(path, f"no video stream (streams: {', '.join(kinds)})")


def declared_rotation(container: av.container.InputContainer) -> int:
    """Display rotation (degrees counter-clockwise, 0/90/180/270) from the container's display
    matrix, read from FFmpeg's own format dump so that no frame is decoded."""
    with _LOG_LOCK:
        av.logging.set_level(av.logging.INFO)
        try:
            dump = container.dumps_format()
        finally:
            av.logging.set_level(None)
    match = _ROTATION_RE.search(dump)
    return round(float(match.group(1)) / 90) * 90 % 360 if match else 0


@dataclass(frozen=True)
class Timeline:
    """A stream's clock: integer ticks of ``time_base``; ``origin`` ticks is 0 seconds."""

    time_base: Fraction
    origin: int  # ticks at the file's presentation start
    first_pts: int  # ticks of the stream's first frame
    end_pts: int | None  # ticks where the stream's last frame ends, when declared

    def seconds(self, pts: int | np.ndarray) -> float | np.ndarray:
        return (np.asarray(pts, dtype=np.float64) - self.origin) * float(self.time_base)

    def ticks(self, seconds: np.ndarray) -> np.ndarray:
        """Seconds -> ticks, rounded down so that a target never lands after the frame it names."""
        return self.origin + np.floor(np.asarray(seconds) / float(self.time_base) + 1e-6).astype(np.int64)

    @property
    def duration(self) -> float | None:
        return None if self.end_pts is None else max(0.0, float(self.seconds(self.end_pts)))


def stream_timeline(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Timeline:
    """The stream's clock from header fields (no decoding)."""
    tb = stream.time_base or Fraction(1, 90000)
    first = stream.start_time if stream.start_time is not None else 0
    origin = first
    if container.start_time is not None:  # AV_TIME_BASE (microseconds) -> stream ticks
        origin = min(first, math.floor(Fraction(container.start_time, 1_000_000) / tb))
    end = None
    if stream.duration:
        end = first + stream.duration
    else:  # MKV/WebM declare no per-stream length, and their segment length counts from 0, not the start
        guess = origin + math.floor(Fraction(container.duration, 1_000_000) / tb) if container.duration else 2**53
        end = _end_from_tail(container, stream, guess, first)
    return Timeline(tb, origin, first, end)


def _end_from_tail(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                   guess: int, first: int) -> int | None:
    """Ticks where the last frame stops showing, read from the packets after the last keyframe
    (one seek and a few packets, nothing decoded). Leaves the container at the start."""
    end = None
    try:
        container.seek(guess, stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.pts is not None and packet.size:
                end = max(end or packet.pts, packet.pts + max(packet.duration or 0, 1))
        container.seek(first, stream=stream, backward=True)
    except av.error.FFmpegError:
        return None
    return end


@dataclass
class PacketIndex:
    """Presentation times of every frame of a stream, from a demux pass (nothing decoded).

    pts:       int64 ``(N,)`` sorted presentation ticks.
    keyframes: int64 ``(K,)`` sorted presentation ticks of keyframes.
    end:       ticks where the last frame stops showing.
    """

    pts: np.ndarray
    keyframes: np.ndarray
    end: int


def scan_packets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: str,
    deadline: float | None = None,
) -> PacketIndex:
    """Read every packet of ``stream`` (no decoding) and index their presentation times."""
    pts, keys, durations = [], [], []
    try:
        for packet in container.demux(stream):
            _check_deadline(deadline, path)
            if packet.size == 0:
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                continue
            pts.append(stamp)
            durations.append(packet.duration or 0)
            if packet.is_keyframe:
                keys.append(stamp)
    except av.error.FFmpegError as exc:
        if not pts:
            raise VideoDecodeError(path, f"cannot read packets: {exc}") from None
    if not pts:
        raise VideoDecodeError(path, "the video stream holds no packets")
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    pts_sorted = np.asarray(pts, dtype=np.int64)[order]
    last_duration = int(np.asarray(durations, dtype=np.int64)[order][-1])
    if last_duration <= 0 and len(pts_sorted) > 1:
        last_duration = int(np.median(np.diff(pts_sorted)))
    return PacketIndex(pts_sorted, np.sort(np.asarray(keys, dtype=np.int64)), int(pts_sorted[-1]) + max(last_duration, 1))


def _check_deadline(deadline: float | None, path: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise VideoTimeoutError(path, "decoding exceeded the time limit")


def indexed_keyframes(stream: av.video.stream.VideoStream, first_pts: int) -> np.ndarray | None:
    """Estimated presentation ticks of keyframes from the container's own index, or None.

    MP4/MOV index decode timestamps, MKV cues presentation ones; shifting the index so that its
    first keyframe sits at the stream's first pts makes both read as presentation times (exact
    for the usual constant B-frame delay). Used only to plan seeks, never as returned timestamps.
    """
    entries = stream.index_entries
    if entries is None or len(entries) == 0:
        return None
    keys = np.asarray([e.timestamp for e in entries if e.is_keyframe], dtype=np.int64)
    if len(keys) == 0:
        return None
    return np.sort(keys + max(0, first_pts - int(keys.min())))


def keyframe_seek_points(targets: np.ndarray, keyframes: np.ndarray | None) -> np.ndarray:
    """Per target tick, where keyframe mode seeks: the nearest indexed keyframe (ties go to the
    earlier one), else the target itself."""
    if keyframes is None:
        return targets.copy()
    keys = keyframes
    after = np.clip(np.searchsorted(keys, targets, side="left"), 0, len(keys) - 1)
    before = np.clip(after - 1, 0, len(keys) - 1)
    use_before = np.abs(targets - keys[before]) <= np.abs(keys[after] - targets)
    return np.where(use_before, keys[before], keys[after])


def frame_ticks(stream: av.video.stream.VideoStream, timeline: Timeline) -> int:
    """Ticks of one frame at the stream's declared rate (1 when no rate is declared)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return max(1, round(1 / (Fraction(rate) * timeline.time_base))) if rate else 1


class DecodeCancelled(Exception):
    """Raised inside a decoder that was asked to stop (another decoder of the same load failed)."""


FrameSink = Callable[[int, av.VideoFrame], None]

# Decoders that read ``skip_frame`` for every packet, so non-reference frames can be dropped on the
# way to a target. Others (libdav1d reads it once, at open) always decode everything.
PER_PACKET_SKIP_CODECS = frozenset({"h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4"})


class TargetDecoder:
    """Decodes, from one stream, the frames shown at sorted target ticks.

    Exact mode (`decode_exact`) seeks to the keyframe before a target only when that skips work,
    runs forward while FFmpeg drops non-reference frames that cannot be the target, and hands
    each target the last frame whose pts is at or before it. If a dropped frame turns out to be
    the one shown (variable frame rate can do that), the target is decoded again without
    dropping. Keyframe mode (`decode_keyframes`) decodes only the keyframe nearest each target.
    """

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        timeline: Timeline,
        path: str,
        deadline: float | None,
        threads: int = 0,
        keyframes: np.ndarray | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.container, self.stream, self.timeline, self.path = container, stream, timeline, path
        self.deadline, self.cancel = deadline, cancel
        self.ctx = stream.codec_context
        self.ctx.thread_count = threads
        self.frame_ticks = frame_ticks(stream, timeline)
        self.keyframes = keyframes  # from `indexed_keyframes`: plans seeks, None decodes without an index
        self.packets_decoded = 0
        self._fresh = True  # nothing read since the container was opened
        self._targets: list[int] = []  # the targets of the pass being run (sorted ticks)
        self._k = 0  # index of the first target not yet handed to the sink

    # -- exact -----------------------------------------------------------------------------
    def decode_exact(self, targets: np.ndarray, sink: FrameSink) -> None:
        """Call ``sink(i, frame)`` with the frame shown at ``targets[i]`` for every i (ascending)."""
        if not self.ctx.is_open:  # a decoder handed several runs keeps the threading it opened with
            self.ctx.thread_type = "AUTO"
        can_skip = self.ctx.name in PER_PACKET_SKIP_CODECS
        self._targets = targets.tolist()
        k, allow_skip = 0, can_skip
        while k < len(targets):
            reached = self._run_exact(targets, k, sink, allow_skip)
            if reached == k and not allow_skip:
                raise VideoDecodeError(self.path, f"no frame decodes at {self.timeline.seconds(targets[k]):.3f} s")
            allow_skip = can_skip and reached > k  # no progress: retry this target without dropping
            k = reached

    def _run_exact(self, targets: np.ndarray, k: int, sink: FrameSink, allow_skip: bool) -> int:
        """One seek-and-run pass from ``targets[k]``; returns the index of the first target left."""
        n = len(targets)
        seek_to, backoff = int(targets[k]), self.frame_ticks
        for _attempt in range(12):
            landed = self._seek(seek_to, k, targets)
            prev: av.VideoFrame | None = None
            unseen: set[int] = set()  # pts of packets sent whose frame has not come out
            too_late = False
            self._k = k
            for frame in self._frames(allow_skip, unseen):
                if frame is None:
                    continue
                unseen.discard(frame.pts)
                k_before = k
                while k < n and frame.pts > targets[k]:
                    if prev is None:
                        if landed and frame.pts > self.timeline.first_pts:
                            too_late = True  # the seek landed past the target: go further back
                            break
                        sink(k, frame)  # target before the stream's first frame
                    else:
                        if allow_skip and any(prev.pts < u <= targets[k] for u in unseen):
                            return k  # the shown frame was dropped: caller retries without dropping
                        sink(k, prev)
                    k += 1
                    self._k = k
                if too_late:  # e.g. open-GOP leading frames drop after a seek: go back further each time
                    seek_to, backoff = min(seek_to, frame.pts) - backoff, backoff * 4
                    break
                prev = frame
                if k == n:
                    return k
                if k > k_before and self._should_seek(frame.pts, int(targets[k])):
                    return k
            else:  # end of stream: the last frame stays on screen, up to a tolerance
                if prev is None:
                    return k
                shown_until = prev.pts + max(prev.duration or 0, self.frame_ticks)
                if targets[n - 1] - shown_until > self._eof_tolerance():
                    raise VideoDecodeError(
                        self.path,
                        f"frames stop at {self.timeline.seconds(shown_until):.3f} s but "
                        f"{self.timeline.seconds(targets[n - 1]):.3f} s was requested (truncated or corrupt file?)",
                    )
                while k < n:
                    sink(k, prev)
                    k += 1
                return k
            if not too_late:
                return k
        raise VideoDecodeError(self.path, "seeking never reached the requested time")

    def _frames(self, allow_skip: bool, unseen: set[int]) -> Iterator[av.VideoFrame | None]:
        """Yield decoded frames (``None`` after a packet that gave none) while demuxing. Non-reference
        frames that no target still to come falls on are dropped by FFmpeg; every packet's pts goes
        into ``unseen`` so the caller can tell when a frame it needed never came out."""
        try:
            for packet in self.container.demux(self.stream):
                self.check()
                if allow_skip and packet.pts is not None and not self._may_be_shown(packet.pts):
                    self.ctx.skip_frame = "NONREF"
                else:
                    self.ctx.skip_frame = "DEFAULT"
                if packet.pts is not None:
                    unseen.add(packet.pts)
                self.packets_decoded += 1
                frames = self.ctx.decode(packet)
                if not frames:
                    yield None
                for frame in frames:
                    if frame.pts is not None:
                        yield frame
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(self.path, f"decoding failed: {exc}") from None
        finally:
            self.ctx.skip_frame = "DEFAULT"

    def _may_be_shown(self, pts: int) -> bool:
        """Whether a frame at ``pts`` can be the one shown at a target still to come: one lies less
        than a frame duration after it. Frames after the current target count too, so the frames a
        decoder must read past a target before it lets the target out are dropped as well. (A frame
        shown for longer, under variable frame rate, is caught by `_run_exact`, which decodes again.)"""
        j = bisect.bisect_left(self._targets, pts, lo=self._k)
        return j < len(self._targets) and self._targets[j] < pts + self.frame_ticks

    def check(self) -> None:
        """Raise when the time limit has passed or another decoder asked this one to stop."""
        if self.cancel is not None and self.cancel.is_set():
            raise DecodeCancelled
        _check_deadline(self.deadline, self.path)

    def _seek(self, pts: int, k: int, targets: np.ndarray) -> bool:
        """Seek to the keyframe at or before ``pts`` unless decoding from the start is as good.
        Returns whether a seek happened."""
        in_first_gop = pts <= self.timeline.first_pts + self.frame_ticks or (
            self.keyframes is not None and len(self.keyframes) > 1 and pts < self.keyframes[1]
        )
        if in_first_gop and self._fresh:
            self._fresh = False
            return False  # a just-opened container already stands at the start
        self._fresh = False
        if in_first_gop:
            pts = self.timeline.first_pts
        try:
            self.container.seek(pts, stream=self.stream, backward=True)
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(self.path, f"cannot seek to {self.timeline.seconds(pts):.3f} s: {exc}") from None
        return not in_first_gop

    def _eof_tolerance(self) -> float:
        """Ticks a target may lie past the last decoded frame before the file counts as cut short:
        1 s or 2% of the declared duration, whichever is more."""
        second = 1 / float(self.timeline.time_base)
        declared = self.timeline.duration or 0.0
        return max(second, 0.02 * declared * second)

    def _should_seek(self, position: int, target: int) -> bool:
        """Whether jumping to the keyframe before ``target`` beats decoding on from ``position``."""
        if target <= position:
            return False
        if self.keyframes is not None:
            upcoming = np.searchsorted(self.keyframes, position, side="right")
            return upcoming < len(self.keyframes) and self.keyframes[upcoming] <= target
        return target - position > 2 * round(1 / float(self.timeline.time_base))  # > 2 s: seek

    # -- keyframes ---------------------------------------------------------------------------
    def decode_keyframes(self, targets: np.ndarray, sink: FrameSink) -> None:
        """Call ``sink(i, frame)`` with the keyframe nearest ``targets[i]`` (its real pts)."""
        if not self.ctx.is_open:
            self.ctx.thread_type = "SLICE"  # one frame per seek: frame threading only adds latency
        self.ctx.skip_frame = "DEFAULT"
        seek_points = keyframe_seek_points(targets, self.keyframes)
        cache: dict[int, av.VideoFrame] = {}
        for i, point in enumerate(seek_points):
            self.check()
            frame = cache.get(int(point))
            if frame is None:
                frame = self._first_keyframe_from(int(point))
                cache.clear()  # targets are sorted: an older keyframe is never asked again
                cache[int(point)] = frame
            sink(i, frame)

    def _first_keyframe_from(self, point: int) -> av.VideoFrame:
        """Seek, then decode the first keyframe packet alone and drain the decoder, so it comes out
        at once instead of waiting for the reorder delay to fill with later keyframes."""
        self._fresh = False
        try:
            self.container.seek(max(point, self.timeline.first_pts), stream=self.stream, backward=True)
            for packet in self.container.demux(self.stream):
                self.check()
                if not packet.is_keyframe or packet.size == 0:
                    continue
                self.packets_decoded += 1
                frames = [*self.ctx.decode(packet), *self.ctx.decode(None)]
                self.ctx.flush_buffers()
                for frame in frames:
                    if frame.pts is not None:
                        return frame
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(self.path, f"decoding failed: {exc}") from None
        raise VideoDecodeError(self.path, f"no keyframe decodes at or after {self.timeline.seconds(point):.3f} s")


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


__all__ = [
    "PacketIndex",
    "TargetDecoder",
    "Timeline",
    "VideoError",
    "declared_rotation",
    "open_container",
    "scan_packets",
    "stream_timeline",
    "video_stream",
]
