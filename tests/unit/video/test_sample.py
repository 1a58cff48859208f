"""The sample video: exact presentation times, web-like stream structure, a visible running clock."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from kangaroo.video.sample import make_sample_video


def decode_all(path: Path) -> tuple[list[float], list[np.ndarray], list[float], str]:
    """(frame times, RGB frames, keyframe times, codec name), read with PyAV directly."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        frames = list(container.decode(stream))
    times = [float(f.time) for f in frames]
    keys = [float(f.time) for f in frames if f.key_frame]
    return times, [f.to_ndarray(format="rgb24") for f in frames], keys, codec


def test_frames_sit_at_index_over_fps_with_keyframes_every_two_seconds(tmp_path: Path) -> None:
    path = make_sample_video(tmp_path / "s.mp4", duration=3.0, fps=10, size=(128, 96))
    assert path == tmp_path / "s.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.mp4"], "temporary file left behind"
    times, frames, keys, codec = decode_all(path)
    assert codec == "h264"
    np.testing.assert_allclose(times, np.arange(30) / 10, atol=1e-6)
    assert keys == pytest.approx([0.0, 2.0])
    assert frames[0].shape == (96, 128, 3)


def test_clock_corner_changes_every_frame_and_output_is_deterministic(tmp_path: Path) -> None:
    a = decode_all(make_sample_video(tmp_path / "a.mp4", duration=1.0, fps=8, size=(256, 144)))[1]
    b = decode_all(make_sample_video(tmp_path / "b.mp4", duration=1.0, fps=8, size=(256, 144)))[1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    corners = [f[:16, :96].astype(np.int16) for f in a]  # the clock's digits
    for prev, cur in itertools.pairwise(corners):
        assert np.abs(cur - prev).max() > 64, "the burned-in clock did not change between frames"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": (127, 96)}, "even"),
        ({"size": (32, 32)}, "64x64"),
        ({"fps": 0}, "fps"),
        ({"duration": 0.01}, "no frames"),
        ({"path": "x.webm"}, "H.264"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = dict(kwargs)
    with pytest.raises(ValueError, match=match):
        make_sample_video(tmp_path / args.pop("path", "x.mp4"), **args)
