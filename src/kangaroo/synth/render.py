"""Draw a scene at any time and write it to a video or an image.

A frame is the shot's background texture (with the face, when the scene has one), then every
visible object filled with its current colour at its position (anti-aliased, drawn to a quarter
pixel), then the text overlay. Backgrounds, shape masks and text layers are computed once and
cached by value, so rendering a frame is a copy plus a few small blends.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kangaroo.io import atomic_path
from kangaroo.video.writer import VideoWriter

from .scene import COLOURS, Scene

SUPERSAMPLE = 4  # anti-aliasing samples per pixel side
SUBPIXEL = 4  # object centres are drawn to 1/SUBPIXEL pixel
RING_INNER = 0.5  # ring hole radius, fraction of the radius
STAR_INNER = 0.45  # star inner vertex radius, fraction of the radius

Alpha = np.ndarray  # uint16 (h, w, 1): 0 (transparent) to 256 (opaque)


def render_frame(scene: Scene, t: float) -> np.ndarray:
    """The frame shown at ``t`` seconds: uint8 ``(height, width, 3)`` RGB."""
    width, height = scene.width, scene.height
    shot = scene.background["shots"][bisect.bisect_right(scene.cuts, t)]
    face = scene.background["face"] if scene.face else None
    frame = _background(width, height, _key(shot), _key(face)).copy()
    for obj in scene.objects:
        if obj.visible_at(t):
            x, y = obj.position_at(t)
            _paste_shape(frame, obj.shape, obj.size * height, x * width, y * height, COLOURS[obj.colour_at(t)])
    if scene.text_overlay:
        y0, x0, premultiplied, inverse = _text_layer(width, height, _key(scene.text_overlay))
        region = frame[y0 : y0 + inverse.shape[0], x0 : x0 + inverse.shape[1]]
        region[...] = (region * inverse + premultiplied) >> 8
    return frame


# With x264's defaults the same frames sometimes encode to different bytes (pixels differing by up
# to ~20 levels) from one run to the next on these machines, even on one thread: x264 picks
# CPU-dependent code paths. ``cpu-independent=1`` uses the canonical ones; one thread per process
# suits a process pool, and ``veryfast`` halves the encoding time at these sizes.
DETERMINISTIC_H264: dict[str, str] = {"preset": "veryfast", "threads": "1", "x264-params": "cpu-independent=1"}


def write_scene(
    scene: Scene,
    path: str | os.PathLike[str],
    *,
    codec: str | None = None,
    crf: int | None = 23,
    gop: int | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Render every frame (frame ``i`` at ``i / fps``) straight into a video file; returns its path.

    The codec follows the suffix unless given (``.mp4``: H.264, which needs an even width and
    height); ``crf=None`` leaves the encoder's default quality. ``options`` go to the encoder;
    H.264 defaults to `DETERMINISTIC_H264`, so the same scene gives the same bytes on every run. Frames stream to the encoder one
    at a time, and the file appears atomically (`VideoWriter`).
    """
    path = Path(path)
    if options is None and (codec or "libx264") == "libx264" and path.suffix.lower() in (".mp4", ".mov", ".mkv"):
        options = DETERMINISTIC_H264
    with VideoWriter(path, scene.width, scene.height, scene.fps, codec=codec, crf=crf, gop=gop,
                     options=options) as writer:
        for t in scene.frame_times():
            writer.write(render_frame(scene, t), timestamp=t)
    return path


def write_image(scene: Scene, path: str | os.PathLike[str], t: float = 0.0) -> Path:
    """Save the frame shown at ``t`` as an image (PNG unless the suffix says otherwise), atomically."""
    path = Path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_path(path) as tmp:
        Image.fromarray(render_frame(scene, t)).save(tmp, format=image_format)
    return path


