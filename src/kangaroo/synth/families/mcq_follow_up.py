"""A multiple-choice question asked as the second turn, after a first exchange about the same video.

The first turn is a caption, an open question or a one-word look question (its true answer); the
second is a question of one of the six multiple-choice families, each turn in its own language
under ``"mixed"``. It teaches what `kangaroo eval --follow-up` measures: a question is answered as
well after a first exchange as when it is asked first.
"""

from __future__ import annotations

import random

from ..facts import Facts
from . import (
    caption_short,
    look,
    mcq_appear,
    mcq_colour_change,
    mcq_count,
    mcq_direction,
    mcq_end,
    mcq_order,
    open_qa,
)
from .family import Built, Task, Turn

OPENERS = (caption_short.TASK, open_qa.TASK, look.TASK)
QUESTIONS = (mcq_direction.TASK, mcq_count.TASK, mcq_order.TASK, mcq_colour_change.TASK, mcq_appear.TASK,
             mcq_end.TASK)


def _first_built(tasks: tuple[Task, ...], f: Facts, rng: random.Random, spec: str) -> tuple[Task, Built] | None:
    """The first of ``tasks``, in a random order, that builds a question from the scene, and what it built."""
    for task in rng.sample(tasks, len(tasks)):
        built = task.build(f, rng, spec)
        if built is not None:
            return task, built
    return None


def build_mcq_follow_up(f: Facts, rng: random.Random, spec: str) -> Built | None:
    opener, question = _first_built(OPENERS, f, rng, spec), _first_built(QUESTIONS, f, rng, spec)
    if opener is None or question is None:
        return None
    (opener_task, opened), (question_task, asked) = opener, question
    first, second = opened.turns[0], asked.turns[0]
    turns = [first, Turn(second.language, second.question, second.answer, kind=second.kind, refers_to=None)]
    languages = {first.language, second.language}
    return Built(
        turns,
        answer=asked.answer,
        options=asked.options,
        times=asked.times,
        extra={**asked.extra, "opener": opener_task.name, "family": question_task.name,
               "language_override": "mixed" if len(languages) > 1 else second.language},
    )


TASK = Task("mcq_follow_up", "4-option MCQ asked after a first exchange (caption, open or look question) about the video",
            build_mcq_follow_up, scene_kwargs={"num_events": (3, 6)})
