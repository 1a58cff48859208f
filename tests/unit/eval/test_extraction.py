"""Answer extraction on a table of real-looking replies, English and Chinese."""

import pytest

from kangaroo.eval import extract_choice, extract_seconds, strict_choice

OPTIONS = ["red circle", "blue square", "green", "red"]

LENIENT = [
    ("B", "B"), ("(B)", "B"), ("B.", "B"), ("b", "B"), ("**B**", "B"), ("（Ｃ）", "C"),
    ("Answer: B", "B"), ("The best answer is B", "B"), ("The answer is (C).", "C"), ("Best option: (D)", "D"),
    ("Option C is correct.", "C"), ("The correct option is D: red", "D"), ("The answer is B, not C.", "B"),
    ("B) blue square", "B"), ("A. red circle", "A"), ("(A) red circle, because it moves", "A"),
    ("C\nExplanation: the green one is the only one left.", "C"),
    ("答案是B", "B"), ("答案：（C）", "C"), ("正确答案是 D", "D"), ("选B", "B"), ("我选择C。", "C"),
    ("blue square", "B"), ("It is the blue square.", "B"), ("The red circle moves.", "A"), ("red", "D"),
    ("I think it is red.", "D"),
    # names no option, or several
    ("", None), ("I don't know", None), ("none of these", None), ("A man is walking", None),
    ("B or C", None), ("It could be A or B", None), ("The answer is E", None), ("red and green", None),
    ("E", None),
]


@pytest.mark.parametrize(("reply", "expected"), LENIENT)
def test_extract_choice(reply, expected):
    assert extract_choice(reply, OPTIONS) == expected


def test_extract_choice_chinese_option_text():
    options = ["红色", "蓝色", "绿色"]
    assert extract_choice("答案是蓝色", options) == "B"
    assert extract_choice("蓝色的圆", options) == "B"
    assert extract_choice("红色和蓝色", options) is None


def test_letters_beyond_the_options_are_ignored():
    assert extract_choice("E", ["a", "b", "c", "d", "e"]) == "E"
    assert extract_choice("E", ["a", "b"]) is None


@pytest.mark.parametrize(("reply", "expected"), [
    ("B", "B"), ("(B) blue square", "B"), ("B.", "B"), ("B)", "B"), ("A.", "A"), ("(A) man", "A"),
    ("blue square (B)", "B"),  # the form "<option text> (<letter>)"
    ("A man", None), ("B or C", None), ("C is wrong", None),  # the article; candidates; ruled out
    ("The answer is B", None), ("答案是B", None), ("blue square", None), ("E", None), ("", None),
])
def test_strict_choice_is_the_first_word_rule(reply, expected):
    assert strict_choice(reply, 4) == expected


@pytest.mark.parametrize(("reply", "expected"), [
    ("It happens at 3.09 seconds.", 3.09), ("At 12 s", 12.0), ("From 2 to 4.5 seconds", (2.0, 4.5)),
    ("Between 1.2s and 3.4s", (1.2, 3.4)), ("2-4.5秒", (2.0, 4.5)), ("在第3.5秒", 3.5), ("at 1:05", 65.0),
    ("no idea", None), ("", None),
])
def test_extract_seconds(reply, expected):
    assert extract_seconds(reply) == expected
