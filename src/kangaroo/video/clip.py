"""What the video layer returns: decoded clips (`VideoClip`) and metadata (`VideoInfo`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class VideoClip:
    """Sampled frames of one video with their real presentation times.

    frames:       uint8 ``(T, H, W, 3)`` RGB, rotated the way a player shows them.
    timestamps:   float64 ``(T,)`` seconds on the video's clock (0 = the file's presentation
                  start), read from each returned frame's presentation timestamp.
    target_times: float64 ``(T,)`` the times the sampler asked for; ``timestamps[i]`` is the
                  frame shown at ``target_times[i]`` (exact seek) or the keyframe nearest to it.
    duration:     seconds, the whole video's presentation length (0 for a still image).
    source:       the path (or description) the clip was read from.
    start, end:   the clip bounds that were sampled, in seconds.
    frame_size:   ``(width, height)`` of the source frames as displayed, before any resize.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    duration: float
    source: str
    target_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    start: float = 0.0
    end: float = 0.0
    frame_size: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class StreamInfo:
    """One stream of a container as declared in its headers."""

    index: int
    type: str  # "video", "audio", "subtitle", "data", ...
    codec: str
    duration: float | None  # seconds, when declared
    language: str | None = None


@dataclass
class VideoInfo:
    """Metadata of a video source, read without decoding frames (`kangaroo.video.probe`).

    Frame count, keyframe interval and frame-rate variability come from the packet index
    (a demux pass that reads packets but decodes nothing), when ``scanned`` is true.
    """

    source: str
    format: str  # container format name(s) as FFmpeg reports them
    size_bytes: int
    duration: float  # seconds of video presentation (0 for a still image)
    start_time: float  # seconds where the file's presentation starts on its own clock
    streams: list[StreamInfo]
    video_stream: int  # index of the video stream described below
    codec: str
    profile: str | None
    pix_fmt: str | None
    width: int  # coded frame size
    height: int
    display_width: int  # frame size as shown, after rotation
    display_height: int
    rotation: int  # degrees counter-clockwise applied on display
    average_fps: float | None
    frame_count: int | None
    keyframe_count: int | None
    keyframe_interval: float | None  # mean seconds between keyframes
    keyframe_interval_frames: float | None  # mean frames between keyframes
    is_vfr: bool | None  # frame durations vary (more than 1% around the median)
    bit_rate: int | None
    scanned: bool  # whether the packet index was read

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return asdict(self)
