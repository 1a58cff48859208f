"""Decoding with several threads: the GOPs of a load spread over decoders, the same frames as one."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kangaroo.video import FrameSampling, VideoTimeoutError, load_video
from kangaroo.video.parallel import plan_threads, run_costs, target_runs

from video_fixtures import frame_ids, shown_at, write_indexed

FPS = 30


@pytest.fixture(scope="module")
def gops_video(tmp_path_factory):
    """10 s at 30 fps, H.264 with 3 B-frames and a keyframe every 30 frames: 10 GOPs."""
    path = tmp_path_factory.mktemp("v") / "gops.mp4"
    return write_indexed(path, 300, fps=FPS, gop=30, bframes=3, options={"x264-params": "scenecut=0"})


@pytest.mark.parametrize("seek", ["exact", "keyframe"])
def test_every_thread_count_gives_the_frames_of_one_thread(gops_video, seek):
    sampling = FrameSampling(num_frames=45)
    one = load_video(gops_video, sampling, seek=seek, threads=1)
    if seek == "exact":
        np.testing.assert_array_equal(frame_ids(one.frames), shown_at(np.arange(300) / FPS, one.target_times))
    for threads in (2, 3, 0):
        clip = load_video(gops_video, sampling, seek=seek, threads=threads)
        np.testing.assert_array_equal(clip.frames, one.frames)
        np.testing.assert_array_equal(clip.timestamps, one.timestamps)


def test_gops_are_decoded_on_as_many_threads_as_asked(gops_video):
    def decoding_threads(threads: int) -> set[str]:
        seen: set[str] = set()
        load_video(gops_video, FrameSampling(num_frames=40), threads=threads,
                   progress=lambda done, total: seen.add(threading.current_thread().name))
        return seen

    assert decoding_threads(1) == {threading.current_thread().name}
    assert len(decoding_threads(3)) == 3
    assert not [t for t in threading.enumerate() if t.name.startswith("kangaroo-decode")]


@pytest.mark.parametrize(
    "options",
    [
        dict(gop=30, bframes=3, options={"x264-params": "open-gop=1:scenecut=0"}),
        dict(codec="libx265", gop=24, bframes=4, options={"x265-params": "log-level=none:open-gop=1"}),
    ],
    ids=["h264-open-gop", "hevc-open-gop"],
)
def test_open_gops_on_several_threads_match_ground_truth(tmp_path, options):
    """Open GOPs start with frames that refer to the GOP before: each decoder backs up on its own."""
    path = write_indexed(tmp_path / "open.mp4", 300, fps=FPS, **options)
    clip = load_video(path, FrameSampling(num_frames=50), threads=2)
    expected = shown_at(np.arange(300) / FPS, clip.target_times)
    np.testing.assert_array_equal(frame_ids(clip.frames), expected)
    np.testing.assert_allclose(clip.timestamps, expected / FPS, atol=1e-6)


def test_variable_frame_rate_on_several_threads(tmp_path):
    """Frames shown much longer than the average are dropped as non-reference, seen missing and
    decoded again, by whichever decoder has them."""
    gaps = np.tile([0.02, 0.1, 0.05, 0.4, 0.033], 40)
    times = np.concatenate([[0.0], np.cumsum(gaps)])[:200]
    path = write_indexed(tmp_path / "vfr.mkv", times=list(times), fps=30, gop=12, bframes=2)
    for threads in (1, 2):
        clip = load_video(path, FrameSampling(num_frames=61), threads=threads)
        expected = shown_at(times, clip.target_times)
        np.testing.assert_array_equal(frame_ids(clip.frames), expected)
        np.testing.assert_allclose(clip.timestamps, times[expected], atol=1e-3)


def test_an_error_in_one_decoder_stops_them_all(gops_video):
    with pytest.raises(VideoTimeoutError):
        load_video(gops_video, FrameSampling(num_frames=40), threads=3, timeout=1e-9)
    assert not [t for t in threading.enumerate() if t.name.startswith("kangaroo-decode")]


def test_runs_are_the_targets_of_one_gop_or_one_keyframe():
    keyframes = np.array([0, 100, 200, 300])
    targets = np.array([10, 40, 90, 120, 260, 290, 310])
    assert target_runs(targets, keyframes, "exact") == [(0, 3), (3, 4), (4, 6), (6, 7)]
    # nearest keyframe: 0, 0, 100, 100, 300, 300, 300
    assert target_runs(targets, keyframes, "keyframe") == [(0, 2), (2, 4), (4, 7)]
    assert target_runs(targets, None, "exact") == [(0, 7)]
    assert run_costs(targets, target_runs(targets, keyframes, "exact"), keyframes, "exact", 0) == [91, 21, 91, 11]


def test_uneven_runs_stay_with_one_frame_threaded_decoder():
    assert plan_threads(2, [100.0] * 10, frame_threaded=True) == (2, 1)
    assert plan_threads(4, [100.0] * 10, frame_threaded=True) == (4, 1)
    assert plan_threads(4, [100.0, 100.0], frame_threaded=True) == (2, 2)
    assert plan_threads(2, [10.0, 240.0], frame_threaded=True) == (1, 2)  # one long GOP: frame threading
    assert plan_threads(2, [10.0, 240.0], frame_threaded=False) == (2, 1)  # keyframes: one frame per run
    assert plan_threads(1, [100.0] * 10, frame_threaded=True) == (1, 1)
    assert plan_threads(2, [100.0], frame_threaded=True) == (1, 2)
