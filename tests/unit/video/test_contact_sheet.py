"""Contact sheets: thumbnails in a row-major grid, the time written under each, timestamp format."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kangaroo.video.contact_sheet import BACKGROUND, format_timestamp, make_contact_sheet

COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]


def solid_frames(height: int = 90, width: int = 160) -> np.ndarray:
    """One solid-colour frame per entry of COLORS: uint8 (5, H, W, 3)."""
    return np.stack([np.full((height, width, 3), c, dtype=np.uint8) for c in COLORS])


def bbox_of(sheet: np.ndarray, color: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the pixels of exactly ``color`` (a thumbnail's solid interior)."""
    ys, xs = np.nonzero(np.all(sheet == color, axis=-1))
    assert len(xs), f"colour {color} not on the sheet"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00:00.000"),
        (83.456, "00:01:23.456"),
        (59.9996, "00:01:00.000"),  # rounding carries into the minutes
        (3 * 3600 + 4 * 60 + 5.25, "03:04:05.250"),
        (100 * 3600 + 0.001, "100:00:00.001"),
    ],
)
def test_format_timestamp(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf])
def test_format_timestamp_rejects_negative_and_non_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        format_timestamp(bad)


@pytest.mark.parametrize(("columns", "grid"), [(None, (3, 2)), (2, (2, 3)), (5, (5, 1)), (9, (5, 1))])
def test_thumbnails_fill_a_row_major_grid(columns: int | None, grid: tuple[int, int]) -> None:
    sheet = np.asarray(make_contact_sheet(solid_frames(), np.arange(5.0), columns=columns, thumb_width=120))
    boxes = [bbox_of(sheet, c) for c in COLORS]
    for x0, y0, x1, y1 in boxes:
        assert (x1 - x0, y1 - y0) == (120, 68)  # 160x90 scaled to width 120 keeps the aspect ratio
    cols, rows = grid
    xs = sorted({b[0] for b in boxes})
    ys = sorted({b[1] for b in boxes})
    assert (len(xs), len(ys)) == (cols, rows)
    for i, (x0, y0, _, _) in enumerate(boxes):  # frame i sits at row i // cols, column i % cols
        assert (xs.index(x0), ys.index(y0)) == (i % cols, i // cols)


def test_time_is_written_under_each_thumbnail() -> None:
    frames = solid_frames()[:2]
    a = np.asarray(make_contact_sheet(frames, [1.0, 2.0], columns=2))
    b = np.asarray(make_contact_sheet(frames, [1.0, 7.5], columns=2))
    assert a.shape == b.shape
    x0, _, x1, y1 = bbox_of(a, COLORS[0])
    first_caption = a[y1:, x0:x1]
    assert np.any(first_caption != BACKGROUND), "no text under the first thumbnail"
    differs = np.nonzero(np.any(a != b, axis=-1))
    x0b, _, _, y1b = bbox_of(a, COLORS[1])
    assert differs[0].min() >= y1b and differs[1].min() >= x0b, "only the second caption may change"
    assert np.array_equal(a[:, :x1], b[:, :x1])


def test_labels_add_a_second_caption_line() -> None:
    frames = solid_frames()[:2]
    plain = np.asarray(make_contact_sheet(frames, [0.0, 1.0], columns=2))
    labelled = np.asarray(make_contact_sheet(frames, [0.0, 1.0], columns=2, labels=["first", "second"]))
    assert labelled.shape[1] == plain.shape[1] and labelled.shape[0] > plain.shape[0]
    x0, _, x1, y1 = bbox_of(labelled, COLORS[0])
    extra = labelled.shape[0] - plain.shape[0]
    label_rows = labelled[y1 + extra : y1 + 2 * extra, x0:x1]
    assert np.any(label_rows != BACKGROUND), "no label text under the time"


def test_rejects_mismatched_or_malformed_input() -> None:
    frames = solid_frames()
    with pytest.raises(ValueError, match="timestamps"):
        make_contact_sheet(frames, [0.0, 1.0])
    with pytest.raises(ValueError, match="labels"):
        make_contact_sheet(frames, np.arange(5.0), labels=["a"])
    with pytest.raises(ValueError, match="uint8"):
        make_contact_sheet(frames.astype(np.float32), np.arange(5.0))
    with pytest.raises(ValueError, match="non-empty"):
        make_contact_sheet(frames[:0], [])
