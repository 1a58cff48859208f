"""load_video on real files encoded at test time: frames are the ones shown at the sampled times."""

from __future__ import annotations

import numpy as np
import pytest

from kangaroo.video import DynamicFrameRule, FrameSampling, load_video, probe, uniform_times

from video_fixtures import frame_for, frame_ids, shown_at, write_indexed


@pytest.fixture(scope="module")
def bframe_video(tmp_path_factory):
    """10 s, 25 fps H.264 with B-frames and a 50-frame GOP, like a web video."""
    path = tmp_path_factory.mktemp("v") / "bframes.mp4"
    return write_indexed(path, 250, fps=25, gop=50, bframes=3, options={"sc_threshold": "0"})


@pytest.mark.parametrize("num_frames", [1, 7, 16, 64, 250])
def test_exact_uniform_frames_are_the_frames_shown(bframe_video, num_frames):
    clip = load_video(bframe_video, FrameSampling(num_frames=num_frames))
    frame_times = np.arange(250) / 25
    expected = shown_at(frame_times, uniform_times(0, 10.0, num_frames))
    assert clip.frames.shape == (num_frames, 48, 64, 3)
    assert clip.frames.dtype == np.uint8
    np.testing.assert_array_equal(frame_ids(clip.frames), expected)
    np.testing.assert_allclose(clip.timestamps, frame_times[expected], atol=1e-9)
    assert clip.duration == pytest.approx(10.0)


def test_every_frame_when_no_count_is_given(bframe_video):
    clip = load_video(bframe_video)
    np.testing.assert_array_equal(frame_ids(clip.frames), np.arange(250))
    np.testing.assert_allclose(clip.timestamps, np.arange(250) / 25)


def test_start_end_bound_the_clip(bframe_video):
    clip = load_video(bframe_video, FrameSampling(num_frames=4), start=2.0, end=4.0)
    expected = shown_at(np.arange(250) / 25, uniform_times(2.0, 4.0, 4))
    np.testing.assert_array_equal(frame_ids(clip.frames), expected)
    assert np.all((clip.timestamps >= 2.0) & (clip.timestamps < 4.0))
    assert (clip.start, clip.end) == (2.0, 4.0)


def test_fps_sampling_with_cap_keeps_the_tail(bframe_video):
    clip = load_video(bframe_video, FrameSampling(sampling="fps", fps=5, max_frames=10))
    assert len(clip) == 10
    assert clip.timestamps[-1] > 9.0


def test_dynamic_sampling_uses_the_rule(bframe_video):
    assert len(load_video(bframe_video, FrameSampling(sampling="dynamic"))) == 16  # 10 s < 16 s -> the minimum
    # above long_min_duration the long rule applies; the clip's own duration decides
    tiers = FrameSampling(sampling="dynamic", rule=DynamicFrameRule(2, 8, frames_per_second=1.0),
                          long_rule=DynamicFrameRule(10, 20, frames_per_second=1.0), long_min_duration=5.0)
    assert [len(load_video(bframe_video, tiers, end=end)) for end in (4.0, 5.0, 10.0)] == [4, 6, 10]


def test_random_targets_match_a_full_decode(bframe_video):
    """Exact seek against ground truth for scattered, unsorted-by-construction targets."""
    rng = np.random.default_rng(0)
    frame_times = np.arange(250) / 25
    for _ in range(3):
        lo = float(rng.uniform(0, 8))
        clip = load_video(bframe_video, FrameSampling(num_frames=int(rng.integers(2, 40))), start=lo, end=lo + 2)
        np.testing.assert_array_equal(frame_ids(clip.frames), shown_at(frame_times, clip.target_times))


def test_keyframe_mode_returns_nearest_keyframes(bframe_video):
    clip = load_video(bframe_video, FrameSampling(num_frames=8), seek="keyframe")
    ids = frame_ids(clip.frames)
    keyframes = np.arange(0, 250, 50)  # GOP of 50, scene-cut keyframes disabled
    assert set(ids) <= set(keyframes)
    for target, got in zip(clip.target_times, ids, strict=True):
        nearest = keyframes[np.argmin(np.abs(keyframes / 25 - target))]
        assert abs(got / 25 - target) <= abs(nearest / 25 - target) + 1e-9
    np.testing.assert_allclose(clip.timestamps, ids / 25)


def test_variable_frame_rate_timestamps_come_from_pts(tmp_path):
    gaps = np.tile([0.02, 0.1, 0.05, 0.4, 0.033], 20)
    times = np.concatenate([[0.0], np.cumsum(gaps)])[:100]
    path = write_indexed(tmp_path / "vfr.mkv", times=list(times), fps=30, gop=12, bframes=2)
    info = probe(path)
    assert info.is_vfr is True
    assert info.frame_count == 100
    clip = load_video(path)  # every frame
    np.testing.assert_array_equal(frame_ids(clip.frames), np.arange(100))
    np.testing.assert_allclose(clip.timestamps, times, atol=1e-3)
    sampled = load_video(path, FrameSampling(num_frames=37))
    expected = shown_at(times, sampled.target_times)
    np.testing.assert_array_equal(frame_ids(sampled.frames), expected)
    np.testing.assert_allclose(sampled.timestamps, times[expected], atol=1e-3)


