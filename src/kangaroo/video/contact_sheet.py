"""Contact sheets: sampled frames as one image, each thumbnail captioned with its timestamp."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (24, 24, 24)
TEXT_COLOR = (240, 240, 240)
LABEL_COLOR = (170, 170, 170)


def format_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` for a time in seconds, rounded to the millisecond (``83.4561`` -> ``00:01:23.456``).

    Raises ``ValueError`` for a negative or non-finite time.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timestamp must be a finite number >= 0, got {seconds}")
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def make_contact_sheet(
    frames: np.ndarray,
    timestamps: Sequence[float] | np.ndarray,
    columns: int | None = None,
    thumb_width: int = 240,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """A grid of thumbnails, the time (`format_timestamp`) written under each one.

    frames:      uint8 ``(T, H, W, 3)`` RGB, in display order (left to right, top to bottom).
    timestamps:  ``(T,)`` seconds, one per frame.
    columns:     thumbnails per row; default ``ceil(sqrt(T))``.
    thumb_width: thumbnail width in pixels; the height keeps each frame's aspect ratio.
    labels:      optional ``T`` extra captions, drawn on a second line under the time.

    Returns an RGB image. Raises ``ValueError`` on mismatched or malformed inputs.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    count, height, width = frames.shape[:3]
    if count == 0 or height == 0 or width == 0:
        raise ValueError(f"need at least one non-empty frame, got shape {frames.shape}")
    times = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    if len(times) != count:
        raise ValueError(f"got {count} frames but {len(times)} timestamps")
    if labels is not None and len(labels) != count:
        raise ValueError(f"got {count} frames but {len(labels)} labels")
    if columns is None:
        columns = math.ceil(math.sqrt(count))
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    if thumb_width < 80:
        raise ValueError(f"thumb_width must be >= 80 (room for the time), got {thumb_width}")
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    captions = [format_timestamp(float(t)) for t in times]

    thumb_height = max(1, round(height * thumb_width / width))
    font = ImageFont.load_default(size=max(10, thumb_width // 14))
    line_height = font.getbbox("0:9Ag")[3] + 4
    gap = max(4, thumb_width // 30)
    caption_height = line_height * (1 if labels is None else 2)
    cell_width, cell_height = thumb_width + gap, thumb_height + caption_height + gap

    sheet = Image.new("RGB", (columns * cell_width + gap, rows * cell_height + gap), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i in range(count):
        x = gap + (i % columns) * cell_width
        y = gap + (i // columns) * cell_height
        thumb = Image.fromarray(frames[i]).resize((thumb_width, thumb_height), Image.Resampling.BILINEAR)
        sheet.paste(thumb, (x, y))
        text_y = y + thumb_height + 2
        draw.text((x, text_y), captions[i], fill=TEXT_COLOR, font=font)
        if labels is not None:
            draw.text((x, text_y + line_height), labels[i], fill=LABEL_COLOR, font=font)
    return sheet
