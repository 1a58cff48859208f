"""The main job's demo: the bundled model answers questions about videos it never saw.

`make_demo_questions` renders test-split videos of the procedural world (seeds no training run
uses, and colour-shape pairs held out of training allowed) with one question each -- which way an
object moves, what colour another turns, how many there are, when something happens, what
appears; in English and Chinese -- and `answer_demo_questions` asks a model each one and scores the
reply against the ground truth with the eval harness's rules (`kangaroo.eval.scoring`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_SEED = 20261207  # test split: no training recipe uses it
DEMO_QUESTIONS: tuple[tuple[str, str], ...] = (  # (task, language)
    ("mcq_direction", "en"),
    ("mcq_colour_change", "en"),
    ("mcq_count", "en"),
    ("grounding", "en"),
    ("mcq_appear", "en"),
    ("mcq_direction", "zh"),
    ("mcq_colour_change", "zh"),
    ("grounding", "zh"),
)


@dataclass(frozen=True)
class DemoQuestion:
    """One rendered video and its question: ``truth`` is the reference reply, ``answer`` the letter
    (multiple choice) or the seconds (grounding) it is scored against."""

    task: str
    language: str
    video: Path
    question: str
    truth: str
    answer: Any
    options: tuple[str, ...]


@dataclass(frozen=True)
class DemoAnswer:
    question: DemoQuestion
    reply: str
    correct: bool


def make_demo_questions(out_dir: str | os.PathLike[str], seed: int = DEMO_SEED) -> list[DemoQuestion]:
    """Render one test-split video per entry of `DEMO_QUESTIONS` into ``out_dir/videos``."""
    from kangaroo.synth.options import WorldOptions
    from kangaroo.synth.tasks import generate

    out = Path(out_dir)
    questions = []
    for index, (task, language) in enumerate(DEMO_QUESTIONS):
        record = generate(task, None, index, "test", out, seed=seed, world=WorldOptions(language=language))
        user, assistant = record["messages"][0], record["messages"][1]
        text = " ".join(part["text"] for part in user["content"] if part.get("type") == "text")
        meta = record["meta"]
        options = tuple(meta.get("options", ()))
        answer = meta["answer"] if options else meta["times"][0]  # a letter, or the truth in seconds
        questions.append(DemoQuestion(task, language, out / record["video"], text, assistant["content"],
                                      answer, options))
    return questions


def score_demo_reply(question: DemoQuestion, reply: str) -> bool:
    """Right by the eval harness's rules: the option read from the reply (lenient extraction), or
    a time within `kangaroo.eval.scoring.WITHIN_SECONDS` of the truth."""
    from kangaroo.eval.samples import EvalSample
    from kangaroo.eval.scoring import score_reply

    sample = EvalSample(id=question.task, video=str(question.video), question=question.question,
                        options=list(question.options), answer=question.answer)
    return bool(score_reply("choice" if question.options else "seconds", sample, reply).get("correct_lenient"))


def answer_demo_questions(model: Any, processor: Any, questions: list[DemoQuestion],
                          max_new_tokens: int = 48) -> list[DemoAnswer]:
    """Ask ``model`` (greedy) each question about its video, a new conversation each time."""
    answers = []
    for question in questions:
        reply, _ = model.chat(str(question.video), question.question, tokenizer=processor,
                              max_new_tokens=max_new_tokens, do_sample=False)
        answers.append(DemoAnswer(question, reply.strip(), score_demo_reply(question, reply)))
    return answers
