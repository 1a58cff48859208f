"""Static scene filter (Kangaroo, section III): drop clips in which nothing moves.

Still images turned into video, slideshows and frozen frames have no motion or events to
describe; the paper measures dense optical flow at 128x128 and drops clips with too little.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from ..frames import clip_frames
from .base import COST_LIGHT_DECODE, Record, ThresholdFilter

# The paper does not give its threshold. A still clip measures ~0.00 to 0.003 px (encoder noise);
# a synthetic clip with a few small moving objects measures 0.3 to 1.4 px. 0.05 px is, e.g., 5% of
# the frame moving by 1 px (1/128 of the frame) between sampled frames.
DEFAULT_STATIC_THRESHOLD = 0.05
FLOW_SIZE = 128  # the paper's flow resolution (square; frames are stretched to it)


@dataclass
class StaticSceneFilter(ThresholdFilter):
    """Drops a clip whose mean optical-flow magnitude is below ``threshold``.

    ``num_frames`` uniformly spaced frames of the clip (the exact frames shown at those times:
    keyframe seeking could return one frame several times), resized to ``size x size`` grayscale;
    dense Farneback flow between each consecutive pair; the value is the flow magnitude averaged
    over every pixel and every pair, in pixels of the ``size x size`` frame per pair of sampled
    frames (so it grows with the spacing, the clip's duration over ``num_frames``). A clip with
    fewer than two distinct frames (a still image) measures 0.

    threshold:  mean flow in pixels at ``size x size``; values BELOW it are dropped (reason
                ``"static"``). The paper gives no number; see `DEFAULT_STATIC_THRESHOLD`.
    num_frames: frames per clip (>= 2).
    size:       the square flow resolution (the paper uses 128).
    Raises ValueError for bad arguments.
    """

    threshold: float = DEFAULT_STATIC_THRESHOLD
    num_frames: int = 8
    size: int = FLOW_SIZE
    name: str = field(default="static_scene", init=False)
    cost: int = field(default=COST_LIGHT_DECODE, init=False)
    reason: str = field(default="static", init=False)
    drop_above: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not self.threshold >= 0.0:
            raise ValueError(f"threshold must be >= 0 pixels, got {self.threshold}")
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 (flow needs pairs), got {self.num_frames}")
        if self.size < 16:
            raise ValueError(f"size must be >= 16 pixels, got {self.size}")

    def measure(self, record: Record) -> float:
        """Mean optical-flow magnitude over the clip's sampled frames, pixels at ``size x size``.
        Raises `kangaroo.video.VideoError` when the video cannot be read."""
        # (T, S, S, 3) and (T,)
        frames, times = clip_frames(record, self.num_frames, size=self.size, seek="exact")
        _, first = np.unique(times, return_index=True)
        frames = frames[np.sort(first)]  # (T', S, S, 3): one per distinct timestamp
        return mean_flow(frames)


def mean_flow(frames: np.ndarray) -> float:
    """Mean dense-flow magnitude between consecutive RGB frames ``(T, H, W, 3)``, in pixels
    (0 for fewer than two frames)."""
    import cv2

    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]  # T x (H, W)
    magnitudes = []
    for before, after in pairwise(gray):
        # OpenCV's usual settings: pyramid scale 0.5, 3 levels, 15 px window, 3 iterations,
        # 5 px polynomial expansion with sigma 1.2
        flow = cv2.calcOpticalFlowFarneback(before, after, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # (H, W, 2)
        magnitudes.append(float(np.linalg.norm(flow, axis=2).mean()))
    return float(np.mean(magnitudes)) if magnitudes else 0.0
