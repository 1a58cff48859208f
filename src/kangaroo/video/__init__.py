"""The video input layer: PTS-exact decoding, shared samplers, subtitles, a writer.

`import kangaroo.video` does not import torch, and loads only what decoding needs: the subtitle
reader and the writer (with pysubs2, charset_normalizer and kangaroo.io) load on first use, and
Pillow only for still images and folders of frames. Every decoding process pays for its imports
in memory.
"""

import importlib
from typing import Any

from .clip import StreamInfo, VideoClip, VideoInfo
from .decode import DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_PIXELS, load_video, probe
from .errors import (
    FrameSamplingError,
    InvalidSamplingError,
    NoVideoStreamError,
    SubtitleError,
    UnsupportedFormatError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    VideoTimeoutError,
    VideoTooLargeError,
)
from .sampling import (
    INSTRUCTION_TUNING_RULE,
    LONG_VIDEO_TUNING_RULE,
    SAMPLING_NAMES,
    DynamicFrameRule,
    FrameSampling,
    dynamic_frame_count,
    fps_times,
    frames_shown_at,
    sample_times,
    uniform_times,
)

_ON_FIRST_USE = {"SubtitleLine": "subtitles", "Subtitles": "subtitles", "load_subtitles": "subtitles",
                 "VideoWriter": "writer", "write_video": "writer"}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(f"{__name__}.{_ON_FIRST_USE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_MAX_PIXELS",
    "INSTRUCTION_TUNING_RULE",
    "LONG_VIDEO_TUNING_RULE",
    "SAMPLING_NAMES",
    "DynamicFrameRule",
    "FrameSampling",
    "FrameSamplingError",
    "InvalidSamplingError",
    "NoVideoStreamError",
    "StreamInfo",
    "SubtitleError",
    "SubtitleLine",
    "Subtitles",
    "UnsupportedFormatError",
    "VideoClip",
    "VideoDecodeError",
    "VideoError",
    "VideoInfo",
    "VideoNotFoundError",
    "VideoTimeoutError",
    "VideoTooLargeError",
    "VideoWriter",
    "dynamic_frame_count",
    "fps_times",
    "frames_shown_at",
    "load_subtitles",
    "load_video",
    "probe",
    "sample_times",
    "uniform_times",
    "write_video",
]
