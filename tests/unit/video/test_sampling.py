import numpy as np
import pytest

from kangaroo.video.sampling import (
    INSTRUCTION_TUNING_RULE,
    LONG_VIDEO_TUNING_RULE,
    DynamicFrameRule,
    dynamic_frame_count,
    fps_frame_count,
    fps_times,
    frames_shown_at,
    resolve_bounds,
    sample_times,
    uniform_times,
)


def test_uniform_times_are_segment_midpoints():
    np.testing.assert_allclose(uniform_times(0.0, 8.0, 4), [1.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(uniform_times(2.0, 3.0, 2), [2.25, 2.75])


def test_uniform_times_stay_inside_the_clip_and_increase():
    times = uniform_times(1.5, 601.5, 160)
    assert len(times) == 160
    assert times[0] > 1.5 and times[-1] < 601.5
    assert np.all(np.diff(times) > 0)


def test_uniform_times_on_a_still_repeat_the_start():
    np.testing.assert_array_equal(uniform_times(0.0, 0.0, 3), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("bad", [0, -1])
def test_uniform_rejects_non_positive_counts(bad):
    with pytest.raises(ValueError, match="num_frames"):
        uniform_times(0, 1, bad)


def test_fps_sampling_gives_the_rate():
    times = fps_times(0.0, 10.0, 2.0)
    assert len(times) == 20
    np.testing.assert_allclose(np.diff(times), 0.5)


def test_fps_sampling_over_the_cap_covers_the_whole_clip():
    times = fps_times(0.0, 600.0, 1.0, max_frames=64)
    assert len(times) == 64
    # the tail is never dropped: the last target sits in the last 1/64 of the clip
    assert times[-1] > 600.0 * 63 / 64
    np.testing.assert_allclose(times, uniform_times(0.0, 600.0, 64))


def test_fps_frame_count_rounds_and_caps():
    assert fps_frame_count(10.4, 1.0) == 10
    assert fps_frame_count(10.5, 1.0) == 11
    assert fps_frame_count(0.01, 1.0) == 1
    assert fps_frame_count(100.0, 1.0, max_frames=16) == 16
    with pytest.raises(ValueError):
        fps_frame_count(1.0, 0.0)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(3.0, 16), (16.0, 16), (17.0, 18), (40.2, 42), (64.0, 64), (3600.0, 64)],
)
def test_dynamic_count_grows_with_duration_between_16_and_64(duration, expected):
    assert dynamic_frame_count(duration, INSTRUCTION_TUNING_RULE) == expected


def test_long_video_rule_spans_64_to_160():
    assert dynamic_frame_count(30.0, LONG_VIDEO_TUNING_RULE) == 64
    assert dynamic_frame_count(100.0, LONG_VIDEO_TUNING_RULE) == 100
    assert dynamic_frame_count(7200.0, LONG_VIDEO_TUNING_RULE) == 160


def test_dynamic_rule_is_configurable():
    rule = DynamicFrameRule(min_frames=8, max_frames=33, frames_per_second=0.5, multiple_of=4)
    assert dynamic_frame_count(10.0, rule) == 8
    assert dynamic_frame_count(21.0, rule) == 12  # ceil(10.5) = 11 -> multiple of 4
    assert dynamic_frame_count(1000.0, rule) == 32  # 33 is not a multiple of 4: round down
    with pytest.raises(ValueError):
        DynamicFrameRule(min_frames=10, max_frames=5)


def test_sample_times_dispatches_and_validates():
    assert len(sample_times(0, 100, sampling="dynamic")) == 64
    assert len(sample_times(0, 100, sampling="dynamic", max_frames=20)) == 20
    assert len(sample_times(0, 10, sampling="uniform", num_frames=32, max_frames=8)) == 8
    with pytest.raises(ValueError, match="num_frames"):
        sample_times(0, 10, sampling="uniform")
    with pytest.raises(ValueError, match="fps"):
        sample_times(0, 10, sampling="fps")
    with pytest.raises(ValueError, match="unknown sampling"):
        sample_times(0, 10, sampling="random")


def test_frames_shown_at_picks_the_last_frame_started():
    frame_times = np.array([0.0, 0.1, 0.5, 2.0])
    targets = np.array([-1.0, 0.0, 0.09, 0.1, 1.99, 2.0, 99.0])
    np.testing.assert_array_equal(frames_shown_at(frame_times, targets), [0, 0, 0, 1, 2, 3, 3])


def test_resolve_bounds():
    assert resolve_bounds(10.0, None, None) == (0.0, 10.0)
    assert resolve_bounds(10.0, 2.0, 30.0) == (2.0, 10.0)
    for start, end in [(5.0, 5.0), (-1.0, None), (10.0, None), (6.0, 3.0)]:
        with pytest.raises(ValueError):
            resolve_bounds(10.0, start, end)
