"""Frame geometry: how a source frame maps onto a requested output size (pure arithmetic).

Aspect policies:
- ``pad``: scale to fit inside the output, keep the aspect ratio, fill the border with a value;
- ``crop``: scale to cover the output, keep the aspect ratio, cut the centre out;
- ``stretch``: scale each axis to the output size, ignoring the aspect ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AspectPolicy = Literal["pad", "crop", "stretch"]
ASPECT_POLICIES: tuple[str, ...] = ("pad", "crop", "stretch")


@dataclass(frozen=True)
class Geometry:
    """Scale a ``src`` frame to ``scaled``; then for ``pad`` place it at ``(left, top)`` inside the
    output, for ``crop`` cut the output out of it starting at ``(left, top)``."""

    out_width: int
    out_height: int
    scaled_width: int
    scaled_height: int
    left: int
    top: int
    aspect: str


def parse_size(size: int | tuple[int, int] | str | None) -> tuple[int, int] | None:
    """``448`` -> ``(448, 448)``; ``(w, h)`` or ``"WxH"`` -> ``(w, h)``; ``None`` stays ``None``."""
    if size is None:
        return None
    if isinstance(size, str):
        parts = size.lower().split("x")
        try:
            size = (int(parts[0]), int(parts[1])) if len(parts) == 2 else int(parts[0])
        except ValueError:
            raise ValueError(f"size must look like 448 or 640x360, got {size!r}") from None
    if isinstance(size, int):
        size = (size, size)
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {width}x{height}")
    return width, height


def fit_geometry(src_width: int, src_height: int, out_width: int, out_height: int, aspect: str) -> Geometry:
    """Where a ``src_width x src_height`` frame lands in an ``out_width x out_height`` output."""
    if aspect not in ASPECT_POLICIES:
        raise ValueError(f"unknown aspect policy {aspect!r}; choose one of {', '.join(ASPECT_POLICIES)}")
    if aspect == "stretch":
        return Geometry(out_width, out_height, out_width, out_height, 0, 0, aspect)
    pick = min if aspect == "pad" else max
    scale = pick(out_width / src_width, out_height / src_height)
    # Round, but never below 1 pixel and, for pad, never past the output; for crop, never short of it.
    scaled_w = max(1, round(src_width * scale))
    scaled_h = max(1, round(src_height * scale))
    if aspect == "pad":
        scaled_w, scaled_h = min(scaled_w, out_width), min(scaled_h, out_height)
        return Geometry(out_width, out_height, scaled_w, scaled_h,
                        (out_width - scaled_w) // 2, (out_height - scaled_h) // 2, aspect)
    scaled_w, scaled_h = max(scaled_w, out_width), max(scaled_h, out_height)
    return Geometry(out_width, out_height, scaled_w, scaled_h,
                    (scaled_w - out_width) // 2, (scaled_h - out_height) // 2, aspect)


def place(scaled, out, geometry: Geometry) -> None:
    """Write a scaled RGB array ``(scaled_h, scaled_w, 3)`` into ``out`` ``(out_h, out_w, 3)``
    according to the policy (the border of ``pad`` keeps whatever ``out`` holds)."""
    g = geometry
    if g.aspect == "crop":
        out[...] = scaled[g.top : g.top + g.out_height, g.left : g.left + g.out_width]
    else:
        out[g.top : g.top + g.scaled_height, g.left : g.left + g.scaled_width] = scaled
