"""Word targets of the world-align stage: which words each visual token must say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kangaroo.model.builders import build_world_tokenizer, kangaroo_mini
from kangaroo.processing import KangarooProcessor
from kangaroo.synth.supervision import COLOUR_CLASSES, SHAPE_CLASSES
from kangaroo.training.world_align import (
    OBJECT_WORDS,
    PLACE_WORDS,
    TIME_WORDS,
    WORDS,
    _loss,
    alignment_score,
    cell_words,
    word_vectors,
    world_clip,
)


def words_of(row: np.ndarray) -> dict[str, float]:
    return {w: round(float(v), 3) for w, v in zip(WORDS, row, strict=True) if v}


def test_cell_words_name_the_colours_and_shapes_of_each_cell_and_where_it_is() -> None:
    colours, shapes = np.zeros((3, 8, 8), np.int64), np.zeros((3, 8, 8), np.int64)
    colours[0, 0, 7], shapes[0, 0, 7] = COLOUR_CLASSES.index("green"), SHAPE_CLASSES.index("triangle")  # top right
    colours[2, 5, 1], shapes[2, 5, 1] = COLOUR_CLASSES.index("red"), SHAPE_CLASSES.index("circle")  # 3rd frame
    cells = cell_words(colours, shapes, np.array([0.5, 1.0, 1.5]), (2, 2, 2))
    assert cells.shape == (2 * 4 * 4, len(WORDS))  # 3 frames padded to 4: 2 groups of 4 x 4 cells
    objects = cells[:, : len(OBJECT_WORDS) + len(PLACE_WORDS)]
    assert np.nonzero(objects.sum(-1))[0].tolist() == [3, 16 + 2 * 4]  # group 0 cell (0, 3); group 1 cell (2, 0)
    assert words_of(cells[3]) == {"green": 1.0, "triangle": 1.0, "left": 0.125, "right": 0.875, "up": 0.875,
                                  "down": 0.125, "0": 1.0}  # frames at 0.5 and 1.0 s: 0.75 s
    assert words_of(cells[24]) == {"red": 1.0, "circle": 1.0, "left": 0.875, "right": 0.125, "up": 0.375,
                                   "down": 0.625, "1": 1.0}  # 1.5 s and its repeat


def test_two_objects_in_one_cell_are_both_said_and_a_repeated_last_frame_keeps_them() -> None:
    colours, shapes = np.zeros((1, 4, 4), np.int64), np.zeros((1, 4, 4), np.int64)
    colours[0, 0, 0], shapes[0, 0, 0] = 1, 1
    colours[0, 1, 1], shapes[0, 1, 1] = 2, 2
    cells = cell_words(colours, shapes, np.array([7.9]), (2, 2, 2))  # one frame: padded by itself
    assert cells.shape == (4, len(WORDS))
    assert {w for w, v in words_of(cells[0]).items() if w in OBJECT_WORDS} == {
        COLOUR_CLASSES[1], COLOUR_CLASSES[2], SHAPE_CLASSES[1], SHAPE_CLASSES[2]}
    assert all(words_of(cell) == {"7": 1.0} for cell in cells[1:])  # background cells say only when


def test_every_cell_says_its_whole_second_until_ten_seconds() -> None:
    colours = shapes = np.zeros((6, 2, 2), np.int64)
    cells = cell_words(colours, shapes, np.array([0.2, 0.9, 4.6, 5.3, 10.0, 10.5]), (2, 2, 2))
    assert cells.shape == (3, len(WORDS))
    assert [words_of(cell) for cell in cells] == [{"0": 1.0}, {"4": 1.0}, {}]  # 0.55 s, 4.95 s, 10.25 s: no word


def test_time_words_are_the_digits_a_question_writes() -> None:
    model, tokenizer = kangaroo_mini(seed=0), build_world_tokenizer()
    vectors = word_vectors(model, tokenizer).detach()
    table = model.get_input_embeddings().weight.detach()
    digit = tokenizer(" at 5.52 seconds", add_special_tokens=False)["input_ids"][2]  # ' at', ' ', '5', ...
    assert tokenizer.decode([digit]) == "5"
    assert torch.equal(vectors[WORDS.index("5")], table[digit])
    assert tuple("0123456789") == TIME_WORDS


def test_the_loss_is_zero_exactly_at_the_targets_and_the_score_reads_them_back() -> None:
    model = kangaroo_mini(seed=0)
    tokenizer = build_world_tokenizer()
    vectors = word_vectors(model, tokenizer).detach()
    assert vectors.shape == (len(WORDS), model.config.text_config.hidden_size)
    assert len(set(PLACE_WORDS) | set(OBJECT_WORDS) | set(TIME_WORDS)) == len(WORDS)
    rng = np.random.default_rng(0)
    processor = KangarooProcessor(tokenizer, model.config.layout)
    clip = world_clip(rng, processor, 16, tuple(model.patchify.kernel))
    assert clip.pixels.shape == (16, 3, 128, 128) and clip.words.shape == (8 * 16, len(WORDS))
    assert clip.words[:, : len(OBJECT_WORDS)].sum() > 0  # the scene has objects somewhere
    perfect = 4.0 * clip.words @ vectors
    assert float(_loss(perfect, clip.words, vectors)) == pytest.approx(0.0, abs=1e-9)
    assert float(_loss(torch.zeros_like(perfect), clip.words, vectors)) > 1.0


def test_a_random_projector_says_nothing_right() -> None:
    model = kangaroo_mini(seed=0)
    processor = KangarooProcessor(build_world_tokenizer(), model.config.layout)
    score = alignment_score(model, processor, word_vectors(model, processor.tokenizer).detach(), clips=2)
    assert score.precision < 0.2
