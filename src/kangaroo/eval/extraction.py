"""Reading the answer out of a model's free-form reply.

`extract_choice` is the lenient rule: it finds the option a reply names in English or Chinese
("B", "(B)", "B.", "Answer: B", "The best answer is B", "答案是B", or the option's own text) and
gives None when the reply names no option or several. `strict_choice` is the rule of the
official scripts (MVBench, Video-MME): the reply's first word, stripped of brackets and
punctuation, must be an option letter. `extract_seconds` reads a time or a span in seconds for
temporal grounding. Pure functions, no torch.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from .samples import LETTERS

# explicit answer cues: "answer is B", "best option: (B)", "option B", "答案是B", "选B"
_CUE = re.compile(
    r"(?:answer|option|choice)s?\s*(?:is|would\s+be|should\s+be|:)?\s*[:：]?\s*[\(\[]?\s*([A-Z])\b(?![’'])"
    r"|(?:答案|选项|选择|应选|选)\s*(?:是|为|应该是|应为)?\s*[:：]?\s*[\(\[]?\s*([A-Z])(?![A-Za-z])",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"[\(\[]\s*([A-Z])\s*[\)\]]")
_LEADING = re.compile(r"^\s*([A-Z])(?:$|[\s\.\):,;\]])")
_STANDALONE = re.compile(r"(?<![A-Za-z'’])([A-Z])(?![A-Za-z'’])")
_WORD = re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]")


def normalize_reply(text: str) -> str:
    """Full-width characters to ASCII (NFKC: ``（Ｂ）`` -> ``(B)``), markdown emphasis removed,
    whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[*_`#]+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def strict_choice(text: str, num_options: int) -> str | None:
    """The official rule: the first word of the reply, without brackets and punctuation, is one
    of the first ``num_options`` letters (``"(B) cat"`` -> ``"B"``; ``"The answer is B"`` -> None)."""
    words = normalize_reply(text).split(" ", 1)
    first = words[0].strip("()[]{}.:,;'\"") if words else ""
    return first if len(first) == 1 and first in LETTERS[:num_options] else None


def extract_choice(text: str, options: Sequence[str]) -> str | None:
    """The letter of the one option ``text`` names, or None (no option, or several).

    options: the option texts in letter order (``options[0]`` is A). Letters outside the
    options' range are ignored. Tried in order, the first rule that finds letters decides:
    explicit cues ("answer is B", "答案：B"); bare letters in a reply of a few words ("B", "B or
    C" -> None); a reply that starts with a letter ("B.", "(B) text ..."); bracketed letters
    anywhere ("(B)"); finally the option texts themselves, when exactly one appears in the reply
    (an option contained in a longer one that also appears does not count).
    """
    valid = set(LETTERS[: len(options)])
    reply = normalize_reply(text)
    bare = reply.strip("()[]{}.:;, ")
    if len(bare) == 1:  # the reply is one letter, in either case
        return bare.upper() if bare.upper() in valid else None
    for letters in (_cue_letters(reply), _short_reply_letters(reply), _leading_letter(reply), _BRACKETED.findall(reply)):
        found = {letter.upper() for letter in letters} & valid
        if found:
            return found.pop() if len(found) == 1 else None
    return _option_text_match(reply, options)


def _cue_letters(reply: str) -> list[str]:
    return [a or b for a, b in _CUE.findall(reply)]


def _leading_letter(reply: str) -> list[str]:
    match = _LEADING.match(reply)
    if match is None:
        return []
    letter = match.group(1)
    rest = reply[match.end(1):]
    # "A man walks" starts with the article, not the option: a leading "A" needs punctuation or nothing after it
    if letter == "A" and rest[:1] == " " and not rest.strip().startswith(("or ", "and ")):
        return []
    return [letter]


def _short_reply_letters(reply: str) -> list[str]:
    """Bare capital letters, only in a reply of at most a few words ("B", "B or C", "选 B")."""
    if len(_WORD.findall(reply)) > 4:
        return []
    letters = []
    for match in _STANDALONE.finditer(reply):
        after = reply[match.end():]
        if match.group(1) == "I" or (match.group(1) == "A" and re.match(r" (?!or |and )[a-z]", after)):
            continue  # the pronoun, the article
        letters.append(match.group(1))
    return letters


def _fold(text: str) -> str:
    return re.sub(r"[^\w\u4e00-\u9fff]+", " ", normalize_reply(text).lower()).strip()


def _option_text_match(reply: str, options: Sequence[str]) -> str | None:
    haystack = f" {_fold(reply)} "
    folded = [_fold(option) for option in options]
    hits = [i for i, option in enumerate(folded) if option and _contains(haystack, option)]
    # an option inside a longer option that also matched ("red" in "red circle") is not named itself
    named = [i for i in hits if not any(j != i and folded[i] in folded[j] and folded[i] != folded[j] for j in hits)]
    distinct = {folded[i] for i in named}
    return LETTERS[named[0]] if len(distinct) == 1 and len(named) == 1 else None


def _contains(haystack: str, needle: str) -> bool:
    if re.search(r"[\u4e00-\u9fff]", needle):  # Chinese has no word boundaries
        return needle in haystack
    return f" {needle} " in haystack


_NUMBER = r"(\d+(?:\.\d+)?)"
_SPAN = re.compile(_NUMBER + r"\s*(?:s|sec|secs|seconds?|秒)?\s*(?:-|–|—|~|to|until|and|至|到)\s*" + _NUMBER)
_MMSS = re.compile(r"\b(\d{1,2}):(\d{2}(?:\.\d+)?)\b")
_SINGLE = re.compile(_NUMBER)


def extract_seconds(text: str) -> float | tuple[float, float] | None:
    """A time (``"at 3.1 seconds"``, ``"第3.1秒"``, ``"0:03"``) or a span (``"from 2 to 4.5
    seconds"``, ``"2-4.5秒"``) from a grounding reply; the first one mentioned; None if none."""
    reply = normalize_reply(text)
    reply = _MMSS.sub(lambda m: f"{int(m.group(1)) * 60 + float(m.group(2)):g}", reply)
    span = _SPAN.search(reply)
    single = _SINGLE.search(reply)
    if span is not None and (single is None or span.start() <= single.start()):
        return float(span.group(1)), float(span.group(2))
    return float(single.group(1)) if single is not None else None
