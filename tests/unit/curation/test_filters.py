"""Text coverage, face coverage and static scene filters on clips drawn by the synthetic world.

Each dirty clip differs from a clean one by one knob of `kangaroo.synth.world.sample_scene`
(``text_overlay``, ``face``, ``static``), and the drawing says how much of the frame the text or
the face covers.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kangaroo.curation.steps.base import COST_DETECTOR, COST_LIGHT_DECODE, COST_OCR
from kangaroo.curation.steps.face_coverage import FaceCoverageFilter
from kangaroo.curation.steps.static_scene import StaticSceneFilter
from kangaroo.curation.steps.text_coverage import TextCoverageFilter
from kangaroo.synth.render import write_scene
from kangaroo.synth.scene import Scene
from kangaroo.synth.world import sample_scene

SIZE = (320, 180)  # (width, height) of the test clips
DURATION = 2.0  # seconds, at 8 fps


class RecordingContext:
    """The executor's side of `StepContext`: what a step reported, kept for the assertions."""

    def __init__(self) -> None:
        self.drops: list[tuple[str, str, float | None]] = []
        self.quarantined: list[tuple[str, str]] = []
        self.measures: list[tuple[str, float]] = []

    def drop(self, record: dict[str, Any], reason: str, value: float | None = None, detail: str = "") -> None:
        self.drops.append((record["id"], reason, value))

    def quarantine(self, record: dict[str, Any], error: str) -> None:
        self.quarantined.append((record["id"], error))

    def measured(self, name: str, value: float) -> None:
        self.measures.append((name, value))


def scene(seed: int, **knobs: Any) -> Scene:
    return sample_scene(np.random.default_rng(seed), duration=DURATION, fps=8.0, size=SIZE, **knobs)


def record(path: Path) -> dict[str, Any]:
    return {"id": path.stem, "video": str(path), "start": None, "end": None, "meta": {}}


