"""Video controls: the same task with blank or shuffled videos, on a backend that really reads pixels."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from kangaroo.eval.report import write_report
from kangaroo.eval.runner import run_task
from kangaroo.eval.samples import EvalSample
from kangaroo.eval.task import load_task
from kangaroo.eval.video_control import VideoControlError, apply_video_control, blank_twin
from kangaroo.video import FrameSampling, load_video, probe
from kangaroo.video.writer import write_video

# EgoSchema's layout: five questions, each clip one solid colour; the answer of clip i is option i
PALETTE = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 30), (200, 40, 200)]
UIDS = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(5)]


def _write_egoschema(root):
    root.mkdir(parents=True, exist_ok=True)
    questions = []
    for i, uid in enumerate(UIDS):
        row = {"q_uid": uid, "google_drive_id": f"d{i}", "question": "Which colour fills the video?"}
        row.update({f"option {k}": f"colour {k}" for k in range(5)})
        questions.append(row)
        frames = [np.full((48, 64, 3), PALETTE[i], dtype=np.uint8)] * 12
        write_video(root / "videos" / f"{uid}.mp4", frames, fps=6.0)
    (root / "questions.json").write_text(json.dumps(questions), encoding="utf-8")
    (root / "subset_answers.json").write_text(json.dumps({uid: i for i, uid in enumerate(UIDS)}), encoding="utf-8")
    return root


class ColourReader:
    """Answers with the option whose palette colour is nearest the video's mean colour."""

    name = "colour-reader"
    batch_size = 2

    def describe(self):
        return {"backend": "colour-reader"}

    def load_video(self, sample, sampling):
        clip = load_video(sample.video, sampling, start=sample.start, end=sample.end)
        return clip.frames, clip.timestamps

    def generate(self, requests):
        replies = []
        for request in requests:
            mean = request.video.reshape(-1, 3).mean(axis=0)
            nearest = int(np.argmin([np.linalg.norm(mean - np.array(c)) for c in PALETTE]))
            replies.append("ABCDE"[nearest])
        return replies


@pytest.fixture(scope="module")
def egoschema_dir(tmp_path_factory):
    return _write_egoschema(tmp_path_factory.mktemp("egoschema"))


def test_controls_drop_a_video_reading_model_and_the_report_shows_it(egoschema_dir, tmp_path):
    task = load_task("egoschema")
    real = run_task(ColourReader(), task, egoschema_dir, tmp_path, frames=4)
    blank = run_task(ColourReader(), task, egoschema_dir, tmp_path, frames=4, video_control="blank")
    shuffled = run_task(ColourReader(), task, egoschema_dir, tmp_path, frames=4, video_control="shuffled")
    assert real["overall"]["accuracy"] == 100.0
    assert shuffled["overall"]["accuracy"] == 0.0  # every clip got another colour's video
    assert blank["overall"]["accuracy"] <= 100 / 5  # grey is nearest one colour at most
    assert (tmp_path / "egoschema" / "frames_4-blank" / "metrics.json").is_file()
    assert blank["video_control"] == "blank" and real["video_control"] is None
    report = write_report(tmp_path, plots=False)["markdown"].read_text(encoding="utf-8")
    table = report[report.index("## Video controls"):]
    assert "| EgoSchema | 4 | 100.0 | " in table and " | 0.0 |" in table
    # the controlled runs are not mixed into the benchmark table as further frame counts
    assert json.loads((tmp_path / "results.json").read_text())["runs"][0]["video_control"] is None


def test_blank_twin_keeps_duration_start_and_sampled_times(tmp_path):
    frames = [np.full((40, 72, 3), 90 + i, dtype=np.uint8) for i in range(20)]
    late = write_video(tmp_path / "late.mkv", frames, fps=10.0, timestamps=[1.5 + i / 10 for i in range(20)])
    twin = blank_twin(late, tmp_path / "blank")
    original, grey = probe(late), probe(twin)
    assert grey.start_time == pytest.approx(original.start_time, abs=1e-3)
    assert grey.duration == pytest.approx(original.duration, abs=0.11)
    assert grey.display_width / grey.display_height == pytest.approx(72 / 40, rel=0.05)
    seven = FrameSampling(num_frames=7)
    a, b = load_video(late, seven), load_video(twin, seven)
    np.testing.assert_allclose(b.timestamps, a.timestamps, atol=1e-3)
    assert np.abs(b.frames.astype(int) - 128).max() <= 2  # grey
    assert blank_twin(late, tmp_path / "blank") == twin  # written once, then reused


def test_blank_twin_of_a_frame_folder_and_of_an_image(tmp_path):
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(9):
        Image.fromarray(np.full((30, 40, 3), 20 * i, dtype=np.uint8)).save(folder / f"{i + 1:05d}.jpg")
    twin = blank_twin(folder, tmp_path / "blank", source_fps=3.0)
    assert probe(twin).duration == pytest.approx(3.0, abs=0.35)
    sample = EvalSample("s", "q", ["a", "b"], "A", video=str(folder), start=0.5, end=2.5, source_fps=3.0)
    (controlled,) = apply_video_control([sample], "blank", tmp_path / "work")
    assert controlled.source_fps is None and controlled.start == 0.5 and controlled.video.endswith(".mp4")

    image = tmp_path / "still.png"
    Image.fromarray(np.full((20, 30, 3), 200, dtype=np.uint8)).save(image)
    grey_image = blank_twin(image, tmp_path / "blank")
    assert Image.open(grey_image).size == (30, 20)


def test_shuffled_is_a_seeded_derangement_that_keeps_questions(tmp_path):
    samples = [EvalSample(f"q{i}", f"question {i}", ["x", "y"], "A", video=f"v{i // 2}.mp4", start=float(i))
               for i in range(10)]
    first = apply_video_control(samples, "shuffled", tmp_path)
    again = apply_video_control(samples, "shuffled", tmp_path)
    assert [s.video for s in first] == [s.video for s in again]
    for before, after in zip(samples, first, strict=True):
        assert after.video != before.video
        assert (after.id, after.question, after.answer) == (before.id, before.question, before.answer)
    other_seed = apply_video_control(samples, "shuffled", tmp_path, seed=1)
    assert [s.video for s in other_seed] != [s.video for s in first]
    with pytest.raises(VideoControlError, match="two different videos"):
        apply_video_control(samples[:2], "shuffled", tmp_path)
    with pytest.raises(VideoControlError, match="unknown video control"):
        apply_video_control(samples, "black", tmp_path)


def test_cli_runs_each_control_beside_the_real_video(egoschema_dir, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "kangaroo.cli", "eval", "--task", "egoschema", "-d", str(egoschema_dir),
         "--backend", "constant", "-m", "A", "--frames", "2", "--video-control", "blank,shuffled", "-o", str(out),
         "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (out / "egoschema").iterdir()} == {"frames_2", "frames_2-blank", "frames_2-shuffled"}
    assert "## Video controls" in (out / "results.md").read_text(encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "kangaroo.cli", "eval", "--task", "egoschema", "-d",
                          str(egoschema_dir), "--backend", "constant", "--video-control", "noise", "-o", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown video control" in bad.stderr
