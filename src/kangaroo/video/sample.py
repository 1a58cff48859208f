"""A small deterministic sample video that kangaroo renders itself (for the demo and tests).

Coloured shapes move across a gradient; the frame's presentation time is burned into the top-left
corner in the same ``HH:MM:SS.mmm`` format the contact sheet writes under each thumbnail, so a
user can check by eye that every label matches its frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kangaroo.video.contact_sheet import format_timestamp
from kangaroo.video.writer import VideoWriter

H264_SUFFIXES = (".mp4", ".mov", ".mkv")


def make_sample_video(
    path: str | os.PathLike[str],
    duration: float = 12.0,
    fps: float = 24,
    size: tuple[int, int] = (640, 360),
) -> Path:
    """Render ``duration`` seconds at ``fps`` and ``size = (width, height)`` to an H.264 file at ``path``
    (``.mp4``, ``.mov`` or ``.mkv``).

    Frame ``i`` is presented at ``i / fps`` seconds and shows that time. The stream has a keyframe
    every 2 seconds and B-frames, like a typical web video. The file appears atomically
    (`VideoWriter`). Raises ``ValueError`` on a bad argument.
    """
    path = Path(path)
    if path.suffix.lower() not in H264_SUFFIXES:
        raise ValueError(f"the sample video is H.264: name it {' / '.join(H264_SUFFIXES)}, got {path.name!r}")
    width, height = size
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ValueError(f"size must be even and at least 64x64 (H.264, 4:2:0), got {width}x{height}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    count = round(duration * fps)
    if count < 1:
        raise ValueError(f"duration {duration} s at {fps} fps gives no frames")

    renderer = _SampleRenderer(width, height, count)
    gop = max(1, round(2 * fps))
    # "veryfast" keeps the demo quick; the stream still has B-frames and a regular GOP.
    with VideoWriter(path, width, height, fps, gop=gop, bframes=2, crf=23, options={"preset": "veryfast"}) as writer:
        for i in range(count):
            t = i / fps
            writer.write(renderer.render(i, t), timestamp=t)
    return path


class _SampleRenderer:
    """Draws frame ``i`` of ``count``: gradient, moving shapes, progress bar, burned-in clock."""

    def __init__(self, width: int, height: int, count: int) -> None:
        self.width, self.height, self.count = width, height, count
        x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]  # (1, W, 1)
        y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]  # (H, 1, 1)
        left, right = np.array([20, 40, 90], np.float32), np.array([90, 30, 110], np.float32)
        self.background = ((left * (1 - x) + right * x) * (1.0 - 0.4 * y)).astype(np.uint8)  # (H, W, 3)
        self.radius = max(6, height // 10)
        self.font = ImageFont.load_default(size=max(12, height // 9))
        self.small_font = ImageFont.load_default(size=max(10, height // 22))

    def render(self, i: int, t: float) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)`` for frame ``i`` presented at ``t`` seconds."""
        frame = self.background.copy()
        w, h, r = self.width, self.height, self.radius
        phase = i / max(1, self.count - 1)  # 0 -> 1 over the video
        # A circle sweeps left to right, a square bounces up and down, a diamond sweeps right to left.
        self._disc(frame, round(r + phase * (w - 2 * r)), round(h * 0.55), r, (230, 70, 60))
        bounce = abs(((2 * phase * 3) % 2) - 1)  # triangle wave, 3 bounces
        self._square(frame, round(w * 0.5), round(r + bounce * (h - 2 * r)), r, (80, 200, 90))
        self._diamond(frame, round(w - r - phase * (w - 2 * r)), round(h * 0.8), r, (240, 200, 50))
        frame[h - max(2, h // 60) :, : round(w * (i + 1) / self.count)] = (220, 220, 220)  # progress bar
        self._clock(frame, t, i)
        return frame

    @staticmethod
    def _disc(frame: np.ndarray, cx: int, cy: int, r: int, color: tuple[int, int, int]) -> None:
        ys, xs = np.ogrid[-r : r + 1, -r : r + 1]
        _paint(frame, cx - r, cy - r, xs * xs + ys * ys <= r * r, color)

    @staticmethod
    def _square(frame: np.ndarray, cx: int, cy: int, r: int, color: tuple[int, int, int]) -> None:
        _paint(frame, cx - r, cy - r, np.ones((2 * r + 1, 2 * r + 1), dtype=bool), color)

    @staticmethod
    def _diamond(frame: np.ndarray, cx: int, cy: int, r: int, color: tuple[int, int, int]) -> None:
        ys, xs = np.ogrid[-r : r + 1, -r : r + 1]
        _paint(frame, cx - r, cy - r, np.abs(xs) + np.abs(ys) <= r, color)

    def _clock(self, frame: np.ndarray, t: float, i: int) -> None:
        """Burn ``HH:MM:SS.mmm`` (and the frame number) into the top-left corner on a dark box."""
        text, sub = format_timestamp(t), f"frame {i}"
        pad = max(4, self.height // 60)
        text_box = self.font.getbbox(text)
        sub_box = self.small_font.getbbox(sub)
        box_w = min(self.width, max(text_box[2], sub_box[2]) + 2 * pad)
        box_h = min(self.height, text_box[3] + sub_box[3] + 3 * pad)
        mask = Image.new("L", (box_w, box_h), 0)
        draw = ImageDraw.Draw(mask)
        draw.text((pad, pad), text, fill=255, font=self.font)
        draw.text((pad, text_box[3] + 2 * pad), sub, fill=200, font=self.small_font)
        alpha = np.asarray(mask, dtype=np.float32)[:, :, None] / 255.0  # (box_h, box_w, 1)
        region = frame[:box_h, :box_w].astype(np.float32) * 0.3  # darken behind the text
        frame[:box_h, :box_w] = (region * (1 - alpha) + 255.0 * alpha).astype(np.uint8)


def _paint(frame: np.ndarray, x0: int, y0: int, mask: np.ndarray, color: tuple[int, int, int]) -> None:
    """Set ``frame`` pixels under ``mask`` (placed with its top-left at ``(x0, y0)``) to ``color``,
    clipping at the frame's edges."""
    h, w = frame.shape[:2]
    mh, mw = mask.shape
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + mw, w), min(y0 + mh, h)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    sub = mask[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    frame[fy0:fy1, fx0:fx1][sub] = color
