"""Caption refinement: eq. 2's maximum sentence-pair word IoU, in English and Chinese."""

from __future__ import annotations

import pytest

from kangaroo.curation.steps.caption_refinement import (
    CaptionRepetitionFilter,
    caption_of,
    caption_similarity,
    sentence_words,
    split_sentences,
)


class RecordingContext:
    def __init__(self) -> None:
        self.drops: list[tuple[str, str, float | None]] = []
        self.measures: list[tuple[str, float]] = []

    def drop(self, record, reason, value=None, detail=""):
        self.drops.append((record["id"], reason, value))

    def quarantine(self, record, error):  # pragma: no cover - never called by this step
        raise AssertionError("no video is read")

    def measured(self, name, value):
        self.measures.append((name, value))


def captioned(record_id: str, caption, question: str = "Describe the video.") -> dict:
    return {"id": record_id, "video": "v.mp4",
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": caption}]}


def test_split_sentences_english_chinese_and_newlines():
    text = "He is 1.8 m tall. Wow!! Really?\nYes; fine...\n一个男人在做饭。他加盐！真的吗？是；\n\n"
    assert split_sentences(text) == ["He is 1.8 m tall", "Wow", "Really", "Yes", "fine",
                                     "一个男人在做饭", "他加盐", "真的吗", "是"]
    assert split_sentences("  ... !  ") == []
    assert split_sentences("no terminator") == ["no terminator"]


def test_english_words_are_lowercased_without_punctuation():
    assert sentence_words("The man's dog, a Big dog, runs") == {"the", "man's", "dog", "a", "big", "runs"}


def test_chinese_words_come_from_jieba_without_punctuation():
    words = sentence_words("一个男人在厨房里做饭，他很开心")
    assert {"男人", "厨房", "做饭"} <= words
    assert "，" not in words and all(w.strip() for w in words)


def test_english_iou_exact_values():
    # {a, man, stands, in, kitchen} vs the same plus {near, stove}: 5 / 7
    text = "A man stands in a kitchen. A man stands in a kitchen near a stove."
    assert caption_similarity(text) == pytest.approx(5 / 7)
    # {the, man, adds, salt} vs {the, man, stirs, pot}: 2 / 6
    assert caption_similarity("The man adds salt. The man stirs the pot.") == pytest.approx(1 / 3)
    # the maximum over all three pairs: (1, 3) share {a, red, ball} of {a, red, ball, rolls, bounces}
    text = "A red ball rolls. Then it stops! A red ball bounces?"
    assert caption_similarity(text) == pytest.approx(3 / 5)
    assert caption_similarity("Cats sleep. Dogs bark. Birds sing.") == 0.0


def test_chinese_iou_exact_values():
    first, second = "男人在厨房做饭", "男人在厨房洗碗"
    a, b = sentence_words(first), sentence_words(second)
    expected = len(a & b) / len(a | b)
    assert 0 < expected < 1
    assert caption_similarity(f"{first}。{second}。") == pytest.approx(expected)
    assert caption_similarity("男人在厨房做饭。男人在厨房做饭！") == 1.0


def test_repetitive_captions_score_higher_than_varied_ones():
    repetitive_en = ("A woman is cooking in the kitchen. A woman is cooking food in the kitchen. "
                     "A woman is cooking in a kitchen.")
    varied_en = "A woman chops onions on a board. She then fries them in a pan. Finally the dish is served."
    repetitive_zh = "一个女人在厨房里做饭。一个女人在厨房里做饭。她在厨房里做饭。"
    varied_zh = "一个女人在切洋葱。然后她把洋葱放进锅里炒。最后菜被端上了桌。"
    assert caption_similarity(repetitive_en) > 0.6 > caption_similarity(varied_en)
    assert caption_similarity(repetitive_zh) > 0.6 > caption_similarity(varied_zh)


def test_fewer_than_min_sentences_scores_zero():
    assert caption_similarity("One sentence only.") == 0.0
    assert caption_similarity("Same words. Same words.", min_sentences=3) == 0.0
    assert caption_similarity("Same words. Same words.") == 1.0


def test_caption_is_the_last_assistant_message():
    parts = [{"type": "text", "text": "Part one."}, {"type": "video"}, {"type": "text", "text": "Two."}]
    record = {"messages": [{"role": "assistant", "content": "old"}, {"role": "user", "content": "again"},
                           {"role": "assistant", "content": parts}]}
    assert caption_of(record) == "Part one.\nTwo."
    assert caption_of({"id": "x"}) is None
    assert caption_of({"messages": [{"role": "user", "content": "hi"}]}) is None


def test_filter_drops_repetitive_captions_and_keeps_the_rest():
    step = CaptionRepetitionFilter(threshold=0.6)
    assert (step.name, step.cost) == ("caption_refinement", 0)
    records = [
        captioned("repeat", "A dog runs on the grass. A dog runs on the green grass."),  # 6/7
        captioned("varied", "A dog runs on the grass. It catches a red ball."),
        captioned("zh", "一只狗在草地上跑。一只狗在草地上跑。"),
        {"id": "uncaptioned", "video": "v.mp4"},
    ]
    ctx = RecordingContext()
    kept = list(step.run(iter(records), ctx))
    assert [r["id"] for r in kept] == ["varied", "uncaptioned"]
    assert [(i, r) for i, r, _ in ctx.drops] == [("repeat", "caption_repetition"),
                                                 ("zh", "caption_repetition")]
    assert ctx.drops[0][2] == pytest.approx(6 / 7) and ctx.drops[1][2] == 1.0
    assert kept[1]["meta"]["measures"]["caption_refinement"] == 0.0
    assert len(ctx.measures) == 4


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="threshold"):
        CaptionRepetitionFilter(threshold=1.5)
    with pytest.raises(ValueError, match="min_sentences"):
        CaptionRepetitionFilter(min_sentences=1)
