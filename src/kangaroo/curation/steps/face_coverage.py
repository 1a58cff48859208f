"""Face coverage filter (Kangaroo, section III): drop clips whose frames are dominated by faces.

Close-up talking heads (vlogs, interviews, streamers) carry little visual content beyond a face;
the paper measures face coverage over 5 frames and drops clips above a threshold.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..frames import check_coverage_settings, frames_within_width
from ..geometry import Box, coverage
from .base import COST_DETECTOR, Record, ThresholdFilter

# The paper does not give its threshold. 0.1 drops a face whose box is taller than about 42% of a
# 16:9 frame (a close-up talking head) and keeps medium shots of people (a face box ~25% of the
# frame height covers ~3.5%) and crowds of small faces.
DEFAULT_FACE_THRESHOLD = 0.1
HAAR_CASCADE = "haarcascade_frontalface_default.xml"

_DETECTORS: dict[tuple[int, str], Any] = {}  # (process id, detector) -> OpenCV detector
_DETECTORS_LOCK = threading.Lock()


@dataclass
class FaceCoverageFilter(ThresholdFilter):
    """Drops a clip when faces cover more than ``threshold`` of a frame.

    A frame's coverage is the area of the union of its face boxes over the frame's area, in
    ``[0, 1]``; the clip's value is the MAXIMUM over ``num_frames`` uniformly spaced frames (the
    paper says "face coverage over 5 frames" without naming the reduction; max, as for text
    coverage, so a close-up shown in any sampled frame counts).

    threshold:     fraction of the frame area in ``[0, 1]``; values above it are dropped (reason
                   ``"face_coverage"``). The paper gives no number; see `DEFAULT_FACE_THRESHOLD`.
    num_frames:    frames per clip (nearest keyframes when they fall inside the clip).
    max_width:     frames wider than this are scaled down first (aspect kept).
    detector:      ``"haar"`` (OpenCV's frontal-face Haar cascade, bundled with opencv-python) or
                   the path of an ONNX face detector for ``cv2.FaceDetectorYN`` (e.g. YuNet's
                   ``face_detection_yunet_2023mar.onnx``; more accurate on profiles and small faces).
    min_neighbors: Haar: overlapping detections needed to accept a face (higher: fewer false faces).
    min_score:     ONNX detector: the confidence needed to accept a face, in ``[0, 1]``.
    Raises ValueError for bad arguments, a detector file that does not exist included.
    """

    threshold: float = DEFAULT_FACE_THRESHOLD
    num_frames: int = 5
    max_width: int = 640
    detector: str = "haar"
    min_neighbors: int = 5
    min_score: float = 0.9
    name: str = field(default="face_coverage", init=False)
    cost: int = field(default=COST_DETECTOR, init=False)
    reason: str = field(default="face_coverage", init=False)
    drop_above: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        check_coverage_settings(self.threshold, self.num_frames, self.max_width)
        if self.min_neighbors < 0:
            raise ValueError(f"min_neighbors must be >= 0, got {self.min_neighbors}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        self.detector = os.fspath(self.detector)
        if self.detector != "haar" and not Path(self.detector).is_file():
            raise ValueError(f"detector must be 'haar' or the path of an ONNX face detector (such as YuNet); "
                             f"no such file: {self.detector!r}")

    def measure(self, record: Record) -> float:
        """The largest face coverage over the clip's sampled frames, in ``[0, 1]``.
        Raises `kangaroo.video.VideoError` when the video cannot be read."""
        frames = frames_within_width(record, self.num_frames, self.max_width)  # (T, H, W, 3)
        return max((self.frame_coverage(frame) for frame in frames), default=0.0)

    def frame_coverage(self, frame: np.ndarray) -> float:
        """Face coverage of one RGB ``(H, W, 3)`` frame, in ``[0, 1]``."""
        height, width = frame.shape[:2]
        return coverage(self.face_boxes(frame), width, height)

    def face_boxes(self, frame: np.ndarray) -> list[Box]:
        """The faces in one RGB ``(H, W, 3)`` frame as boxes ``(x0, y0, x1, y1)``."""
        if self.detector == "haar":
            return _haar_faces(frame, self.min_neighbors)
        return _onnx_faces(frame, self.detector, self.min_score)


def _haar_faces(frame: np.ndarray, min_neighbors: int) -> list[Box]:
    import cv2

    # no histogram equalisation: on dark, flat backgrounds it turns gradient bands into false faces
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)  # (H, W) uint8
    classifier = _detector("haar")
    found = classifier.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(24, 24))
    return [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in np.reshape(found, (-1, 4))]


def _onnx_faces(frame: np.ndarray, path: str, min_score: float) -> list[Box]:
    import cv2

    height, width = frame.shape[:2]
    model = _detector(path)
    model.setInputSize((width, height))
    model.setScoreThreshold(min_score)
    _, found = model.detect(np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)))
    if found is None:
        return []
    # each row: x, y, w, h, 5 landmarks (x, y), score
    return [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in np.asarray(found)[:, :4]]


def _detector(spec: str) -> Any:
    """This process's detector for ``spec`` (``"haar"`` or an ONNX path), created on first use."""
    key = (os.getpid(), spec)
    with _DETECTORS_LOCK:
        if key not in _DETECTORS:
            _DETECTORS[key] = _new_detector(spec)
        return _DETECTORS[key]


def _new_detector(spec: str) -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise ImportError("FaceCoverageFilter needs OpenCV: pip install 'kangaroo[curate]'") from exc
    if spec == "haar":
        path = Path(cv2.data.haarcascades) / HAAR_CASCADE
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise RuntimeError(f"cannot load OpenCV's Haar cascade {path} "
                               "(opencv-python >= 5 ships none; use < 5)")
        return classifier
    try:
        return cv2.FaceDetectorYN.create(spec, "", (320, 320))
    except cv2.error as exc:
        raise ValueError(f"cannot load the ONNX face detector {spec!r}: {exc}") from exc