@pytest.mark.parametrize("name", ["late.mp4", "late.mkv", "late.webm"])
def test_stream_starting_late_is_on_the_players_clock(tmp_path, name):
    times = 1.5 + np.arange(50) / 10
    codec = {"codec": "libvpx-vp9"} if name.endswith(".webm") else {}
    path = write_indexed(tmp_path / name, times=list(times), fps=10, gop=10, **codec)
    assert probe(path).start_time == pytest.approx(1.5)
    clip = load_video(path, FrameSampling(num_frames=5))
    assert clip.duration == pytest.approx(5.0, abs=0.01)
    expected = shown_at(times - 1.5, uniform_times(0, 5.0, 5))
    np.testing.assert_array_equal(frame_ids(clip.frames), expected)
    np.testing.assert_allclose(clip.timestamps, expected / 10, atol=1e-6)


def test_one_frame_video(tmp_path):
    path = write_indexed(tmp_path / "one.mp4", 1)
    clip = load_video(path, FrameSampling(num_frames=4))
    np.testing.assert_array_equal(frame_ids(clip.frames), [0, 0, 0, 0])
    np.testing.assert_array_equal(clip.timestamps, [0, 0, 0, 0])


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("odd.mkv", dict(size=(33, 17), pix_fmt="yuv444p")),
        ("yuv444.mp4", dict(pix_fmt="yuv444p")),
        ("vp9.webm", dict(codec="libvpx-vp9")),
        ("hevc.mp4", dict(codec="libx265", options={"x265-params": "log-level=none"})),
        ("mjpeg.avi", dict(codec="mjpeg", pix_fmt="yuvj420p")),
        ("mpeg4.avi", dict(codec="mpeg4")),
        ("h264.mov", dict()),
        ("av1.mkv", dict(codec="libsvtav1", crf=10)),
    ],
)
def test_codecs_and_containers(tmp_path, name, options):
    size = options.pop("size", (64, 48))
    path = write_indexed(tmp_path / name, 30, fps=10, size=size, **options)
    clip = load_video(path, FrameSampling(num_frames=6))
    assert clip.frames.shape == (6, size[1], size[0], 3)
    expected = shown_at(np.arange(30) / 10, clip.target_times)
    np.testing.assert_array_equal(frame_ids(clip.frames), expected)
    np.testing.assert_allclose(clip.timestamps, expected / 10, atol=1e-3)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied_as_a_player_shows_it(tmp_path, rotation):
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:16, :16] = 255  # a white corner, top-left as encoded
    path = tmp_path / f"rot{rotation}.mp4"
    from kangaroo.video import write_video

    write_video(path, [frame] * 3, 10, rotation=rotation, crf=0)
    info = probe(path)
    assert info.rotation == rotation
    clip = load_video(path, FrameSampling(num_frames=1))
    expected = np.rot90(frame, k=rotation // 90)  # counter-clockwise, as FFmpeg's display matrix says
    assert clip.frames.shape[1:] == expected.shape
    assert (info.display_width, info.display_height) == (expected.shape[1], expected.shape[0])
    assert np.abs(clip.frames[0].astype(int) - expected).mean() < 8


def test_animated_gif(tmp_path):
    from kangaroo.video import write_video

    frames = [frame_for(i, 40, 30) for i in range(10)]
    path = write_video(tmp_path / "anim.gif", frames, 10)
    clip = load_video(path)
    assert len(clip) == 10
    np.testing.assert_allclose(clip.timestamps, np.arange(10) / 10, atol=1e-6)
    assert len(set(frame_ids(clip.frames))) == 10


def test_still_image_is_a_one_frame_clip(tmp_path):
    from PIL import Image

    path = tmp_path / "still.png"
    Image.fromarray(frame_for(5, 50, 20)).save(path)
    clip = load_video(path, FrameSampling(num_frames=8), size=32)
    assert clip.frames.shape == (1, 32, 32, 3)
    assert clip.duration == 0.0 and clip.timestamps.tolist() == [0.0]
    assert probe(path).frame_count == 1


def test_folder_of_frames(tmp_path):
    from PIL import Image

    for i in range(12):
        Image.fromarray(frame_for(i, 32, 24)).save(tmp_path / f"img{i}.png")  # img10 sorts after img9
    clip = load_video(tmp_path, FrameSampling(num_frames=4), source_fps=3)
    expected = shown_at(np.arange(12) / 3, uniform_times(0, 4.0, 4))
    np.testing.assert_array_equal(frame_ids(clip.frames), expected)
    np.testing.assert_allclose(clip.timestamps, expected / 3)


@pytest.mark.parametrize(
    ("aspect", "pixel"),
    [("stretch", (0, 0)), ("pad", (0, 0)), ("crop", (16, 0))],
)
def test_size_and_aspect_policies(tmp_path, aspect, pixel):
    # 64x32 source: left half white, right half black
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :32] = 255
    from kangaroo.video import write_video

    path = write_video(tmp_path / "wide.mp4", [frame] * 2, 10, crf=0)
    clip = load_video(path, FrameSampling(num_frames=1), size=32, aspect=aspect, pad_value=0)
    out = clip.frames[0].astype(int)
    assert out.shape == (32, 32, 3)
    if aspect == "pad":  # 32x16 image centred, black bands above and below
        assert out[:6].max() < 20 and out[-6:].max() < 20
        assert out[16, 4].min() > 235 and out[16, 28].max() < 20
    elif aspect == "crop":  # centre 32x32 of the 64x32 frame: white then black halves
        assert out[:, :12].min() > 235 and out[:, 20:].max() < 20
    else:  # squeezed: white left half, black right half, no bands
        assert out[0, 4].min() > 235 and out[31, 28].max() < 20


