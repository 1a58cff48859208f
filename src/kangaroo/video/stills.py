"""Sources that are not containers: a still image (a 1-frame clip) and a folder of frames."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UnsupportedFormatError, VideoDecodeError, VideoNotFoundError, VideoTooLargeError

if TYPE_CHECKING:
    from PIL import Image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def _natural_key(path: Path) -> list[object]:
    """``frame2.jpg`` sorts before ``frame10.jpg``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_frame_files(folder: Path) -> list[Path]:
    """Image files of a folder of frames, in natural order. Raises when there are none."""
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                   key=_natural_key)
    if not files:
        raise VideoNotFoundError(folder, "is a directory without image frames (expected a video file "
                                         "or a folder of .jpg/.png frames)")
    return files


def open_image(path: Path, max_pixels: int) -> Image.Image:
    """Open an image as RGB, turned by its EXIF orientation; checks the declared size first."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # only images need Pillow (see kangaroo.video)

    try:
        image = Image.open(path)
    except FileNotFoundError:
        raise VideoNotFoundError(path, "no such file") from None
    except Image.DecompressionBombError as exc:
        raise VideoTooLargeError(path, f"declared size is too large: {exc}") from None
    except UnidentifiedImageError:
        raise UnsupportedFormatError(path, "not an image PIL can read") from None
    except OSError as exc:
        raise VideoDecodeError(path, f"cannot read image: {exc}") from None
    with image:
        if image.width * image.height > max_pixels:
            raise VideoTooLargeError(path, f"declared {image.width}x{image.height} exceeds {max_pixels} pixels")
        try:
            return ImageOps.exif_transpose(image).convert("RGB")
        except (OSError, SyntaxError, ValueError) as exc:
            raise VideoDecodeError(path, f"cannot decode image: {exc}") from None
