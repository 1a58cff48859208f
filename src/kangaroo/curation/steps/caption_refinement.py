"""Caption refinement: drop captions that repeat themselves (the paper's eq. 2).

The paper (section III-C) found LLM-summarised captions that merely concatenate near-identical
frame captions. For a caption of N sentences with word sets ``s_i`` it scores every pair by
``S_ij = |s_i ∩ s_j| / |s_i ∪ s_j|`` (eq. 2), takes the maximum over all pairs as the caption's
similarity, and removes captions above a threshold. Chinese sentences are segmented into words
with jieba, English ones split into words.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from .base import COST_METADATA, Record, ThresholdFilter

# Sentence ends: . ! ? ; followed by whitespace or the end (so "1.5 m" and "e.g.x" stay whole),
# the full-width 。！？； anywhere, and line breaks.
_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|[。！？；]+|[\r\n]+")
# CJK unified ideographs (and extension A, compatibility ideographs): such a sentence goes to jieba.
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# An English word: letters/digits, keeping inner apostrophes ("it's", "don't").
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

_jieba_lock = threading.Lock()
_jieba: Any = None


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, in order.

    Sentences end at ``. ! ? ;`` followed by whitespace or the end of the text, at the full-width
    ``。！？；``, and at line breaks. Pieces without any letter, digit or CJK character (``"..."``)
    are not sentences.
    """
    pieces = (piece.strip() for piece in _SENTENCE_END.split(text))
    return [p for p in pieces if any(ch.isalnum() for ch in p)]


def sentence_words(sentence: str) -> set[str]:
    """The word set of one sentence: jieba's tokens when it contains CJK characters, else the
    lowercased words between whitespace and punctuation; punctuation and whitespace tokens are
    never words."""
    if _CJK.search(sentence):
        return {token.lower() for token in _segmenter().lcut(sentence) if any(ch.isalnum() for ch in token)}
    return set(_WORD.findall(sentence.lower()))


def word_iou(a: set[str], b: set[str]) -> float:
    """Eq. 2: ``|a ∩ b| / |a ∪ b|`` (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def caption_similarity(text: str, min_sentences: int = 2) -> float:
    """The caption's sentence similarity: the maximum `word_iou` over all pairs of its
    sentences; 0.0 for a caption with fewer than ``min_sentences`` sentences."""
    sentences = split_sentences(text)
    if len(sentences) < max(2, min_sentences):
        return 0.0
    words = [sentence_words(s) for s in sentences]
    return max(word_iou(a, b) for a, b in itertools.combinations(words, 2))


def caption_of(record: Record) -> str | None:
    """The text of the record's last assistant message (HF-style ``messages``; ``content`` a
    string or a list of parts, whose ``text`` parts are joined with line breaks), or None."""
    messages = record.get("messages")
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = (_part_text(part) for part in content)
            return "\n".join(t for t in texts if t is not None)
        return None
    return None


def _part_text(part: Any) -> str | None:
    """A content part's text (a bare string, or ``{"type": "text", "text": ...}``), else None."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str):
        return part["text"]
    return None


@dataclass
class CaptionRepetitionFilter(ThresholdFilter):
    """Drop records whose caption's sentence similarity (`caption_similarity`) exceeds ``threshold``.

    threshold:     maximum allowed similarity, in [0, 1] (the paper leaves it unstated). The
                   default 0.6 drops a caption in which one sentence is another with a few words
                   added or changed ("A man stands in a kitchen." / "A man stands in a kitchen near
                   a stove." scores 0.75) and keeps sentences that share only function words and
                   a subject ("The man adds salt." / "The man stirs the pot." scores 0.4).
    min_sentences: captions with fewer sentences score 0 (one sentence has no pair); >= 2.

    The caption is the text of the record's last assistant message (`caption_of`); a record
    without one (not captioned yet, or an empty caption) scores 0 and is kept, so the step is
    harmless before captioning. Drop reason ``caption_repetition``, value = the similarity; the
    value is also stored in ``meta.measures.caption_refinement``. Raises ValueError for bad
    arguments.
    """

    threshold: float = 0.6
    min_sentences: int = 2
    name: str = field(default="caption_refinement", init=False)
    cost: int = field(default=COST_METADATA, init=False)
    reason: str = field(default="caption_repetition", init=False)
    drop_above: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1] (an IoU), got {self.threshold}")
        if self.min_sentences < 2:
            raise ValueError(f"min_sentences must be >= 2 (a similarity needs a pair), "
                             f"got {self.min_sentences}")

    def measure(self, record: Record) -> float:
        text = caption_of(record)
        return caption_similarity(text, self.min_sentences) if text else 0.0


def _segmenter() -> Any:
    """jieba, imported and its dictionary loaded once, without its stderr chatter."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                try:
                    import jieba
                except ImportError as exc:  # pragma: no cover - depends on the environment
                    raise ImportError("Chinese captions need jieba: "
                                      "pip install 'kangaroo[curate]'") from exc
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba
