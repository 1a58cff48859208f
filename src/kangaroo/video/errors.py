"""Typed errors of the video layer.

Every failure to read a source raises a subclass of `VideoError`; the message names the source
and the cause, and the source is kept on the exception as `.source`. Sampling settings that cannot
be used at all (before any source is opened) raise `FrameSamplingError`.
"""

from __future__ import annotations

from kangaroo.config import ConfigError


class VideoError(Exception):
    """Base class: something about `source` could not be read as video."""

    def __init__(self, source: object, cause: str) -> None:
        self.source = str(source)
        self.cause = cause
        super().__init__(f"{self.source}: {cause}")


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The path does not exist (or is a directory where a file was expected)."""


class NoVideoStreamError(VideoError):
    """The file is a readable container without a video stream (e.g. audio only)."""


class UnsupportedFormatError(VideoError):
    """Not a container or image format the bundled FFmpeg can open."""


class VideoDecodeError(VideoError):
    """The file opened but its frames cannot be decoded (truncated, corrupt, crashed decoder)."""


class VideoTooLargeError(VideoError):
    """Declared resolution or requested output exceeds the configured pixel/byte budget."""


class VideoTimeoutError(VideoError, TimeoutError):
    """Decoding took longer than the allowed time."""


class InvalidSamplingError(VideoError, ValueError):
    """The sampling arguments cannot be satisfied for this source (bad counts, empty range)."""


class FrameSamplingError(ConfigError):
    """A `FrameSampling` (or `DynamicFrameRule`) whose settings contradict each other or are out
    of range; ``errors`` lists every problem. Not tied to a source, so not a `VideoError`."""


class SubtitleError(VideoError):
    """A subtitle file exists but cannot be read, decoded or parsed."""