def test_non_ascii_path(tmp_path):
    path = write_indexed(tmp_path / "视频 vidéo ✓.mp4", 20, fps=10)
    assert len(load_video(path, FrameSampling(num_frames=3))) == 3
    assert probe(path).frame_count == 20


def test_progress_reports_every_frame(bframe_video):
    seen = []
    load_video(bframe_video, FrameSampling(num_frames=12), progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.slow
def test_isolated_decode_matches_in_process(bframe_video):
    inline = load_video(bframe_video, FrameSampling(num_frames=9))
    isolated = load_video(bframe_video, FrameSampling(num_frames=9), isolate=True, timeout=60)
    np.testing.assert_array_equal(inline.frames, isolated.frames)
    np.testing.assert_array_equal(inline.timestamps, isolated.timestamps)


def test_probe_reports_stream_facts(bframe_video):
    info = probe(bframe_video)
    assert info.codec == "h264" and (info.width, info.height) == (64, 48)
    assert info.frame_count == 250 and info.keyframe_count == 5
    assert info.keyframe_interval == pytest.approx(2.0) and info.keyframe_interval_frames == 50
    assert info.average_fps == pytest.approx(25.0) and info.is_vfr is False
    assert info.duration == pytest.approx(10.0) and info.rotation == 0
    assert info.to_dict()["streams"][0]["type"] == "video"


@pytest.mark.parametrize(
    "options",
    [
        dict(gop=30, bframes=3, options={"x264-params": "open-gop=1:scenecut=0"}),
        dict(gop=12, bframes=0),
        dict(codec="libx265", gop=24, bframes=4, options={"x265-params": "log-level=none:open-gop=1"}),
    ],
    ids=["h264-open-gop", "h264-no-bframes", "hevc-open-gop"],
)
def test_exact_seek_matches_ground_truth_on_hard_gop_structures(tmp_path, options):
    path = write_indexed(tmp_path / "gop.mp4", 300, fps=30, **options)
    frame_times = np.arange(300) / 30
    rng = np.random.default_rng(1)
    for _ in range(4):
        lo = float(rng.uniform(0, 8))
        clip = load_video(path, FrameSampling(num_frames=int(rng.integers(3, 25))), start=lo, end=float(rng.uniform(lo + 0.5, 10)))
        expected = shown_at(frame_times, clip.target_times)
        np.testing.assert_array_equal(frame_ids(clip.frames), expected)
        np.testing.assert_allclose(clip.timestamps, frame_times[expected], atol=1e-6)


def test_every_frame_above_max_frames_resamples_uniformly(bframe_video):
    clip = load_video(bframe_video, FrameSampling(max_frames=10))
    np.testing.assert_allclose(clip.target_times, uniform_times(0, 10.0, 10))
    np.testing.assert_array_equal(frame_ids(clip.frames), shown_at(np.arange(250) / 25, clip.target_times))


def test_non_square_pixels_are_shown_at_display_aspect(tmp_path):
    """A 32x32 stream with 2:1 sample aspect ratio is shown 64x32, as players do."""
    from fractions import Fraction

    import av

    path = tmp_path / "anamorphic.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(2, 1)
        for i in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_for(i, 32, 32), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    info = probe(path)
    assert (info.width, info.height, info.display_width, info.display_height) == (32, 32, 64, 32)
    clip = load_video(path, FrameSampling(num_frames=2))
    assert clip.frames.shape == (2, 32, 64, 3) and clip.frame_size == (64, 32)