def moves(s: Scene) -> bool:
    """Whether some object of ``s`` moves during the clip."""
    return any(seg.vx or seg.vy for obj in s.objects for seg in obj.motion if seg.end > seg.start)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Clean, text, face and static clips, with the drawn text and face areas (fractions)."""
    root = tmp_path_factory.mktemp("filters")
    clean = next(s for s in (scene(seed) for seed in range(1, 50)) if moves(s))  # no text or face
    text = scene(2, text_overlay=0.25)
    mask = np.zeros(SIZE[::-1], dtype=bool)  # (H, W): the drawn text lines' boxes
    for x0, y0, x1, y1 in text.text_overlay["boxes"]:
        mask[max(0, y0) : y1, max(0, x0) : x1] = True
    face = dataclasses.replace(scene(3, face=True), objects=[], events=[])  # nothing in front of the face
    spec = face.background["face"]
    face_h = spec["height"] * SIZE[1]
    static = scene(4, static=True)
    paths = {name: write_scene(s, root / f"{name}.mp4") for name, s in
             [("clean", clean), ("text", text), ("face", face), ("static", static)]}
    data = paths["clean"].read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    return {
        **{name: record(path) for name, path in paths.items()},
        "broken": [record(root / name) for name in ("truncated.mp4", "garbage.mp4", "missing.mp4")],
        "text_area": float(mask.mean()),
        "face_area": 0.78 * face_h * face_h / (SIZE[0] * SIZE[1]),  # the drawn oval's bounding box
    }


def run(step: Any, records: list[dict[str, Any]]) -> tuple[list[str], RecordingContext]:
    ctx = RecordingContext()
    kept = [r["id"] for r in step.run(iter([dict(r, meta={}) for r in records]), ctx)]
    return kept, ctx


def test_text_coverage_drops_the_clip_with_text(clips: dict[str, Any]) -> None:
    step = TextCoverageFilter()
    kept, ctx = run(step, [clips["clean"], clips["text"]])
    assert kept == ["clean"]
    [(name, reason, value)] = ctx.drops
    assert (name, reason) == ("text", "text_coverage")
    # OCR boxes are a little larger than the glyphs' own boxes
    assert clips["text_area"] * 0.8 <= value <= clips["text_area"] * 1.6, (value, clips["text_area"])
    assert ctx.measures == [("text_coverage", 0.0), ("text_coverage", value)]


def test_text_coverage_counts_confident_words_and_takes_the_max_over_frames(clips: dict[str, Any]) -> None:
    width, height = SIZE

    class Result:
        def __init__(self, boxes: list[tuple[int, ...]], texts: list[str], scores: list[float]) -> None:
            quads = [[(x0, y0), (x1, y0), (x1, y1), (x0, y1)] for x0, y0, x1, y1 in boxes]
            self.boxes = np.array(quads)  # (N, 4, 2)
            self.txts, self.scores = tuple(texts), tuple(scores)

    calls: list[tuple[int, ...]] = []

    def engine(image: np.ndarray) -> Result:  # a fixed OCR answer per frame: words on the 2nd of 3
        calls.append(image.shape)
        if len(calls) % 3 == 2:
            boxes = [(0, 0, 100, 20), (50, 10, 150, 30), (0, 100, 40, 140), (200, 0, 300, 90),
                     (0, 150, 320, 200)]
            texts = ["two words", "overlap", "O", "low score", "past the edge"]
            return Result(boxes, texts, [0.9, 0.8, 0.99, 0.3, 0.7])
        return Result([(0, 0, 50, 10)], ["small"], [0.95])

    step = TextCoverageFilter(engine=engine)
    value = step.measure(clips["clean"])
    assert calls == [(height, width, 3)] * 3  # num_frames frames at the video's size (under max_width)
    # frame 2: 2000 + 2000 - 500 (overlap) + 320 * 30 (clipped at the bottom); "O" and "low score" ignored
    assert value == pytest.approx((3500 + 320 * 30) / (width * height))
    assert TextCoverageFilter(engine=engine, min_chars=1, min_score=0.2).measure(clips["clean"]) > value


def test_face_coverage_drops_the_clip_with_a_face(clips: dict[str, Any]) -> None:
    step = FaceCoverageFilter()
    kept, ctx = run(step, [clips["clean"], clips["face"]])
    assert kept == ["clean"]
    [(name, reason, value)] = ctx.drops
    assert (name, reason) == ("face", "face_coverage")
    # the Haar box is a square about as tall as the oval: ~1 to 1.3x the oval's bounding box
    assert clips["face_area"] * 0.7 <= value <= clips["face_area"] * 1.5, (value, clips["face_area"])
    assert ctx.measures == [("face_coverage", 0.0), ("face_coverage", value)]


def test_static_scene_drops_the_still_clip(clips: dict[str, Any]) -> None:
    step = StaticSceneFilter()
    kept, ctx = run(step, [clips["clean"], clips["static"]])
    assert kept == ["clean"]
    [(name, reason, value)] = ctx.drops
    assert (name, reason) == ("static", "static")
    assert value < 0.01  # only encoder noise
    [(_, moving), (_, still)] = ctx.measures
    assert moving > 0.1 and still == value


def test_measures_are_stored_in_the_record(clips: dict[str, Any]) -> None:
    records = [dict(clips["clean"], meta={"source": "x"})]
    kept = list(StaticSceneFilter().run(iter(records), RecordingContext()))
    assert kept[0]["meta"]["source"] == "x"
    assert kept[0]["meta"]["measures"]["static_scene"] > 0.1


@pytest.mark.parametrize("make", [TextCoverageFilter, FaceCoverageFilter, StaticSceneFilter])
def test_unreadable_videos_are_quarantined(make: type, clips: dict[str, Any]) -> None:
    kept, ctx = run(make(), clips["broken"])
    assert kept == [] and ctx.drops == [] and ctx.measures == []
    assert [name for name, _ in ctx.quarantined] == ["truncated", "garbage", "missing"]
    assert all("Error" in error and ".mp4" in error for _, error in ctx.quarantined)


def test_steps_say_what_they_are() -> None:
    text, face, static = TextCoverageFilter(), FaceCoverageFilter(), StaticSceneFilter()
    def what(step: Any) -> tuple[str, str, int, bool]:
        return step.name, step.reason, step.cost, step.drop_above

    assert what(text) == ("text_coverage", "text_coverage", COST_OCR, True)
    assert what(face) == ("face_coverage", "face_coverage", COST_DETECTOR, True)
    assert what(static) == ("static_scene", "static", COST_LIGHT_DECODE, False)
    assert TextCoverageFilter(0.1).threshold == 0.1  # the threshold is the first argument
    assert text.keeps(text.threshold) and not text.keeps(text.threshold + 1e-6)
    assert static.keeps(static.threshold) and not static.keeps(static.threshold - 1e-6)


@pytest.mark.parametrize(
    ("make", "kwargs"),
    [
        (TextCoverageFilter, {"threshold": 1.5}),
        (TextCoverageFilter, {"threshold": float("nan")}),
        (TextCoverageFilter, {"num_frames": 0}),
        (TextCoverageFilter, {"max_width": 8}),
        (TextCoverageFilter, {"min_score": -0.1}),
        (TextCoverageFilter, {"min_chars": 0}),
        (TextCoverageFilter, {"engine": "rapidocr"}),
        (FaceCoverageFilter, {"threshold": -0.1}),
        (FaceCoverageFilter, {"num_frames": 0}),
        (FaceCoverageFilter, {"max_width": 0}),
        (FaceCoverageFilter, {"min_neighbors": -1}),
        (FaceCoverageFilter, {"min_score": 2.0}),
        (StaticSceneFilter, {"threshold": -1.0}),
        (StaticSceneFilter, {"num_frames": 1}),
        (StaticSceneFilter, {"size": 4}),
    ],
)
def test_bad_arguments_raise(make: type, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        make(**kwargs)


def test_face_detector_file_is_checked(tmp_path: Path, clips: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"no such file.*yunet\.onnx"):
        FaceCoverageFilter(detector=str(tmp_path / "yunet.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    step = FaceCoverageFilter(detector=str(junk))  # exists: loaded on first use
    with pytest.raises(ValueError, match="cannot load the ONNX face detector"):
        step.measure(clips["clean"])


def test_importing_the_filters_loads_no_heavy_library() -> None:
    code = ("import sys, kangaroo.curation.steps.text_coverage, kangaroo.curation.steps.face_coverage, "
            "kangaroo.curation.steps.static_scene, kangaroo.curation.geometry; "
            "print(sorted({'cv2', 'rapidocr', 'onnxruntime'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
