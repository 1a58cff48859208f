"""The output buffer: converts decoded frames into a preallocated ``(T, H, W, 3)`` uint8 array.

Resizing happens inside FFmpeg's scaler (``VideoFrame.reformat``) and only for sampled frames;
display rotation and non-square pixels are applied so frames look the way a player shows them.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import av
import numpy as np

from .errors import VideoTooLargeError
from .transforms import Geometry, fit_geometry, place

if TYPE_CHECKING:
    from PIL import Image


class FrameBuffer:
    """Preallocated RGB output for ``count`` frames.

    ``display_size`` is the source frame as shown (after rotation and pixel aspect);
    ``out_size`` ``(width, height)`` resizes with the ``aspect`` policy, ``None`` keeps the display size.
    """

    def __init__(
        self,
        count: int,
        display_size: tuple[int, int],
        out_size: tuple[int, int] | None,
        aspect: str,
        pad_value: int,
        max_output_bytes: int,
        source: str,
    ) -> None:
        self.display_size = display_size
        self.out_size = out_size or display_size
        self.aspect = aspect if out_size else "stretch"
        width, height = self.out_size
        needed = count * width * height * 3
        if needed > max_output_bytes:
            raise VideoTooLargeError(
                source,
                f"{count} frames of {width}x{height} need {needed / 2**20:.0f} MiB, over the "
                f"{max_output_bytes / 2**20:.0f} MiB output budget (lower the frame count or size)",
            )
        shape = (count, height, width, 3)  # (T, H, W, 3)
        # zeros come from calloc: pages are touched only when frames are written
        self.frames = np.zeros(shape, np.uint8) if pad_value == 0 else np.full(shape, pad_value, np.uint8)
        self._geometry: dict[tuple[int, int], Geometry] = {}

    def geometry(self, shown_width: int, shown_height: int) -> Geometry:
        key = (shown_width, shown_height)
        if key not in self._geometry:
            self._geometry[key] = fit_geometry(shown_width, shown_height, *self.out_size, self.aspect)
        return self._geometry[key]

    def put_av(self, slot: int, frame: av.VideoFrame, rotation: int, pixel_aspect: Fraction) -> None:
        """Scale, rotate and store a decoded frame in ``frames[slot]``."""
        shown_w = max(1, round(frame.width * pixel_aspect))
        shown_h = frame.height
        turned = rotation in (90, 270)
        if turned:
            shown_w, shown_h = shown_h, shown_w
        g = self.geometry(shown_w, shown_h)
        width, height = (g.scaled_height, g.scaled_width) if turned else (g.scaled_width, g.scaled_height)
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BICUBIC")
        if rotation:
            rgb = np.rot90(rgb, k=rotation // 90)  # (h, w, 3), counter-clockwise as the player turns it
        place(rgb, self.frames[slot], g)

    def put_image(self, slot: int, image: Image.Image) -> None:
        """Scale (PIL bicubic) and store an RGB still image in ``frames[slot]``."""
        from PIL import Image  # only images need Pillow (see kangaroo.video)

        g = self.geometry(image.width, image.height)
        if (image.width, image.height) != (g.scaled_width, g.scaled_height):
            image = image.resize((g.scaled_width, g.scaled_height), Image.Resampling.BICUBIC)
        place(np.asarray(image.convert("RGB")), self.frames[slot], g)

    def copy(self, dst: int, src: int) -> None:
        self.frames[dst] = self.frames[src]
