"""Follow-up questions: each question asked again as the second turn of a conversation about its
video, after a first question and the model's own reply; a backend that really reads pixels."""

from __future__ import annotations

import subprocess
import sys

import pytest
import test_eval_video_control as colour_clips

from kangaroo.eval.backends.base import GenerationRequest
from kangaroo.eval.backends.kangaroo import KangarooBackend
from kangaroo.eval.report import write_report
from kangaroo.eval.runner import EvalSettingsError, run_task
from kangaroo.eval.task import load_task
from kangaroo.inference.loading import ensure_tiny_random
from kangaroo.model.layout import VIDEO_PAD

OPENER = "What colour is it?"


egoschema_dir = colour_clips.egoschema_dir  # the fixture: five clips, each one colour


class ForgetfulReader(colour_clips.ColourReader):
    """Reads the colour on a first question; after an earlier turn it only trusts what it said
    then, and it names the colour in its reply to the opener only for the first two clips."""

    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []

    def generate(self, requests):
        self.requests += requests
        seen = super().generate(requests)  # the letter of the video's colour
        replies = []
        for request, letter in zip(requests, seen, strict=True):
            if request.user == OPENER:
                replies.append(f" colour {'ABCDE'.index(letter)} " if letter in "AB" else " no idea ")
            elif request.history:
                said = request.history[0][1]
                replies.append("ABCDE"[int(said.split()[1])] if said.startswith("colour") else "E")
            else:
                replies.append(letter)
        return replies


def test_each_question_follows_the_models_own_reply_and_the_report_compares(egoschema_dir, tmp_path):
    task = load_task("egoschema")
    first = run_task(colour_clips.ColourReader(), task, egoschema_dir, tmp_path, frames=4)
    backend = ForgetfulReader()
    follow = run_task(backend, task, egoschema_dir, tmp_path, frames=4, follow_up=OPENER)
    assert first["overall"]["accuracy"] == 100.0
    # clips 0 and 1 were named in the first reply (right after it), clips 2-4 not (answered E: only clip 4 right)
    assert follow["overall"]["accuracy"] == pytest.approx(300 / 5)
    assert follow["follow_up"] == OPENER and first.get("follow_up") is None
    openers = [r for r in backend.requests if r.user == OPENER]
    questions = [r for r in backend.requests if r.user != OPENER]
    assert len(openers) == 5 and len(questions) == 5  # one opener per clip, each question after its own clip's
    for question in questions:
        (asked, reply), = question.history
        opener = next(o for o in openers if o.sample.video == question.sample.video)
        assert asked == OPENER and opener.video is question.video and not opener.history
        assert reply == ForgetfulReader.generate(ForgetfulReader(), [opener])[0].strip()
    predictions = (tmp_path / "egoschema" / "frames_4-followup" / "predictions.jsonl").read_text(encoding="utf-8")
    assert '"follow_up": {"user": "What colour is it?", "reply": "colour 0"}' in predictions
    report = write_report(tmp_path, plots=False)["markdown"].read_text(encoding="utf-8")
    table = report[report.index("## Follow-up questions"):]
    assert f"| EgoSchema | 4 | real | {OPENER} | 100.0 | 60.0 |" in table
    with pytest.raises(EvalSettingsError, match="empty"):
        run_task(colour_clips.ColourReader(), task, egoschema_dir, tmp_path, frames=4, follow_up="  ")


def test_the_kangaroo_backend_puts_the_video_and_the_earlier_turn_before_the_question(tmp_path):
    backend = KangarooBackend(ensure_tiny_random(tmp_path / "model"))
    processor = backend.processor
    sample = type("Sample", (), {"id": "s"})()
    alone = GenerationRequest(sample, None, "", "Which one?")
    followed = GenerationRequest(sample, None, "", "Which one?", history=((OPENER, "a red circle"),))
    ids_alone, ids_followed = backend._input_ids(alone, 4), backend._input_ids(followed, 4)
    pad = processor.video_token_ids[VIDEO_PAD]
    assert ids_alone.count(pad) == ids_followed.count(pad) > 0  # the video once, in the first turn
    text = processor.tokenizer.decode(ids_followed)
    assert text.index(OPENER) < text.index("a red circle") < text.index("Which one?")
    first_pad = ids_followed.index(pad)
    assert OPENER not in processor.tokenizer.decode(ids_followed[:first_pad])  # the video opens the first turn


def test_cli_runs_each_question_first_and_as_a_follow_up(egoschema_dir, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "kangaroo.cli", "eval", "--task", "egoschema", "-d", str(egoschema_dir),
         "--backend", "constant", "-m", "A", "--frames", "2", "--video-control", "blank", "--follow-up", OPENER,
         "-o", str(out), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (out / "egoschema").iterdir()} == {
        "frames_2", "frames_2-followup", "frames_2-blank", "frames_2-blank-followup"}
    assert "second" in done.stdout and "turn" in done.stdout  # the follow-up runs are the second turn
    assert "## Follow-up questions" in (out / "results.md").read_text(encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "kangaroo.cli", "eval", "--task", "egoschema", "-d",
                          str(egoschema_dir), "--backend", "constant", "--follow-up", " ", "-o", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--follow-up needs a question" in bad.stderr
