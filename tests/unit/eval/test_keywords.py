"""Keyword recall reads which of the world's colours, shapes, directions and numbers a reply names."""

import pytest

from kangaroo.eval.keywords import find_keywords, keyword_recall
from kangaroo.synth.language import content_words

EN, ZH = content_words("en"), content_words("zh")


def test_english_keywords_are_whole_words_in_any_accepted_form():
    reference = "A yellow star and two purple squares; at 1.5 seconds the star heads upward."
    keywords = find_keywords(reference, EN)
    assert [k[0] for k in keywords] == ["yellow", "purple", "square", "star", "up", "two"]  # not 1 or 5 from 1.5
    recall = keyword_recall("The STAR moves up past 2 purple squares.", keywords)
    assert recall.found == ("purple", "square", "star", "up", "two") and recall.missing == ("yellow",)
    assert recall.recall == pytest.approx(5 / 6)
    # 'star' is not in 'start', 'red' not in 'redraw', 'up' not in 'upper'
    assert keyword_recall("It starts to redraw the upper part.", find_keywords("a red star moving up", EN)).recall == 0


def test_chinese_numbers_need_their_measure_word():
    keywords = find_keywords("在第5.81秒，一个红色三角形出现了，三个圆形向上移动。", ZH)
    assert [k[0] for k in keywords] == ["红色", "圆形", "三角形", "向上", "三个"]  # 一个 is "a", 三角形 a shape
    assert keyword_recall("三个红色的圆形往上走，还有三角形", keywords).missing == ()


def test_a_reference_without_keywords_cannot_be_scored():
    assert find_keywords("It stops.", EN) == []
    with pytest.raises(ValueError, match="at least one keyword"):
        keyword_recall("It stops.", [])
