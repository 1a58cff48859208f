"""Keyword recall: does an open answer name the things the reference answer names?

A keyword is one concept with its accepted forms (``("up", "upward", "upwards")``); the
reference's keywords are the concepts of a vocabulary that occur in it, and a reply's recall is
the share of them it names in any form. English forms match whole words (``star`` is not found
in ``start``; a number is not found inside ``1.5``); Chinese forms match as substrings. Pure
functions, no torch.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Keyword = tuple[str, ...]  # one concept's accepted forms


@functools.lru_cache(maxsize=4096)
def _pattern(form: str) -> re.Pattern[str]:
    if not form.isascii():
        return re.compile(re.escape(form))
    return re.compile(rf"(?<![\w.]){re.escape(form)}(?![\w]|\.\d)", re.IGNORECASE)


def _names(text: str, keyword: Keyword) -> bool:
    return any(_pattern(form).search(text) for form in keyword)


def find_keywords(text: str, vocabulary: Mapping[str, Keyword]) -> list[Keyword]:
    """The vocabulary's concepts that ``text`` names, in vocabulary order."""
    return [forms for forms in vocabulary.values() if _names(text, forms)]


@dataclass(frozen=True)
class Recall:
    """How many of the reference's keywords a reply names."""

    found: tuple[str, ...]  # each found keyword by its first form
    missing: tuple[str, ...]

    @property
    def recall(self) -> float:
        return len(self.found) / (len(self.found) + len(self.missing))


def keyword_recall(reply: str, keywords: Sequence[Keyword]) -> Recall:
    """Which of ``keywords`` (non-empty) ``reply`` names."""
    if not keywords:
        raise ValueError("keyword_recall needs at least one keyword")
    found = tuple(k[0] for k in keywords if _names(reply, k))
    return Recall(found, tuple(k[0] for k in keywords if k[0] not in found))
