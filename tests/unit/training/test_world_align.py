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
    cells = cell_words(colours, shapes, (2, 2, 2))
    assert cells.shape == (2 * 4 * 4, len(WORDS))  # 3 frames padded to 4: 2 groups of 4 x 4 cells
    assert np.nonzero(cells.sum(-1))[0].tolist() == [3, 16 + 2 * 4]  # group 0 cell (0, 3); group 1 cell (2, 0)
    assert words_of(cells[3]) == {"green": 1.0, "triangle": 1.0, "left": 0.125, "right": 0.875, "up": 0.875,
                                  "down": 0.125}
    assert words_of(cells[24]) == {"red": 1.0, "circle": 1.0, "left": 0.875, "right": 0.125, "up": 0.375,
                                   "down": 0.625}


def test_two_objects_in_one_cell_are_both_said_and_a_repeated_last_frame_keeps_them() -> None:
    colours, shapes = np.zeros((1, 4, 4), np.int64), np.zeros((1, 4, 4), np.int64)
    colours[0, 0, 0], shapes[0, 0, 0] = 1, 1
    colours[0, 1, 1], shapes[0, 1, 1] = 2, 2
    cells = cell_words(colours, shapes, (2, 2, 2))  # one frame: padded by itself
    assert cells.shape == (4, len(WORDS))
    assert {w for w, v in words_of(cells[0]).items() if w in OBJECT_WORDS} == {
        COLOUR_CLASSES[1], COLOUR_CLASSES[2], SHAPE_CLASSES[1], SHAPE_CLASSES[2]}
    assert not cells[1:].any()  # background cells say nothing, not even where


def test_the_loss_is_zero_exactly_at_the_targets_and_the_score_reads_them_back() -> None:
    model = kangaroo_mini(seed=0)
    tokenizer = build_world_tokenizer()
    vectors = word_vectors(model, tokenizer).detach()
    assert vectors.shape == (len(WORDS), model.config.text_config.hidden_size)
    assert len(set(PLACE_WORDS) | set(OBJECT_WORDS)) == len(WORDS)
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
