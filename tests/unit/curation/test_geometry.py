"""Exact union area of rectangles, OCR quads to boxes, frame coverage."""

from __future__ import annotations

import numpy as np
import pytest

from kangaroo.curation.geometry import coverage, quad_to_box, union_area


@pytest.mark.parametrize(
    ("boxes", "area"),
    [
        ([(0, 0, 2, 2), (1, 1, 3, 3)], 7.0),  # overlapping: 4 + 4 - 1
        ([(0, 0, 10, 10), (2, 2, 3, 3)], 100.0),  # nested
        ([(0, 0, 1, 1), (5, 5, 7, 8)], 7.0),  # disjoint: 1 + 6
        ([(0, 0, 1, 1), (1, 0, 2, 1)], 2.0),  # touching along an edge
        ([(0, 0, 1, 1), (1, 1, 2, 2)], 2.0),  # touching at a corner
        ([(0, 0, 3, 1), (0, 0, 3, 1), (0, 0, 3, 1)], 3.0),  # duplicates count once
        ([(0, 0, 4, 1), (0, 0, 1, 4)], 7.0),  # a cross-shaped L
        ([(0.5, 0.5, 1.5, 2.0)], 1.5),  # fractional coordinates
        ([(0, 0, 0, 5), (2, 2, 5, 2)], 0.0),  # zero width / zero height
        ([], 0.0),  # empty
    ],
)
def test_union_area_cases(boxes: list[tuple[float, ...]], area: float) -> None:
    assert union_area(boxes) == pytest.approx(area)


def test_union_area_matches_a_pixel_count_on_random_integer_boxes() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 12))
        corners = rng.integers(0, 40, size=(n, 2, 2))  # (n, corner, xy)
        lo, hi = corners.min(axis=1), corners.max(axis=1)  # (n, 2) each
        boxes = np.concatenate([lo, hi], axis=1)  # (n, 4): x0, y0, x1, y1
        mask = np.zeros((40, 40), dtype=bool)  # (y, x) unit pixels
        for x0, y0, x1, y1 in boxes:
            mask[y0:y1, x0:x1] = True
        assert union_area(boxes) == float(mask.sum())


def test_union_area_takes_arrays_and_generators() -> None:
    boxes = np.array([[0, 0, 2, 2], [1, 1, 3, 3]], dtype=np.float32)
    assert union_area(boxes) == 7.0
    assert union_area(tuple(b) for b in boxes) == 7.0


@pytest.mark.parametrize("boxes", [[(0, 0, 1)], np.zeros((2, 2, 4)), [(0, 0, float("nan"), 1)]])
def test_union_area_rejects_bad_boxes(boxes: object) -> None:
    with pytest.raises(ValueError, match="boxes must"):
        union_area(boxes)  # type: ignore[arg-type]


def test_quad_to_box_bounds_a_rotated_quad() -> None:
    quad = [(10, 5), (30, 8), (29, 20), (9, 17)]
    assert quad_to_box(quad, 100, 50) == (9.0, 5.0, 30.0, 20.0)


def test_quad_to_box_clips_to_the_frame() -> None:
    quad = np.array([[-4.5, -2.0], [120.0, -1.0], [121.0, 60.0], [-3.0, 58.0]])
    assert quad_to_box(quad, 100, 50) == (0.0, 0.0, 100.0, 50.0)


@pytest.mark.parametrize("points", [[], [1, 2, 3, 4], [(1, 2, 3)]])
def test_quad_to_box_rejects_bad_points(points: object) -> None:
    with pytest.raises(ValueError, match="points must"):
        quad_to_box(points, 10, 10)  # type: ignore[arg-type]


def test_coverage_clips_boxes_to_the_frame_and_counts_overlaps_once() -> None:
    boxes = [(-10, -10, 10, 10), (5, 5, 15, 10), (90, 40, 200, 200)]  # 100 + 50 - 25 + 100 inside
    assert coverage(boxes, 100, 50) == pytest.approx(225 / 5000)
    assert coverage([], 100, 50) == 0.0
    assert coverage([(0, 0, 100, 50), (10, 10, 20, 20)], 100, 50) == 1.0
    with pytest.raises(ValueError, match="frame size"):
        coverage(boxes, 0, 50)