@functools.lru_cache(maxsize=16)
def text_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (the same on every machine with this Pillow)."""
    return ImageFont.load_default(size=size)


def _key(spec: dict[str, Any] | None) -> str:
    return json.dumps(spec, sort_keys=True)


# ---------------------------------------------------------------------------------- objects


def _paste_shape(frame: np.ndarray, shape: str, radius: float, cx: float, cy: float,
                 colour: tuple[int, int, int]) -> None:
    """Blend ``shape`` of ``radius`` pixels centred at pixel coordinates ``(cx, cy)`` into ``frame``
    (pixel ``(i, j)`` covers ``[j, j + 1) x [i, i + 1)``)."""
    ix, qx = _quantise(cx)
    iy, qy = _quantise(cy)
    alpha, reach = _shape_alpha(shape, round(radius, 4), qx, qy)
    height, width = frame.shape[:2]
    x0, y0 = ix - reach, iy - reach
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + alpha.shape[1], width), min(y0 + alpha.shape[0], height)
    if xa >= xb or ya >= yb:
        return
    a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]  # (h, w, 1)
    region = frame[ya:yb, xa:xb]  # (h, w, 3)
    region[...] = (region * (256 - a) + np.asarray(colour, dtype=np.uint16) * a) >> 8


def _quantise(c: float) -> tuple[int, int]:
    """(whole pixel, quarter-pixel step) of a coordinate."""
    whole = math.floor(c)
    step = round((c - whole) * SUBPIXEL)
    return (whole + 1, 0) if step == SUBPIXEL else (whole, step)


@functools.lru_cache(maxsize=4096)
def _shape_alpha(shape: str, radius: float, qx: int, qy: int) -> tuple[Alpha, int]:
    """Coverage of ``shape`` over a square patch of ``2 * reach + 1`` pixels whose centre pixel
    holds the shape's centre at offset ``(qx, qy) / SUBPIXEL``; returns ``(alpha, reach)``."""
    reach = math.ceil(radius) + 1
    n = 2 * reach + 1
    samples = np.arange(n * SUPERSAMPLE)
    pos = samples // SUPERSAMPLE + (samples % SUPERSAMPLE + 0.5) / SUPERSAMPLE - reach  # (n * SS,)
    u = (pos - qx / SUBPIXEL)[None, :]  # (1, n * SS): x from the centre
    v = (pos - qy / SUBPIXEL)[:, None]  # (n * SS, 1): y from the centre, downward
    inside = shape_contains(shape, u, v, radius)  # (n * SS, n * SS)
    coverage = inside.reshape(n, SUPERSAMPLE, n, SUPERSAMPLE).mean(axis=(1, 3))  # (n, n)
    alpha = np.round(coverage * 256).astype(np.uint16)[:, :, None]  # (n, n, 1)
    alpha.flags.writeable = False
    return alpha, reach


