"""What a question family is and what it builds from a scene.

A family (one module of `kangaroo.synth.families`) is a `Task`: a name, a description, how its
scenes are sampled and a ``build(facts, rng, language)`` function that returns a `Built` (the
turns and the record's meta fields) or None when the scene does not fit. `multiple_choice` and
`single_answer` make the common shapes of `Built`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..facts import Facts
from ..language import LANGUAGES, format_options, object_name, time_phrase
from ..scene import Event

LETTERS = "ABCD"  # multiple-choice option letters


@dataclass
class Turn:
    """One question and its answer, in ``language``; ``refers_to`` is the index of the earlier
    turn it refers back to (multi-round)."""

    language: str
    question: str
    answer: str
    kind: str = ""
    refers_to: int | None = None


@dataclass
class Built:
    """What a task derives from a scene: the turns and the meta fields."""

    turns: list[Turn]
    answer: Any
    options: list[str] | None = None
    times: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A named question family: how its scenes are sampled and how a record is built from one.

    ``media``: ``"video"``, ``"image"`` (a 1-frame PNG) or ``"needle"`` (a long video with one
    short needle event). ``duration`` / ``fps``: the defaults when `WorldOptions` leaves them
    None. ``scene_kwargs`` go to `world.sample_scene`.
    """

    name: str
    description: str
    build: Callable[[Facts, random.Random, str], Built | None]
    media: str = "video"
    duration: float = 8.0
    fps: float = 8.0
    scene_kwargs: dict[str, Any] = field(default_factory=dict)


def pick_language(spec: str, rng: random.Random) -> str:
    """``"en"`` / ``"zh"`` as given, or one of them at random for ``"mixed"``."""
    return rng.choice(LANGUAGES) if spec == "mixed" else spec


def multiple_choice(
    rng: random.Random,
    lang: str,
    question: str,
    truth: str,
    preferred: Sequence[str],
    fallback: Sequence[str] = (),
    *,
    kind: str,
    times: list[Any],
    objects: Sequence[int] = (),
    max_preferred: int = 3,
) -> Built | None:
    """A 4-option question: the truth plus 3 distractors (up to ``max_preferred`` drawn at
    random from ``preferred``, the rest the first of ``fallback`` in its order, then of the
    other ``preferred``), shuffled. None when there are too few.

    The reply is the right option's text alone (``"blue circle"``); ``meta.answer`` holds its letter,
    which the eval reads from the text (`kangaroo.eval.extraction.extract_choice`). No letter is
    written: the tiny LLM does not learn to look up the letter standing before a text in the
    options, so a letter after the text was a guess (docs/results.md, "the letter lookup")."""
    pool = [d for d in dict.fromkeys(preferred) if d != truth]
    chosen = rng.sample(pool, min(max_preferred, len(pool), 3))
    rest = [d for d in dict.fromkeys([*fallback, *pool]) if d != truth and d not in chosen]
    if len(chosen) + len(rest) < 3:
        return None
    chosen += rest[: 3 - len(chosen)]
    options = [truth, *chosen]
    rng.shuffle(options)
    letter = LETTERS[options.index(truth)]
    prompt = format_options(question, options, lang, rng)
    return Built(
        [Turn(lang, prompt, truth, kind=kind)],
        answer=letter,
        options=options,
        times=times,
        extra={"answer_text": truth, "question_type": kind, "objects": list(objects)},
    )


def fillers(f: Facts, rng: random.Random, real: Sequence[str], shape: str, colour: str, lang: str) -> list[str]:
    """Names of absent objects that complete a question about the ``colour`` ``shape`` object
    whose other distractors are the ``real`` scene objects: with none, the 2x2 grid around the
    truth (`Facts.absent_pairs`); with some, absent pairs at random, so that neither kind makes
    the truth the option most like the others."""
    pairs = f.absent_pairs(rng, shape, colour) if not real else f.absent_pairs(rng)
    return [object_name(c, s, lang) for c, s in pairs[:8]]


def when_qualifier(obj_events: Sequence[Event], event: Event, lang: str) -> str:
    """``""`` when the object has one event of this kind, else ``" at 3 seconds"`` / ``"在第3秒"``."""
    if sum(1 for e in obj_events if e.kind == event.kind) == 1:
        return ""
    return (" " + time_phrase(event.time, "en")) if lang == "en" else time_phrase(event.time, "zh")


def single_answer(lang: str, question: str, answer: str, *, kind: str, times: list[Any], objects: Sequence[int] = (),
                  **extra: Any) -> Built:
    """A one-turn question with a free-text ``answer``."""
    return Built([Turn(lang, question, answer, kind=kind)], answer=answer, times=times,
                 extra={"question_type": kind, "objects": list(objects), **extra})


def first_built(makers: Iterable[Callable[[], Built | None]]) -> Built | None:
    """The first question a maker can build from the scene (makers return None when they cannot)."""
    for make in makers:
        built = make()
        if built is not None:
            return built
    return None
