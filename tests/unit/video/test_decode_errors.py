"""Bad input gets a typed `VideoError` naming the file, never a crash, hang or empty result."""

from __future__ import annotations

import numpy as np
import pytest

from kangaroo.video import (
    FrameSampling,
    InvalidSamplingError,
    NoVideoStreamError,
    UnsupportedFormatError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    VideoTimeoutError,
    VideoTooLargeError,
    load_video,
    probe,
)

from video_fixtures import frame_for, write_indexed


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return write_indexed(tmp_path_factory.mktemp("good") / "good.mp4", 100, fps=25, gop=25, bframes=2)


def _expect(error, path, **kwargs):
    with pytest.raises(error) as info:
        load_video(path, FrameSampling(num_frames=kwargs.pop("num_frames", 4)), **kwargs)
    assert str(path) in str(info.value)
    assert info.value.source == str(path)
    return info.value


def test_nonexistent_path(tmp_path):
    _expect(VideoNotFoundError, tmp_path / "missing.mp4")
    with pytest.raises(VideoNotFoundError):
        probe(tmp_path / "missing.mp4")


def test_empty_directory(tmp_path):
    err = _expect(VideoNotFoundError, tmp_path)
    assert "directory" in err.cause
    with pytest.raises(VideoNotFoundError, match="directory"):
        probe(tmp_path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("zero.mp4", b""),
        ("random.mp4", np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes()),
        ("text.mp4", b"this is not a video, just some text\n" * 100),
    ],
)
def test_not_a_video(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    _expect(VideoError, path)
    with pytest.raises(VideoError):
        probe(path)


def test_image_renamed_mp4_is_read_as_one_frame(tmp_path):
    """FFmpeg recognises the content, not the name: a PNG called .mp4 is a 1-frame video."""
    from PIL import Image

    path = tmp_path / "image.mp4"
    Image.fromarray(frame_for(3, 40, 30)).save(path, format="PNG")
    clip = load_video(path, FrameSampling(num_frames=2))
    assert clip.frames.shape == (2, 30, 40, 3)


def test_truncated_inside_the_header(tmp_path, good):
    path = tmp_path / "head.mp4"
    path.write_bytes(good.read_bytes()[:40])
    _expect((UnsupportedFormatError, VideoDecodeError), path)


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_half_way(tmp_path, faststart):
    options = {"movflags": "+faststart"} if faststart else {}
    source = tmp_path / "full.mp4"
    from kangaroo.video import VideoWriter

    with VideoWriter(source, 64, 48, 25, gop=25, bframes=2, container_options=options) as writer:
        for i in range(100):
            writer.write(np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    data = source.read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    _expect(VideoError, path)  # moov lost (end) or frames missing past the cut (faststart)


def test_audio_only(tmp_path):
    import av

    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    err = _expect(NoVideoStreamError, path)
    assert "audio" in err.cause


def test_declared_huge_resolution_is_rejected_before_allocating(tmp_path):
    path = tmp_path / "huge.y4m"
    path.write_bytes(b"YUV4MPEG2 W12000 H12000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\x80" * 1000)
    _expect(VideoTooLargeError, path)


def test_huge_still_image_is_rejected(tmp_path):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    _expect(VideoTooLargeError, path, max_pixels=10_000)


def test_output_budget(good):
    _expect(VideoTooLargeError, good, num_frames=64, max_output_bytes=64 * 48 * 3 * 10)


def test_corruption_mid_stream_does_not_crash(tmp_path, good):
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(7)
    middle = len(data) // 2
    data[middle : middle + 400] = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    try:
        clip = load_video(path, FrameSampling(num_frames=8))
    except VideoError as exc:
        assert str(path) in str(exc)
    else:  # FFmpeg conceals the damage: the frames still come back with their real times
        assert clip.frames.shape == (8, 48, 64, 3)
        assert np.all(np.diff(clip.timestamps) > 0)


def test_timeout(good):
    _expect(VideoTimeoutError, good, num_frames=50, timeout=1e-9)


@pytest.mark.slow
def test_isolated_errors_keep_their_type(tmp_path, good):
    _expect(VideoNotFoundError, tmp_path / "nope.mp4", isolate=True, timeout=60)
    _expect(VideoTooLargeError, good, isolate=True, max_output_bytes=10)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(start=9.0, end=2.0),
        dict(start=100.0),
        dict(seek="fastest"),
        dict(aspect="squish", size=32),
        dict(size="axb"),
        dict(sampling="fps"),  # a name, not a FrameSampling
    ],
)
def test_bad_arguments_are_typed_value_errors(good, kwargs):
    with pytest.raises(InvalidSamplingError) as info:
        load_video(good, **{"sampling": FrameSampling(num_frames=4), **kwargs})
    assert isinstance(info.value, ValueError)
    assert str(good) in str(info.value)


def test_folder_needs_its_frame_rate(tmp_path):
    from PIL import Image

    Image.fromarray(frame_for(0, 8, 8)).save(tmp_path / "0.png")
    _expect(InvalidSamplingError, tmp_path)


@pytest.mark.slow
def test_isolation_survives_a_hang_inside_ffmpeg(tmp_path):
    """Opening a FIFO with no writer blocks inside FFmpeg forever; the subprocess is killed."""
    import os
    import time

    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)
    started = time.monotonic()
    err = _expect(VideoTimeoutError, fifo, isolate=True, timeout=2)
    assert "time limit" in err.cause
    assert time.monotonic() - started < 30