def shape_contains(shape: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    """Whether each point ``(u, v)`` lies in ``shape``, which fits in the circle of radius ``r``."""
    d2 = u * u + v * v
    if shape == "circle":
        return d2 <= r * r
    if shape == "ring":
        return (d2 <= r * r) & (d2 >= (RING_INNER * r) ** 2)
    if shape == "square":
        return (np.abs(u) <= r / math.sqrt(2)) & (np.abs(v) <= r / math.sqrt(2))
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= r
    if shape == "triangle":
        return _in_convex(u, v, _polar([-90, 30, 150], [r] * 3))
    if shape == "star":
        outer = [-90 + 72 * k for k in range(5)]
        inner = [-54 + 72 * k for k in range(5)]
        inside = _in_convex(u, v, _polar(inner, [STAR_INNER * r] * 5))
        for k in range(5):
            tip = _polar([inner[k - 1], outer[k], inner[k]], [STAR_INNER * r, r, STAR_INNER * r])
            inside = inside | _in_convex(u, v, tip)
        return inside
    raise ValueError(f"unknown shape {shape!r}")


def _polar(degrees: list[float], radii: list[float]) -> list[tuple[float, float]]:
    return [(r * math.cos(math.radians(a)), r * math.sin(math.radians(a))) for a, r in zip(degrees, radii, strict=True)]


def _in_convex(u: np.ndarray, v: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Points inside the convex polygon ``vertices`` (either winding)."""
    edges = list(zip(vertices, vertices[1:] + vertices[:1], strict=True))
    winding = math.copysign(1.0, sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in edges))
    inside = np.ones(np.broadcast_shapes(u.shape, v.shape), dtype=bool)
    for (x0, y0), (x1, y1) in edges:
        inside &= winding * ((x1 - x0) * (v - y0) - (y1 - y0) * (u - x0)) >= 0
    return inside


# ---------------------------------------------------------------------------------- layers


@functools.lru_cache(maxsize=64)
def _background(width: int, height: int, shot_key: str, face_key: str) -> np.ndarray:
    """The shot's texture, with the face drawn on it; read-only uint8 ``(height, width, 3)``."""
    shot = json.loads(shot_key)
    c0, c1 = (np.asarray(c, dtype=np.float32) for c in shot["colours"])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)  # (H, W) each
    kind = shot["kind"]
    if kind == "gradient":
        angle = math.radians(shot["angle"])
        proj = xs * math.cos(angle) + ys * math.sin(angle)
        mix = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
    elif kind == "checker":
        cell = shot["cell"]
        mix = ((xs // cell + ys // cell) % 2).astype(np.float32)
    elif kind == "noise":
        cell = shot["cell"]
        coarse = np.random.default_rng(shot["seed"]).random((height // cell + 2, width // cell + 2))
        image = Image.fromarray((coarse * 255).astype(np.uint8)).resize(
            ((width // cell + 2) * cell, (height // cell + 2) * cell), Image.Resampling.BICUBIC)
        mix = np.asarray(image, dtype=np.float32)[:height, :width] / 255.0
    else:
        raise ValueError(f"unknown background kind {kind!r}")
    pixels = c0 * (1 - mix[..., None]) + c1 * mix[..., None]  # (H, W, 3)
    frame = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    face = json.loads(face_key)
    if face is not None:
        frame = _draw_face(frame, face)
    frame.flags.writeable = False
    return frame


def _draw_face(frame: np.ndarray, face: dict[str, Any]) -> np.ndarray:
    """A frontal face: skin oval, hair, brows, two eyes, nose shadow and a mouth."""
    height, width = frame.shape[:2]
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    fh = face["height"] * height
    fw = 0.78 * fh
    cx, cy = face["x"] * width, face["y"] * height
    skin = tuple(face["skin"])
    shade = tuple(int(c * 0.75) for c in skin)
    dark = (30, 22, 18)

    def box(dx: float, dy: float, rx: float, ry: float) -> tuple[float, float, float, float]:
        """Ellipse at ``(dx, dy)`` from the centre (fractions of the face width / height)."""
        x, y = cx + dx * fw, cy + dy * fh
        return (x - rx * fw, y - ry * fh, x + rx * fw, y + ry * fh)

    draw.ellipse(box(0, 0, 0.5, 0.5), fill=skin)
    draw.chord(box(0, 0, 0.5, 0.5), 180, 360, fill=dark)  # hair
    draw.ellipse(box(0, 0.08, 0.45, 0.38), fill=skin)  # forehead line below the hair
    for side in (-1, 1):
        draw.rectangle(box(side * 0.2, -0.1, 0.12, 0.02), fill=dark)  # brow
        draw.ellipse(box(side * 0.2, -0.02, 0.1, 0.05), fill=(245, 245, 245))  # eye white
        draw.ellipse(box(side * 0.2, -0.02, 0.05, 0.045), fill=dark)  # pupil
    draw.ellipse(box(0, 0.12, 0.06, 0.08), fill=shade)  # nose
    draw.chord(box(0, 0.24, 0.2, 0.08), 0, 180, fill=(150, 40, 50))  # mouth
    return np.asarray(image).copy()


@functools.lru_cache(maxsize=64)
def _text_layer(width: int, height: int, overlay_key: str) -> tuple[int, int, np.ndarray, np.ndarray]:
    """The overlay's text (white, black outline) over its bounding box: ``(y0, x0, colour * alpha,
    256 - alpha)``, uint16 ``(h, w, 3)`` and ``(h, w, 1)``."""
    overlay = json.loads(overlay_key)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = text_font(overlay["font_size"])
    for line in overlay["lines"]:
        draw.text((line["x"], line["y"]), line["text"], font=font, fill=(255, 255, 255, 255),
                  stroke_width=1, stroke_fill=(0, 0, 0, 255))
    rgba = np.asarray(layer, dtype=np.uint16)  # (H, W, 4)
    alpha = (rgba[..., 3:] * 256 + 127) // 255  # (H, W, 1), 0..256
    rows, cols = np.nonzero(alpha[..., 0])
    if rows.size == 0:
        return 0, 0, np.zeros((0, 0, 3), np.uint16), np.zeros((0, 0, 1), np.uint16)
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    alpha = alpha[y0:y1, x0:x1]
    premultiplied = rgba[y0:y1, x0:x1, :3] * alpha
    inverse = 256 - alpha
    premultiplied.flags.writeable = inverse.flags.writeable = False
    return int(y0), int(x0), premultiplied, inverse
