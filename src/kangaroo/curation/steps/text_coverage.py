"""Text coverage filter (Kangaroo, section III, eq. 1): drop clips whose frames are covered by text.

Clips dominated by overlaid text (slides, subtitles, tickers, title cards) teach a captioner to
read rather than to describe; the paper measures text coverage with OCR and drops clips above a
threshold.
"""

from __future__ import annotations

import os
import threading
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np

from ..frames import check_coverage_settings, frames_within_width
from ..geometry import Box, coverage, quad_to_box
from .base import COST_OCR, Record, ThresholdFilter

# The paper does not give its threshold. 0.02 keeps a channel logo or a watermark (about 1% of a
# 640x360 frame) and drops one line of subtitles (4-6%: OCR boxes are a little larger than the glyphs).
DEFAULT_TEXT_THRESHOLD = 0.02

_ENGINES: dict[int, Any] = {}  # process id -> RapidOCR engine (never shared across a fork)
_ENGINES_LOCK = threading.Lock()


@dataclass
class TextCoverageFilter(ThresholdFilter):
    """Drops a clip when text covers more than ``threshold`` of a frame (eq. 1 of the paper).

    A frame's coverage is the area of the union of its OCR text boxes (axis-aligned, from
    RapidOCR's polygons) over the frame's area, in ``[0, 1]``; the clip's value is the maximum over
    ``num_frames`` uniformly spaced frames (the paper uses 3), so text shown in any one of them counts.

    threshold:  fraction of the frame area in ``[0, 1]``; values above it are dropped
                (reason ``"text_coverage"``). The paper gives no number; see `DEFAULT_TEXT_THRESHOLD`.
    num_frames: frames per clip (nearest keyframes when they fall inside the clip).
    max_width:  frames wider than this are scaled down first (aspect kept); OCR runs at that size.
    min_score:  a box counts when its recognised text has at least this confidence, in ``[0, 1]``.
    min_chars:  ... and at least this many letters or digits (any script): glyph-like shapes (a
                ring read as "O", a disc as "●", both as "●o") are ignored; 1 counts every box.
    engine:     an OCR callable like ``rapidocr.RapidOCR()`` (BGR ``(H, W, 3)`` in; ``.boxes``
                ``(N, 4, 2)``, ``.txts``, ``.scores`` out); None (default): a RapidOCR engine created
                once per process, on first use, so the step pickles to worker processes.
    Raises ValueError for bad arguments.
    """

    threshold: float = DEFAULT_TEXT_THRESHOLD
    num_frames: int = 3
    max_width: int = 640
    min_score: float = 0.5
    min_chars: int = 2
    engine: InitVar[Any] = None
    name: str = field(default="text_coverage", init=False)
    cost: int = field(default=COST_OCR, init=False)
    reason: str = field(default="text_coverage", init=False)
    drop_above: bool = field(default=True, init=False)

    def __post_init__(self, engine: Any) -> None:
        check_coverage_settings(self.threshold, self.num_frames, self.max_width)
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if self.min_chars < 1:
            raise ValueError(f"min_chars must be >= 1, got {self.min_chars}")
        if engine is not None and not callable(engine):
            raise ValueError("engine must be an OCR callable like rapidocr.RapidOCR(), "
                             f"got {type(engine).__name__}")
        self._engine = engine

    def measure(self, record: Record) -> float:
        """The largest text coverage over the clip's sampled frames, in ``[0, 1]``.
        Raises `kangaroo.video.VideoError` when the video cannot be read."""
        frames = frames_within_width(record, self.num_frames, self.max_width)  # (T, H, W, 3)
        engine = self._engine if self._engine is not None else ocr_engine()
        return max((self.frame_coverage(frame, engine) for frame in frames), default=0.0)

    def frame_coverage(self, frame: np.ndarray, engine: Any) -> float:
        """Text coverage of one RGB ``(H, W, 3)`` frame, in ``[0, 1]``."""
        height, width = frame.shape[:2]
        return coverage(self.text_boxes(frame, engine), width, height)

    def text_boxes(self, frame: np.ndarray, engine: Any) -> list[Box]:
        """The frame's text boxes ``(x0, y0, x1, y1)`` that pass ``min_score`` and ``min_chars``."""
        height, width = frame.shape[:2]
        result = engine(np.ascontiguousarray(frame[..., ::-1]))  # RGB -> BGR, as OpenCV-based OCR expects
        boxes, texts, scores = (getattr(result, key, None) for key in ("boxes", "txts", "scores"))
        if boxes is None or texts is None or scores is None:  # no text found
            return []
        return [
            quad_to_box(quad, width, height)
            for quad, text, score in zip(boxes, texts, scores, strict=True)
            if score >= self.min_score and sum(char.isalnum() for char in str(text)) >= self.min_chars
        ]


def ocr_engine() -> Any:
    """This process's RapidOCR engine (created on first use, quietly). Raises ImportError when
    rapidocr is not installed."""
    pid = os.getpid()
    with _ENGINES_LOCK:
        if pid not in _ENGINES:
            _ENGINES.clear()  # an engine inherited through fork belongs to the parent
            _ENGINES[pid] = _new_engine()
        return _ENGINES[pid]


def _new_engine() -> Any:
    try:
        from rapidocr import RapidOCR
    except ImportError as exc:
        raise ImportError("TextCoverageFilter needs rapidocr and onnxruntime: "
                          "pip install 'kangaroo[curate]'") from exc
    params = {
        "Global.log_level": "error",  # it logs every model load at INFO and every text-free frame at WARNING
        "Global.text_score": 0.0,  # the filter applies its own min_score
        # detect at the frame's own size unless its short side is under 320 px (the default, 736 px,
        # upscales a 640x360 frame 2x each way: 4x the time, no better boxes at these text sizes)
        "Det.limit_type": "min",
        "Det.limit_side_len": 320,
    }
    return RapidOCR(params=params)
