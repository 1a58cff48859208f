"""The demo's questions are scored against their ground truth: a letter, or seconds for grounding."""

from __future__ import annotations

from pathlib import Path

from kangaroo.inference.world_demo import DEMO_QUESTIONS, make_demo_questions, score_demo_reply


def test_demo_questions_score_the_truth_right_and_another_answer_wrong(tmp_path: Path) -> None:
    questions = make_demo_questions(tmp_path)
    assert [(q.task, q.language) for q in questions] == list(DEMO_QUESTIONS)
    for q in questions:
        assert q.video.is_file()
        assert score_demo_reply(q, q.truth), (q.task, q.truth)  # the reference reply itself is right
        if q.options:
            other = next(letter for letter in "ABCD" if letter != q.answer)
            assert not score_demo_reply(q, f"{q.options['ABCD'.index(other)]} ({other})")
        else:
            assert isinstance(q.answer, float | list) and not score_demo_reply(q, "At 99 seconds.")
