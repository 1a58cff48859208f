"""Reading the answer out of a model's free-form reply.

`strict_choice` is the rule of the official scripts (MVBench, Video-MME), the reply's first word
stripped of brackets and punctuation is an option letter, plus the form ``<option text>
(<letter>)`` (a reply that ends with the one letter it names, in brackets). `extract_choice` is
the lenient rule: whatever the strict rule reads, and beyond it a letter named inside a sentence
("I think it is B", "答案是B", "B is correct"), a bracketed letter anywhere, a bare letter in a
short reply, and finally the option's own text (exact, else the one option whose words the reply
shares most). Both give None when the reply names no option, or several as candidates ("B or
C"); a letter the reply rules out ("not C", "C is wrong", "不是C") does not count. The rules, with
examples, are in ``docs/eval.md``; ``tests/data/choice_replies.yaml`` is the corpus they are
tested on. `extract_seconds` reads a time or a span in seconds for temporal grounding. Pure
functions, no torch.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from .samples import LETTERS

_OPEN = r"[\(\[\{\"'“‘]"
_CLOSE = r"[\)\]\}\"'”’]"
# an option letter: optionally bracketed or quoted, not followed by a letter, digit, hyphen or "'s"
_LETTER = rf"{_OPEN}?\s*([A-Za-z])\s*{_CLOSE}?(?![A-Za-z0-9\-]|['’][a-z])"
_UPPER_LETTER = rf"{_OPEN}?\s*([A-Z])\s*{_CLOSE}?(?![A-Za-z0-9\-]|['’][a-z])"
_FILLER = r"(?:probably|likely|most\s+likely|definitely|clearly|certainly|actually|surely|obviously|option|choice)"
_COPULA = r"(?:\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be|seems\s+to\s+be|appears\s+to\s+be|=))?"
_ZH_COPULA = r"\s*(?:应该是|应当是|应为|就是|是|为)?\s*[:：]?\s*"


def _cue(english: str, chinese: str) -> re.Pattern[str]:
    """A cue word before a letter, which may be lowercase after it ("answer: b")."""
    return re.compile(rf"(?:\b(?:{english})\b{_COPULA}(?:\s+{_FILLER})?\s*[:：\-=]?\s*|(?:{chinese}){_ZH_COPULA})"
                      + _LETTER, re.IGNORECASE)


_ANSWER_CUE = _cue("answers?|letter", "答案|选择|应选|我选|选|答")  # "the answer is B", "答案是B", "选B"
_OPTION_CUE = _cue("option|choice", "选项")  # "option C", "my choice would be C", "选项为A"
# words before a capital letter: "I think it's B", "I'd go with B", "probably B", "我觉得是B"
_WEAK_CUE = re.compile(
    r"(?:(?i:\b(?:is|be|was|['’]s|choose|chose|pick|picked|select|selected|go\s+with|going\s+with|opt\s+for|"
    r"say|guess|think|believe|bet|maybe|perhaps|probably|possibly|likely)\b"
    rf"(?:\s+(?:it['’]s|it\s+is|{_FILLER}))?)\s*[:：]?\s*"
    r"|(?<![不非还])(?:是|为|选)\s*|(?:可能|大概|也许|觉得|认为)\s*)" + _UPPER_LETTER,
)
# a letter followed by a verdict: "B is correct", "B seems right", "B正确", "C项是对的"
_VERDICT = re.compile(
    _UPPER_LETTER + r"\s*(?:(?i:\b(?:is|seems|looks|appears|should\s+be|must\s+be)\s+(?:to\s+be\s+)?(?:the\s+)?"
    r"(?:correct|right|best|answer|true|most\s+likely)\b)|(?:选项|项)?\s*(?:是|最)?\s*(?:正确|对的|对|最合适|最佳))",
)
# letters the reply rules out: "not C", "isn't C", "rather than C", "C is wrong", "不是C", "排除C", "C错"
_REJECTED = re.compile(
    r"(?i:\b(?:not|never|cannot|rather\s+than|instead\s+of|other\s+than|except|excluding|exclude|eliminate|"
    r"rule\s+out)|n['’]t)\s+(?i:be\s+)?(?i:the\s+)?(?i:option\s+|choice\s+|answer\s+)?" + _UPPER_LETTER
    + r"|(?:不是|并非|而非|不选|排除|除了|不可能是)\s*(?:选项)?\s*" + _UPPER_LETTER
    + r"|" + _UPPER_LETTER + r"\s*(?:(?i:\b(?:is|are|was|seems|looks)\s+(?:not|wrong|incorrect|false|unlikely|"
    r"impossible|out|excluded|eliminated|ruled\s+out)\b)"
    r"|(?:选项|项)?\s*(?:是)?\s*(?:错|不对|不正确|不可能))",
)
# after a named letter: another one offered beside it ("B or C", "B/C", "B 和 C", "B C")
_PARTNER = re.compile(
    r"\s*" + _CLOSE + r"?\s*(?:(?:[,/、&]|\bor\b|\band\b|或者|或|还是|和|与)\s*)?" + _UPPER_LETTER,
)
_BRACKETED = re.compile(r"[\(\[\{]\s*([A-Z])\s*[\)\]\}]")
_STANDALONE = re.compile(r"(?<![A-Za-z0-9'’\-])([A-Z])(?![A-Za-z0-9\-]|['’][a-z])")
_TRAILING = re.compile(r"[\(\[\{]\s*([A-Z])\s*[\)\]\}]\s*[.。!！]?$")
# "A man", "I think": the article and the pronoun, not letters (but "A is correct", "A or B" name A)
_WORD_AFTER = re.compile(r" (?!(?:is|was|seems|looks|appears|should|must|would|fits|matches|sounds|and|or|"
                         r"because|since)\b)[a-z]")
_WORD = re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]")
SHORT_REPLY_WORDS = 6  # bare letters count only in replies this short (a Chinese character is a word)


def normalize_reply(text: str) -> str:
    """Full-width characters to ASCII (NFKC: ``（Ｂ）`` -> ``(B)``), markdown emphasis removed,
    whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[*_`#]+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def strict_choice(text: str, num_options: int) -> str | None:
    """The official rule: the reply's first word, without brackets and punctuation, is one of the
    first ``num_options`` letters (``"(B) cat"`` -> ``"B"``); else a reply that ends with a
    bracketed letter, the only one it names (``"It turns purple (A)"`` -> ``"A"``). None for the
    article ("A man walks"), for a letter offered beside another ("B or C"), and for anything else
    (``"The answer is B"`` -> None)."""
    reply = normalize_reply(text)
    valid = LETTERS[:num_options]
    letter = _first_word_letter(reply)
    if letter is None:
        letter = _trailing_letter(reply, valid)
    return letter if letter is not None and letter in valid else None


def extract_choice(text: str, options: Sequence[str]) -> str | None:
    """The letter of the one option ``text`` names, or None (no option, or several).

    options: the option texts in letter order (``options[0]`` is A). Letters beyond the options
    are ignored, and so are letters the reply rules out ("not C"). Whatever `strict_choice` reads
    is the answer (lenient accepts all that strict accepts). Then, the first rule that finds
    letters decides (one letter: it; several: None): a letter after an answer cue ("the answer is
    B", "答案是B", "选B"); before a verdict ("B is correct", "B正确"); after another cue ("option
    C", "I think it's B", "我觉得是B"); bracketed letters anywhere; bare letters in a reply of a
    few words ("B", "B or C" -> None). Last, the option texts: the
    one that appears whole in the reply (not inside a longer option that also appears, not
    after "not"), else the one option sharing the most words with the reply, if it alone does.
    """
    strict = strict_choice(text, len(options))
    if strict is not None:
        return strict
    valid = set(LETTERS[: len(options)])
    reply = normalize_reply(text)
    bare = reply.strip("()[]{}.:;,。 ")
    if len(bare) == 1 and bare.isalpha():  # the reply is one letter, in either case
        return bare.upper() if bare.upper() in valid else None
    rejected = _rejected(reply)
    for letters in (_cued_letters(reply, _ANSWER_CUE), _cued_letters(reply, _VERDICT),
                    _cued_letters(reply, _OPTION_CUE, _WEAK_CUE), _BRACKETED.findall(reply),
                    _short_reply_letters(reply)):
        found = {letter.upper() for letter in letters} & valid - rejected
        if found:
            return found.pop() if len(found) == 1 else None
    return _option_text_match(reply, options)


def _is_word(reply: str, match: re.Match[str]) -> bool:
    """Whether the matched "A" / "I" is the article or the pronoun ("A man", "I think")."""
    letter = match.group(1)
    bracketed = reply[match.end(1):match.end(1) + 1] in ")]}"
    return letter in "AaIi" and not bracketed and _WORD_AFTER.match(reply, match.end(1)) is not None


def _letters(pattern: re.Pattern[str], reply: str) -> list[str]:
    return [m.group(1) for m in pattern.finditer(reply) if not _is_word(reply, m)]


def _rejected(reply: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _REJECTED.finditer(reply)}


def _partners(reply: str, end: int, letter: str) -> list[str]:
    """Letters offered beside the one ending at ``end`` ("B or C" -> ["C"])."""
    found = []
    while (match := _PARTNER.match(reply, end)) is not None and not _is_word(reply, match):
        if match.group(1).upper() == letter.upper():
            break  # "B B B": a repetition, not an alternative
        found.append(match.group(1))
        end = match.end()
    return found


def _first_word_letter(reply: str) -> str | None:
    word = reply.split(" ", 1)[0]
    first = word.strip("()[]{}.:,;?!'\"。，：")
    if len(first) != 1 or first not in LETTERS:
        return None
    end = reply.index(first) + 1
    if not word.startswith(("(", "[", "{")) and first in "AI" and _WORD_AFTER.match(reply, end):
        return None  # the article or the pronoun
    rejected = _rejected(reply)
    if first in rejected or set(_partners(reply, end, first)) - rejected:
        return None  # "C is wrong", "B or C"
    return first


def _trailing_letter(reply: str, valid: str) -> str | None:
    match = _TRAILING.search(reply)
    if match is None:
        return None
    named = {m.group(1) for m in _STANDALONE.finditer(reply) if not _is_word(reply, m)}
    named = (named | set(_BRACKETED.findall(reply))) & set(valid)
    return match.group(1) if named - _rejected(reply) == {match.group(1)} else None


def _cued_letters(reply: str, *patterns: re.Pattern[str]) -> list[str]:
    """Letters after a cue (or before a verdict), with the letters offered beside them."""
    letters = []
    for pattern in patterns:
        for match in pattern.finditer(reply):
            if not _is_word(reply, match):
                letters += [match.group(1), *_partners(reply, match.end(1), match.group(1))]
    return letters


def _short_reply_letters(reply: str) -> list[str]:
    """Bare capital letters, only in a reply of a few words ("B", "B or C", "选 B")."""
    if len(_WORD.findall(reply)) > SHORT_REPLY_WORDS:
        return []
    return _letters(_STANDALONE, reply)


# ---- option texts ----------------------------------------------------------------------------

_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|cannot)\b|n['’]t\b|不|没", re.IGNORECASE)
_CLAUSE = re.compile(r"[,.;:!?，。；：！？\n]")
_NEGATED_END = re.compile(r"(?:\b(?:not|never|no|nor|neither|isnt|t)|不是|并非|而非|不|没有)\s*(?:the |a |an )?$")
_STOPWORDS = frozenset({
    "a", "an", "the", "it", "its", "it's", "is", "are", "was", "were", "be", "been", "to", "of", "in",
    "on", "at", "by", "and", "or", "with", "this", "that", "these", "those", "which", "what", "who",
    "there", "here", "i", "i'm", "think", "answer", "option", "choice", "video", "object", "objects",
    "shape", "ones", "does", "do", "did", "so", "then", "as", "from", "for", "my", "me", "s",
})
_STOP_CHARS = frozenset("的了是在吗呢吧啊它他她这那也都就和与个我觉得认为答案选项应该")
_STOP_PHRASES = re.compile("以上|以下|上面|下面|视频|画面|物体|图形|问题")  # "以上都不对" names no direction
_NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                 "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "once": "1", "twice": "2"}
_NUMBER_CHARS = str.maketrans("零一二两三四五六七八九", "01223456789")
_SPELLING = {"color": "colour", "gray": "grey", "upward": "up", "upwards": "up", "downward": "down",
             "downwards": "down", "leftward": "left", "leftwards": "left", "rightward": "right",
             "rightwards": "right"}


def _fold(text: str) -> str:
    return re.sub(r"[^\w\u4e00-\u9fff]+", " ", normalize_reply(text).lower()).strip()


def _option_text_match(reply: str, options: Sequence[str]) -> str | None:
    exact = _exact_option(reply, options)
    if exact is not None:
        return exact or None
    return _closest_option(reply, options)


def _exact_option(reply: str, options: Sequence[str]) -> str | None:
    """The letter of the one option whose text the reply contains; "" when several are named."""
    haystack = f" {_fold(reply)} "
    folded = [_fold(option) for option in options]
    hits = [i for i, option in enumerate(folded) if option and _named_whole(haystack, option)]
    # an option inside a longer option that also matched ("red" in "red circle") is not named itself
    named = [i for i in hits if not any(j != i and folded[i] in folded[j] and folded[i] != folded[j] for j in hits)]
    if not named:
        return None
    return LETTERS[named[0]] if len({folded[i] for i in named}) == 1 and len(named) == 1 else ""


def _named_whole(haystack: str, needle: str) -> bool:
    """``needle`` occurs in ``haystack`` (as whole words, unless Chinese), once not after "not"."""
    chinese = re.search(r"[\u4e00-\u9fff]", needle) is not None
    target = needle if chinese else f" {needle} "
    start = haystack.find(target)
    while start >= 0:
        if not _NEGATED_END.search(haystack[:start + (0 if chinese else 1)]):
            return True
        start = haystack.find(target, start + 1)
    return False


def _closest_option(reply: str, options: Sequence[str]) -> str | None:
    """The option sharing the most words with the reply (words after a negation left out), when
    no other shares as many."""
    kept = " ".join(_NEGATION.split(clause, 1)[0] for clause in _CLAUSE.split(reply))
    words = _content_words(kept)
    overlaps = [len(_content_words(option) & words) for option in options]
    best = max(overlaps, default=0)
    return LETTERS[overlaps.index(best)] if best > 0 and overlaps.count(best) == 1 else None


def _content_words(text: str) -> set[str]:
    """Lower-case word stems (English), characters (Chinese) and numbers, without stop words."""
    words = set()
    text = _STOP_PHRASES.sub(" ", normalize_reply(text).lower()).translate(_NUMBER_CHARS)
    for token in re.findall(r"[a-z']+|\d+|[\u4e00-\u9fff]", text):
        if token in _STOPWORDS or token in _STOP_CHARS:
            continue
        token = _NUMBER_WORDS.get(token, _SPELLING.get(token, token))
        words.add(_stem(token))
    return words


def _stem(word: str) -> str:
    """``moves``/``moving``/``moved``/``move`` -> ``mov``: enough to match a paraphrase's words."""
    if not word.isalpha():
        return word
    for suffix in ("ing", "es", "ed", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


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
