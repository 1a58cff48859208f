"""Box geometry for the coverage filters: the exact area of a union of rectangles, OCR quads to boxes.

A box is ``(x0, y0, x1, y1)`` in pixels, ``x0 <= x1`` and ``y0 <= y1`` (a box with no width or
no height covers nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Box = tuple[float, float, float, float]


def union_area(boxes: Iterable[Sequence[float]] | np.ndarray) -> float:
    """The area covered by the union of axis-aligned ``boxes`` (overlaps counted once).

    Exact, by coordinate compression: the boxes' edges cut the plane into a grid of cells, each
    either inside some box or not. ``O(n^3)`` for ``n`` boxes (a few hundred take milliseconds).
    Raises ValueError when ``boxes`` is not ``(N, 4)``.
    """
    array = _as_boxes(boxes)
    array = array[(array[:, 2] > array[:, 0]) & (array[:, 3] > array[:, 1])]  # (N', 4): non-empty boxes
    if len(array) == 0:
        return 0.0
    xs = np.unique(array[:, [0, 2]])  # (X,) sorted edges
    ys = np.unique(array[:, [1, 3]])  # (Y,)
    covered = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)  # (Y - 1, X - 1) grid cells
    col0, col1 = np.searchsorted(xs, array[:, 0]), np.searchsorted(xs, array[:, 2])  # (N',) each
    row0, row1 = np.searchsorted(ys, array[:, 1]), np.searchsorted(ys, array[:, 3])
    for r0, r1, c0, c1 in zip(row0, row1, col0, col1, strict=True):
        covered[r0:r1, c0:c1] = True
    cell_area = np.diff(ys)[:, None] * np.diff(xs)[None, :]  # (Y - 1, X - 1)
    return float(cell_area[covered].sum())


def quad_to_box(points: Sequence[Sequence[float]] | np.ndarray, width: float, height: float) -> Box:
    """The axis-aligned bounding box of an OCR polygon (``(4, 2)`` points ``(x, y)``, or any
    ``(K, 2)``), clipped to a ``width`` x ``height`` frame. Raises ValueError on a bad shape."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise ValueError(f"points must be (K, 2) as (x, y), got shape {array.shape}")
    x0, y0 = np.clip(array.min(axis=0), 0.0, (width, height))  # top-left, inside the frame
    x1, y1 = np.clip(array.max(axis=0), 0.0, (width, height))  # bottom-right
    return float(x0), float(y0), float(x1), float(y1)


def coverage(boxes: Iterable[Sequence[float]] | np.ndarray, width: float, height: float) -> float:
    """The fraction of a ``width`` x ``height`` frame covered by the union of ``boxes`` (clipped to
    the frame), in ``[0, 1]``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    clipped = np.clip(_as_boxes(boxes), 0.0, [width, height, width, height])  # (N, 4)
    return union_area(clipped) / (width * height)


def _as_boxes(boxes: Iterable[Sequence[float]] | np.ndarray) -> np.ndarray:
    """``boxes`` as float64 ``(N, 4)`` (``(0, 4)`` when empty); ValueError on a bad shape or value."""
    array = np.asarray(boxes if isinstance(boxes, np.ndarray) else list(boxes), dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 4))
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) as (x0, y0, x1, y1), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("boxes must have finite coordinates")
    return array
