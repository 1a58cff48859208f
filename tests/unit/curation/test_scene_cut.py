"""Scene cut on generated videos with hard cuts at known times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kangaroo.curation.steps.scene_cut import SceneCutStep
from kangaroo.video import write_video

FPS = 25  # source frame rate: every frame timestamp is a multiple of 1/25 s
CUTS = (3.2, 7.6)  # two hard cuts: 3 shots in 10 s
SHORT_CUTS = (3.2, 4.4)  # the middle shot lasts 1.2 s


class RecordingContext:
    """What a step reports, kept for the assertions."""

    def __init__(self) -> None:
        self.drops: list[tuple[dict, str, float | None]] = []
        self.quarantined: list[tuple[dict, str]] = []
        self.measures: list[tuple[str, float]] = []

    def drop(self, record, reason, value=None, detail=""):
        self.drops.append((record, reason, value))

    def quarantine(self, record, error):
        self.quarantined.append((record, error))

    def measured(self, name, value):
        self.measures.append((name, value))


def shot_frame(shot: int, t: float, width: int = 128, height: int = 96) -> np.ndarray:
    """A moving texture whose colours and pattern depend on the shot (RGB (h, w, 3))."""
    rng = np.random.default_rng(shot)
    base = rng.integers(30, 226, 3)
    y, x = np.mgrid[0:height, 0:width]
    fx, fy = rng.uniform(0.03, 0.12, 2)
    wave = np.sin(fx * x + fy * y + 2.0 * t + shot)[..., None]  # (h, w, 1), drifts with t
    image = base[None, None, :] + 40 * wave * rng.uniform(-1, 1, 3)[None, None, :]
    return np.clip(image, 0, 255).astype(np.uint8)


def write_shots(path: Path, cuts: tuple[float, ...], duration: float, fps: float = FPS) -> Path:
    count = round(duration * fps)
    frames = (shot_frame(sum(c <= i / fps + 1e-9 for c in cuts), i / fps) for i in range(count))
    return write_video(path, frames, fps)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scenes")
    return {
        "two_cuts": write_shots(folder / "two_cuts.mp4", CUTS, 10.0),
        "short_middle": write_shots(folder / "short_middle.mp4", SHORT_CUTS, 8.0),
    }


def run_step(step: SceneCutStep, records: list[dict]) -> tuple[list[dict], RecordingContext]:
    ctx = RecordingContext()
    return list(step.run(iter(records), ctx)), ctx


def is_frame_time(t: float) -> bool:
    return abs(t * FPS - round(t * FPS)) < 1e-6


def assert_near_cuts(boundaries: list[float], cuts: tuple[float, ...], analysis_fps: float | None) -> None:
    """Each boundary is the first analysed frame after its cut: within one analysis interval (the
    cut's own frame when every frame is analysed)."""
    analysis_fps = analysis_fps or FPS
    assert len(boundaries) == len(cuts)
    for found, true in zip(boundaries, cuts, strict=True):
        assert true - 1e-6 <= found <= true + 1 / analysis_fps + 1e-6, (found, true)
        assert is_frame_time(found)


def test_two_hard_cuts_give_three_clips_at_frame_timestamps(videos):
    step = SceneCutStep(min_duration=2.0)
    record = {"id": "two_cuts.mp4", "video": str(videos["two_cuts"]), "meta": {"category": "x"}}
    out, ctx = run_step(step, [record])
    assert len(out) == 3
    assert out[0]["start"] == 0.0 and out[-1]["end"] == pytest.approx(10.0)
    assert [a["end"] for a in out[:-1]] == [b["start"] for b in out[1:]]  # contiguous
    assert_near_cuts([r["start"] for r in out[1:]], CUTS, step.analysis_fps)
    for index, r in enumerate(out):
        assert r["id"] == f"two_cuts.mp4#{r['start']:.3f}-{r['end']:.3f}"
        assert r["video"] == str(videos["two_cuts"])
        assert r["meta"]["duration"] == pytest.approx(r["end"] - r["start"])
        assert r["meta"]["source_id"] == "two_cuts.mp4"
        assert r["meta"]["scene_index"] == index
        assert r["meta"]["category"] == "x"
    durations = [v for n, v in ctx.measures if n == "scene_duration"]
    assert durations == pytest.approx([r["meta"]["duration"] for r in out])
    assert not ctx.drops and not ctx.quarantined


def test_adaptive_detector_finds_the_same_cuts(videos):
    step = SceneCutStep(detector="adaptive")
    scenes = step.scene_bounds({"id": "v", "video": str(videos["two_cuts"])})
    assert_near_cuts([start for start, _ in scenes[1:]], CUTS, step.analysis_fps)


def test_decoding_in_windows_gives_the_same_scenes(videos):
    record = {"id": "v", "video": str(videos["two_cuts"])}
    assert SceneCutStep(chunk_frames=37).scene_bounds(record) == SceneCutStep().scene_bounds(record)


def test_source_slower_than_the_analysis_rate_cuts_exactly(tmp_path):
    # analysed at 8 fps, every frame of a 4 fps source is analysed (most of them twice)
    path = write_shots(tmp_path / "slow.mp4", (3.25, 7.5), 10.0, fps=4)
    scenes = SceneCutStep(analysis_fps=8.0).scene_bounds({"id": "slow", "video": str(path)})
    assert [start for start, _ in scenes[1:]] == [3.25, 7.5]


def test_clip_record_is_cut_inside_its_bounds(videos):
    step = SceneCutStep(min_duration=1.0, analysis_fps=10.0)
    record = {"id": "two_cuts.mp4#2.000-9.000", "video": str(videos["two_cuts"]), "start": 2.0, "end": 9.0,
              "meta": {"source_id": "two_cuts.mp4"}}
    out, _ = run_step(step, [record])
    assert out[0]["start"] == 2.0 and out[-1]["end"] == 9.0
    assert_near_cuts([r["start"] for r in out[1:]], CUTS, 10.0)
    assert all(r["id"].startswith("two_cuts.mp4#") and r["id"].count("#") == 1 for r in out)


def test_short_scene_is_dropped_with_reason_and_duration(videos):
    out, ctx = run_step(SceneCutStep(min_duration=2.0), [{"id": "s", "video": str(videos["short_middle"])}])
    assert len(out) == 2
    ((dropped, reason, value),) = ctx.drops
    assert reason == "scene_too_short"
    assert value == pytest.approx(dropped["end"] - dropped["start"])
    assert 1.2 - 0.125 - 1e-6 <= value <= 1.2 + 0.125 + 1e-6
    assert dropped["meta"]["scene_index"] == 1
    assert (out[0]["end"], out[1]["start"]) == (dropped["start"], dropped["end"])
    assert len([n for n, _ in ctx.measures if n == "scene_duration"]) == 3  # kept and dropped


def test_long_scene_is_split_into_equal_pieces(videos):
    step = SceneCutStep(min_duration=1.0, max_duration=4.0)
    scenes = step.scene_bounds({"id": "v", "video": str(videos["two_cuts"])})
    out, ctx = run_step(step, [{"id": "v", "video": str(videos["two_cuts"])}])
    middle_start, middle_end = scenes[1]  # about 4.4 s: longer than 4.0
    pieces = [r for r in out if r["meta"]["scene_index"] == 1]
    assert len(pieces) == 2
    assert pieces[0]["start"] == middle_start and pieces[-1]["end"] == middle_end
    assert pieces[0]["end"] == pieces[1]["start"]
    lengths = [r["end"] - r["start"] for r in pieces]
    assert lengths[0] == pytest.approx(lengths[1], abs=1e-5) and max(lengths) <= 4.0
    assert [r["meta"]["scene_piece"] for r in pieces] == [0, 1]
    assert all(r["end"] - r["start"] <= 4.0 for r in out)
    assert len(out) == 4 and not ctx.drops


def test_undecodable_and_missing_videos_are_quarantined(tmp_path, videos):
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"\x00not a video\xff" * 64)
    records = [{"id": "broken", "video": str(garbage)}, {"id": "missing", "video": str(tmp_path / "no.mp4")},
               {"id": "ok", "video": str(videos["two_cuts"])}]
    out, ctx = run_step(SceneCutStep(), records)
    assert [r["id"] for r, _ in ctx.quarantined] == ["broken", "missing"]
    assert all(error for _, error in ctx.quarantined)
    assert len(out) == 3  # the good video still goes through


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="detector"):
        SceneCutStep(detector="histogram")
    with pytest.raises(ValueError, match="max_duration"):
        SceneCutStep(min_duration=5.0, max_duration=8.0)
    with pytest.raises(ValueError, match="analysis_fps"):
        SceneCutStep(analysis_fps=0)
