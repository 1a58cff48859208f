"""Answer extraction on a corpus of replies as models write them (tests/data/choice_replies.yaml)."""

from pathlib import Path

import pytest
import yaml

from kangaroo.eval import extract_choice, strict_choice

CORPUS = yaml.safe_load((Path(__file__).parents[2] / "data" / "choice_replies.yaml").read_text(encoding="utf-8"))
OPTION_SETS = CORPUS["option_sets"]
CASES = [(reply, OPTION_SETS[name], lenient, strict) for reply, name, lenient, strict in CORPUS["cases"]]


def test_the_corpus_is_broad():
    replies = [case[0] for case in CASES]
    assert len({(reply, name) for reply, name, _, _ in CORPUS["cases"]}) == len(replies) >= 150
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in reply) for reply in replies) >= 40  # Chinese
    assert sum(case[2] is None for case in CASES) >= 30  # replies that must stay unparsed


@pytest.mark.parametrize(("reply", "options", "lenient", "strict"), CASES)
def test_each_reply_reads_as_expected(reply, options, lenient, strict):
    assert (extract_choice(reply, options), strict_choice(reply, len(options))) == (lenient, strict)


def test_lenient_accepts_everything_strict_accepts():
    """Over the whole corpus: where strict reads a letter, lenient reads the same one (lenient
    accuracy can never fall below strict accuracy)."""
    disagree = [(reply, strict_choice(reply, len(options)), extract_choice(reply, options))
                for reply, options, _, _ in CASES
                if strict_choice(reply, len(options)) not in (None, extract_choice(reply, options))]
    assert disagree == []
