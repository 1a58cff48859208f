"""`run_isolated` runs the decoder it is given in a subprocess: its clip and progress come back,
its typed errors keep their type, and a decoder that crashes the process becomes a
`VideoDecodeError` naming the signal. (`load_video(isolate=True)` is tested in test_decode_errors.)"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from kangaroo.video import VideoClip, VideoDecodeError, VideoTooLargeError
from kangaroo.video.isolation import run_isolated

pytestmark = pytest.mark.slow  # each test starts a Python subprocess


def counting_decoder(path: str, *, progress, frames: int) -> VideoClip:
    """``frames`` black frames, reporting progress after each (module level: pickled by name)."""
    for done in range(1, frames + 1):
        progress(done, frames)
    return VideoClip(np.zeros((frames, 2, 2, 3), np.uint8), np.arange(frames, dtype=np.float64), float(frames), path)


def refusing_decoder(path: str, *, progress) -> VideoClip:
    raise VideoTooLargeError(path, "too many pixels")


def failing_decoder(path: str, *, progress) -> VideoClip:
    raise KeyError("a bug in the decoder")


def crashing_decoder(path: str, *, progress) -> VideoClip:
    os.kill(os.getpid(), signal.SIGKILL)  # as a crash inside FFmpeg (or the OOM killer) ends it


def test_the_decoders_clip_and_progress_come_back() -> None:
    reports: list[tuple[int, int]] = []
    clip = run_isolated(counting_decoder, "v.mp4", {"frames": 3}, timeout=60, progress=lambda *r: reports.append(r))
    assert clip.frames.shape == (3, 2, 2, 3) and clip.timestamps.tolist() == [0.0, 1.0, 2.0]
    assert clip.source == "v.mp4" and reports == [(1, 3), (2, 3), (3, 3)]


def test_errors_keep_their_type_and_crashes_become_decode_errors() -> None:
    with pytest.raises(VideoTooLargeError, match="too many pixels") as refused:
        run_isolated(refusing_decoder, "big.mp4", {}, timeout=60, progress=None)
    assert refused.value.source == "big.mp4"
    with pytest.raises(VideoDecodeError, match="KeyError"):
        run_isolated(failing_decoder, "v.mp4", {}, timeout=60, progress=None)
    with pytest.raises(VideoDecodeError, match="SIGKILL"):
        run_isolated(crashing_decoder, "v.mp4", {}, timeout=60, progress=None)
