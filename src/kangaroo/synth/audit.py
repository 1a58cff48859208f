"""Blind baselines: how often a reader that never sees the video picks the right option.

Each heuristic looks only at the option texts of a multiple-choice question (the option most
like the others, the least like them, the longest, the shortest). When a family's distractors
are built around the truth -- e.g. every distractor shares a colour or a shape with it -- the
truth is the option most like the others, a model learns that instead of the video, and the
blank-video control (`kangaroo eval --video-control blank`) cannot drop to chance. Ties count
as a random pick among the tied options.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .families.family import LETTERS

_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")  # English words, digits, single Chinese characters


@dataclass(frozen=True)
class ChoiceQuestion:
    """What a blind reader sees of a question: its kind, the option texts, and the answer letter."""

    kind: str
    options: tuple[str, ...]
    answer: str


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _shared(options: Sequence[str]) -> list[int]:
    """Per option: words it shares with each other option, summed."""
    words = [_words(o) for o in options]
    return [sum(len(w & v) for j, v in enumerate(words) if j != i) for i, w in enumerate(words)]


def _picks(scores: Sequence[float], best: Callable[[Sequence[float]], float]) -> list[int]:
    top = best(scores)
    return [i for i, s in enumerate(scores) if s == top]


HEURISTICS: dict[str, Callable[[Sequence[str]], list[int]]] = {
    "most_shared_words": lambda opts: _picks(_shared(opts), max),
    "fewest_shared_words": lambda opts: _picks(_shared(opts), min),
    "longest": lambda opts: _picks([len(o) for o in opts], max),
    "shortest": lambda opts: _picks([len(o) for o in opts], min),
}


def blind_accuracy(questions: Iterable[ChoiceQuestion]) -> dict[str, dict[str, float]]:
    """``{kind: {heuristic: accuracy}}`` (fractions; ties split evenly) plus ``{kind: {"n": count}}``."""
    totals: dict[str, dict[str, float]] = {}
    for q in questions:
        row = totals.setdefault(q.kind, {"n": 0.0, **dict.fromkeys(HEURISTICS, 0.0)})
        row["n"] += 1
        truth = LETTERS.index(q.answer)
        for name, pick in HEURISTICS.items():
            chosen = pick(q.options)
            row[name] += (truth in chosen) / len(chosen)
    return {kind: {name: (v if name == "n" else v / row["n"]) for name, v in row.items()}
            for kind, row in totals.items()}
