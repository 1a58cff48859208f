"""The video input layer: PTS-exact decoding, shared samplers, subtitles, a writer.

`import kangaroo.video` does not import torch.
"""

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
from .subtitles import SubtitleLine, Subtitles, load_subtitles
from .writer import VideoWriter, write_video

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
