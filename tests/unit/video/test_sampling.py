import dataclasses
import json

import numpy as np
import pytest
import yaml

from kangaroo.video import FrameSamplingError
from kangaroo.video.sampling import (
    INSTRUCTION_TUNING_RULE,
    LONG_VIDEO_TUNING_RULE,
    DynamicFrameRule,
    FrameSampling,
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


def test_sample_times_follow_the_frame_sampling():
    assert len(sample_times(0, 100, FrameSampling(sampling="dynamic"))) == 64
    assert len(sample_times(0, 100, FrameSampling(sampling="dynamic", max_frames=20))) == 20
    assert len(sample_times(0, 10, FrameSampling(num_frames=32, max_frames=8))) == 8
    np.testing.assert_allclose(sample_times(2, 4, FrameSampling(num_frames=4)), uniform_times(2, 4, 4))
    np.testing.assert_allclose(sample_times(0, 600, FrameSampling(sampling="fps", fps=1.0, max_frames=64)),
                               fps_times(0, 600, 1.0, max_frames=64))
    with pytest.raises(ValueError, match="every frame"):
        sample_times(0, 10, FrameSampling())  # every frame: only load_video knows the frames


# -- FrameSampling: one value for the whole bundle ----------------------------------------------


TIERS = FrameSampling(sampling="dynamic", rule=DynamicFrameRule(8, 32, frames_per_second=2.0),
                      long_rule=DynamicFrameRule(32, 80, frames_per_second=2.0), long_min_duration=16.0)


def test_frame_sampling_rejects_every_problem_at_once():
    with pytest.raises(FrameSamplingError) as info:
        FrameSampling(sampling="fps", num_frames=0, max_frames=0, rule=INSTRUCTION_TUNING_RULE)
    assert isinstance(info.value, ValueError)
    assert info.value.errors == [
        "num_frames must be >= 1, got 0",
        "num_frames is for sampling='uniform', not 'fps'; use max_frames",
        "sampling='fps' needs fps > 0 (frames per second to sample), got None",
        "max_frames must be >= 1, got 0",
        "rule is for sampling='dynamic', not 'fps'",
    ]
    with pytest.raises(FrameSamplingError, match="unknown sampling 'random'; choose one of uniform, fps, dynamic"):
        FrameSampling(sampling="random")  # type: ignore[arg-type]
    with pytest.raises(FrameSamplingError, match="fps is for sampling='fps', not 'uniform'"):
        FrameSampling(num_frames=8, fps=2.0)
    with pytest.raises(FrameSamplingError, match="long_rule and long_min_duration go together"):
        FrameSampling(sampling="dynamic", long_min_duration=10.0)
    with pytest.raises(FrameSamplingError, match="min_frames <= max_frames"):
        DynamicFrameRule(min_frames=10, max_frames=5)


def test_frame_sampling_is_a_frozen_value():
    dynamic = FrameSampling(sampling="dynamic")
    assert dynamic.rule == INSTRUCTION_TUNING_RULE  # the default rule is filled in: one value, one behaviour
    assert dynamic == FrameSampling(sampling="dynamic", rule=INSTRUCTION_TUNING_RULE)
    assert hash(dynamic) == hash(FrameSampling(sampling="dynamic", rule=INSTRUCTION_TUNING_RULE))
    with pytest.raises(dataclasses.FrozenInstanceError):
        dynamic.max_frames = 8  # type: ignore[misc]


def test_the_long_rule_applies_above_long_min_duration():
    # 8-32 frames at 2 per second; clips longer than 16 s get 32-80
    counts = [TIERS.frame_count(d) for d in (2.0, 8.0, 16.0, 16.5, 20.0, 50.0)]
    assert counts == [8, 16, 32, 34, 40, 80]
    assert TIERS.rule_for(16.0) == TIERS.rule and TIERS.rule_for(16.5) == TIERS.long_rule
    assert dataclasses.replace(TIERS, max_frames=50).frame_count(50.0) == 50  # the cap applies to both rules
    assert len(sample_times(10, 60, TIERS)) == 80


def test_most_frames_bounds_every_clip():
    assert FrameSampling(num_frames=16).most_frames == 16
    assert FrameSampling(num_frames=16, max_frames=8).most_frames == 8
    assert FrameSampling().most_frames is None  # every frame
    assert FrameSampling(sampling="fps", fps=1.0).most_frames is None
    assert FrameSampling(sampling="fps", fps=1.0, max_frames=64).most_frames == 64
    assert FrameSampling(sampling="dynamic").most_frames == 64
    assert TIERS.most_frames == 80
    assert FrameSampling(sampling="dynamic", rule=DynamicFrameRule(2, 33, multiple_of=4)).most_frames == 32


def test_with_frames_sets_the_count_or_the_cap():
    assert FrameSampling(num_frames=16).with_frames(64) == FrameSampling(num_frames=64)
    assert FrameSampling(sampling="fps", fps=2.0).with_frames(8) == FrameSampling(sampling="fps", fps=2.0, max_frames=8)
    assert TIERS.with_frames(40).most_frames == 40
    with pytest.raises(FrameSamplingError):
        FrameSampling(num_frames=16).with_frames(0)


@pytest.mark.parametrize("sampling", [FrameSampling(), FrameSampling(num_frames=16),
                                      FrameSampling(sampling="fps", fps=0.5, max_frames=64), TIERS,
                                      FrameSampling(sampling="dynamic", max_frames=20)])
def test_frame_sampling_round_trips_through_json_and_yaml(sampling):
    data = sampling.to_dict()
    assert FrameSampling.from_dict(json.loads(json.dumps(data))) == sampling
    assert FrameSampling.from_dict(yaml.safe_load(yaml.safe_dump(data))) == sampling
    assert all(value is not None for value in data.values())  # unset fields are left out


def test_from_dict_names_every_bad_key():
    with pytest.raises(FrameSamplingError) as info:
        FrameSampling.from_dict({"sampling": "unifrom", "num_frame": 8, "fps": "fast",
                                 "rule": {"min_frames": 40, "max_frames": 30}})
    assert info.value.errors == [
        "sampling: expected one of uniform, fps, dynamic, got 'unifrom'",
        "num_frame: unknown key; FrameSampling has sampling, num_frames, fps, max_frames, rule, long_rule, "
        "long_min_duration",
        "fps: expected a number or null, got 'fast'",
        "rule: need 1 <= min_frames <= max_frames, got 40, 30",
    ]
    with pytest.raises(FrameSamplingError, match="num_frames is for sampling='uniform'"):
        FrameSampling.from_dict({"sampling": "dynamic", "num_frames": 8})


def test_describe_says_what_a_clip_gets():
    assert FrameSampling(num_frames=16).describe() == "16 frames"
    assert FrameSampling(sampling="fps", fps=2.0, max_frames=64).describe() == "2 per second, at most 64"
    assert TIERS.describe() == "8-32 frames by duration, 32-80 above 16 s"


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
