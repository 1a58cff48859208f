"""Curation filter chain throughput: kangaroo's chain against a naive one, on generated 720p clips.

Both chains make the same four decisions per clip, with the same detectors and thresholds:
scene cut (PySceneDetect's content detector), static scene (Farneback flow at 128x128), face
coverage (Haar cascade, 5 frames), text coverage (RapidOCR, 3 frames).

- ``kangaroo``: `kangaroo curate`'s steps in pipeline order (cheap first, so a clip dropped as
  static is never OCR'd), each decoding only what it needs: scene cut at 8 fps and 256 px wide
  (decoded frames scaled in FFmpeg), the filters a few frames each (keyframes where they fall
  inside the clip), at 128 px (flow) or 640 px (faces, text).
- ``naive``: every filter decodes EVERY frame of the clip at full resolution (1280x720 RGB),
  then runs on them: scene detection on every full frame, flow on 8 of them resized, faces on 5
  and OCR on 3 full frames; every filter runs on every clip.

One process each (the figure is clips per minute per core), the OCR and face models loaded before
the clock starts. The clips are synthetic scenes (moving shapes, some with overlaid text, a face
pattern, static, or with hard cuts), H.264, 25 fps, rendered once into a temporary folder.

    .venv/bin/python benchmarks/curation.py               # 10 clips of 10 s
    .venv/bin/python benchmarks/curation.py --clips 20 --seconds 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

KNOBS = [{}, {"text_overlay": 0.15}, {"face": True}, {"static": True}, {"cuts": 2}]
THRESHOLDS = {"static_scene": 0.05, "face_coverage": 0.1, "text_coverage": 0.02}


def make_clips(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` clips, 1280x720 at 25 fps, cycling through the knobs of KNOBS."""
    from kangaroo.synth.generate import generate_dataset
    from kangaroo.synth.options import WorldOptions

    clips = []
    for i in range(count):
        out = folder / f"kind{i % len(KNOBS)}"
        index = i // len(KNOBS)
        generate_dataset("caption_short", index + 1, 7, out, split="train",
                         world=WorldOptions(size=(1280, 720), duration=seconds, fps=25.0, **KNOBS[i % len(KNOBS)]))
        clips.append(sorted((out / "videos").glob("*.mp4"))[index])
    return clips


class Recorder:
    """The executor's side of a step, reduced to counting (what the benchmark needs)."""

    def __init__(self) -> None:
        self.dropped: list[tuple[str, str]] = []

    def drop(self, record: dict, reason: str, value: float | None = None, detail: str = "") -> None:
        self.dropped.append((record["id"], reason))

    def quarantine(self, record: dict, error: str) -> None:
        self.dropped.append((record["id"], "undecodable"))

    def measured(self, name: str, value: float) -> None:
        pass


def kangaroo_chain(clips: list[Path]) -> dict[str, set[str]]:
    """Run the steps as `kangaroo curate` does; returns {clip: reasons it was dropped for}."""
    from kangaroo.curation.steps.face_coverage import FaceCoverageFilter
    from kangaroo.curation.steps.scene_cut import SceneCutStep
    from kangaroo.curation.steps.static_scene import StaticSceneFilter
    from kangaroo.curation.steps.text_coverage import TextCoverageFilter

    steps = [SceneCutStep(min_duration=1.0, max_duration=60.0), StaticSceneFilter(THRESHOLDS["static_scene"]),
             FaceCoverageFilter(THRESHOLDS["face_coverage"]), TextCoverageFilter(THRESHOLDS["text_coverage"])]
    ctx = Recorder()
    stream: Any = iter([{"id": str(c), "video": str(c), "meta": {}} for c in clips])
    for step in steps:
        stream = step.run(stream, ctx)
    list(stream)
    return _by_clip(ctx.dropped)


def _by_clip(dropped: list[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for record_id, reason in dropped:
        out.setdefault(record_id.split("#")[0], set()).add(reason)
    return out


def _all_frames(path: Path) -> np.ndarray:
    from kangaroo.video import load_video

    return load_video(path).frames  # (T, 720, 1280, 3): every frame, full resolution


def naive_chain(clips: list[Path]) -> dict[str, set[str]]:
    """Every filter decodes every frame at full resolution; all filters run on every clip."""
    import cv2
    from scenedetect.common import FrameTimecode
    from scenedetect.detectors import ContentDetector

    from kangaroo.curation.steps.face_coverage import FaceCoverageFilter
    from kangaroo.curation.steps.static_scene import mean_flow
    from kangaroo.curation.steps.text_coverage import TextCoverageFilter, ocr_engine

    faces, text, engine = FaceCoverageFilter(THRESHOLDS["face_coverage"]), TextCoverageFilter(THRESHOLDS["text_coverage"]), ocr_engine()
    reasons: dict[str, set[str]] = {}
    for clip in clips:
        found: set[str] = set()
        frames = _all_frames(clip)  # scene cut
        detector = ContentDetector(min_scene_len=15)
        cuts = [c for i, f in enumerate(frames)
                for c in detector.process_frame(FrameTimecode(i, fps=25.0), np.ascontiguousarray(f[:, :, ::-1]))]
        del cuts
        frames = _all_frames(clip)  # static scene
        picks = frames[np.linspace(0, len(frames) - 1, 8).astype(int)]
        small = np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in picks])
        if mean_flow(small) < THRESHOLDS["static_scene"]:
            found.add("static")
        frames = _all_frames(clip)  # faces
        picks = frames[np.linspace(0, len(frames) - 1, 7).astype(int)[1:-1]]
        if max(faces.frame_coverage(f) for f in picks) > THRESHOLDS["face_coverage"]:
            found.add("face_coverage")
        frames = _all_frames(clip)  # text
        picks = frames[np.linspace(0, len(frames) - 1, 5).astype(int)[1:-1]]
        if max(text.frame_coverage(f, engine) for f in picks) > THRESHOLDS["text_coverage"]:
            found.add("text_coverage")
        reasons[str(clip)] = found
    return reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    from kangaroo.curation.steps.face_coverage import FaceCoverageFilter
    from kangaroo.curation.steps.text_coverage import ocr_engine

    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp), args.clips, args.seconds)
        ocr_engine()  # load the models before the clock starts
        FaceCoverageFilter(THRESHOLDS["face_coverage"]).frame_coverage(np.zeros((64, 64, 3), np.uint8))
        started = time.perf_counter()
        ours = kangaroo_chain(clips)
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        naive = naive_chain(clips)
        naive_s = time.perf_counter() - started

    per_minute = {name: 60 * args.clips / s for name, s in (("kangaroo", ours_s), ("naive", naive_s))}
    print(f"{args.clips} clips of {args.seconds:g} s, 1280x720, 25 fps H.264; one process each")
    print("| chain | seconds | s / clip | clips / min / core |")
    print("|---|---|---|---|")
    for name, seconds in (("kangaroo", ours_s), ("naive (all frames, full resolution)", naive_s)):
        key = "kangaroo" if name == "kangaroo" else "naive"
        print(f"| {name} | {seconds:.1f} | {seconds / args.clips:.2f} | {per_minute[key]:.1f} |")
    print(f"speed-up: {naive_s / ours_s:.1f}x (target >= 5x)")
    dropped_ours = {c: r & {"static", "face_coverage", "text_coverage"} for c, r in ours.items()}
    agree = sum(dropped_ours.get(str(c), set()) <= naive.get(str(c), set()) for c in clips)
    print(f"clips where every filter drop of kangaroo's chain is also made by the naive chain: {agree}/{len(clips)}")


if __name__ == "__main__":
    main()
