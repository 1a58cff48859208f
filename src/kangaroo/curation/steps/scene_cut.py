"""Scene cut: split each video (or clip) into its shots with PySceneDetect, within duration limits.

The paper (section III-A, "Scene Cut") removes overly short videos and cuts long ones into clips
with PySceneDetect, so that every pre-training clip is one shot of a bounded length.

Frames are decoded by kangaroo's own video layer (`kangaroo.video.load_video` with fps `FrameSampling`,
small frames, exact seek) and handed one by one to a PySceneDetect detector's low-level
``process_frame`` API; PySceneDetect's VideoStream / SceneManager are not used, so decoding (and
its error handling, timeouts and PTS-exact timestamps) stays in one place. By default the feed is
what ``scenedetect.detect(path, detector)`` analyses: every frame, the longer side scaled to 256
px, a minimum scene of 15 frames; so the step finds the cuts PySceneDetect finds on the file (the
parity test in ``tests/unit/curation/test_scene_cut_parity.py``). A cut is placed at the real
presentation timestamp of the first analysed frame of the new shot: the first frame of the shot
when every frame is analysed, else at most one analysis interval after the true cut.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import COST_SCAN, Record, StepContext, clip_bounds

DETECTORS = ("content", "adaptive")
# PySceneDetect's own default minimum scene length is 15 frames at the source rate, about 0.6 s
# at 25 fps; at a lower analysis rate ``min_scene_frames=None`` keeps that length in seconds.
DEFAULT_MIN_SCENE_FRAMES = 15
DEFAULT_MIN_SCENE_SECONDS = 0.6
FALLBACK_FPS = 25.0  # the analysis rate of a video that declares no frame rate


@dataclass
class SceneCutStep:
    """Cut each input record into one record per detected scene.

    detector:         ``content`` (PySceneDetect's ContentDetector: a cut where the mean HSV
                      difference between consecutive analysed frames reaches ``threshold``,
                      default 27) or ``adaptive`` (AdaptiveDetector: a cut where that difference
                      is ``threshold`` times the average of its neighbours, default 3.0, and at
                      least 15; steadier under fast camera motion).
    threshold:        the detector's threshold as above; None keeps PySceneDetect's default.
    min_duration:     scenes shorter than this (seconds) are dropped (``scene_too_short``, value =
                      the scene's duration).
    max_duration:     scenes longer than this are split into ``ceil(d / max_duration)`` equal,
                      contiguous pieces (as Panda-70M splits long shots), each <= max_duration;
                      None keeps long scenes whole. Must be >= 2 * min_duration, so that a piece
                      (always longer than max_duration / 2) is never too short.
    analysis_fps:     frames analysed per second; None (default) analyses every frame, at the
                      video's average frame rate, as PySceneDetect does: its thresholds are
                      differences between consecutive frames. A lower rate converts fewer frames
                      (every frame is decoded anyway) but changes the scores: between frames
                      further apart, motion and dissolves differ more (extra cuts), and a run of
                      high scores can swallow a real cut; cut times are then within
                      ``1 / analysis_fps`` after the true cut.
    analysis_width:   analysed frames are scaled (aspect kept, in FFmpeg's scaler) so that their
                      longer side is at most this (default 256, as PySceneDetect's automatic
                      downscale: the scale its default thresholds are tuned at).
    min_scene_frames: the detector's minimum scene length in analysed frames (flash suppression:
                      cuts closer than this are merged); None = PySceneDetect's default of 15
                      frames when every frame is analysed, else 0.6 s worth at ``analysis_fps``.
    chunk_frames:     the video is decoded in windows of this many analysed frames, so memory
                      stays bounded (about 110 MB at the defaults for 16:9 video) whatever the
                      video's length.
    decode_timeout:   seconds allowed for decoding one window (None: no limit).
    decode_threads:   FFmpeg decoder threads (0 = FFmpeg's choice; set 1 when many workers share
                      the cores).

    Each output record is a deep copy of its input with ``id`` = ``f"{source_id}#{start:.3f}-{end:.3f}"``,
    ``start`` / ``end`` in seconds on the video's clock, ``meta.duration``, ``meta.source_id``
    (the input's ``meta.source_id`` when it is already a clip of a video, else its ``id``, so ids
    stay unique when input ids are), ``meta.scene_index``
    (0-based, counting dropped scenes too) and, for a split scene, ``meta.scene_piece``. The first
    scene starts at the clip's start (the record's ``start``, or 0) and the last ends at its end
    (the record's ``end``, or the video's duration); every other boundary is the timestamp of a
    decoded frame. ``ctx.measured("scene_duration", d)`` is reported for every detected scene.
    A record whose video cannot be read is quarantined.

    Raises ValueError for bad arguments; ImportError (with the install hint) when PySceneDetect
    is missing, at the first record.
    """

    detector: str = "content"
    threshold: float | None = None
    min_duration: float = 2.0
    max_duration: float | None = 60.0
    analysis_fps: float | None = None
    analysis_width: int = 256
    min_scene_frames: int | None = None
    chunk_frames: int = 1024
    decode_timeout: float | None = None
    decode_threads: int = 0
    name: str = field(default="scene_cut", init=False)
    cost: int = field(default=COST_SCAN, init=False)

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose one of {', '.join(DETECTORS)}")
        if self.threshold is not None and not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold must be > 0 (or None for the default), got {self.threshold}")
        if not (math.isfinite(self.min_duration) and self.min_duration >= 0):
            raise ValueError(f"min_duration must be >= 0 seconds, got {self.min_duration}")
        if self.max_duration is not None and not self.max_duration >= 2 * self.min_duration:
            raise ValueError(f"max_duration ({self.max_duration}) must be >= 2 * min_duration "
                             f"({self.min_duration}) so that split pieces are never too short")
        if self.max_duration is not None and not self.max_duration > 0:
            raise ValueError(f"max_duration must be > 0 seconds (or None), got {self.max_duration}")
        if self.analysis_fps is not None and not (math.isfinite(self.analysis_fps) and self.analysis_fps > 0):
            raise ValueError(f"analysis_fps must be > 0 (or None: every frame), got {self.analysis_fps}")
        if self.analysis_width < 16:
            raise ValueError(f"analysis_width must be >= 16 pixels, got {self.analysis_width}")
        if self.min_scene_frames is not None and self.min_scene_frames < 0:
            raise ValueError(f"min_scene_frames must be >= 0, got {self.min_scene_frames}")
        if self.chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {self.chunk_frames}")

    # ----------------------------------------------------------------------------------- detection

    def scene_bounds(self, record: Record) -> list[tuple[float, float]]:
        """The record's scenes as contiguous ``(start, end)`` seconds, before the duration rules.

        Raises `kangaroo.video.VideoError` when the video cannot be read (or the record's bounds
        lie outside it).
        """
        from kangaroo.video import InvalidSamplingError, probe
        from kangaroo.video.sampling import resolve_bounds

        path = record["video"]
        info = probe(path, scan=False)
        duration = info.duration
        if duration <= 0 and info.frame_count != 1:  # the container declares no duration: count
            duration = probe(path, scan=True).duration
        start, end = clip_bounds(record)
        try:
            lo, hi = resolve_bounds(duration, start, end)
        except ValueError as exc:
            raise InvalidSamplingError(path, str(exc)) from None
        if hi <= lo:  # a still image, or an empty video
            return [(lo, hi)]
        rate = self.analysis_fps or info.average_fps or probe(path, scan=True).average_fps or FALLBACK_FPS
        size = _analysis_size(info.display_width, info.display_height, self.analysis_width)
        cuts = self._cut_times(path, lo, hi, size, rate)
        bounds = [lo, *(t for t in cuts if lo < t < hi), hi]
        return list(itertools.pairwise(bounds))

    def _cut_times(self, path: str, lo: float, hi: float, size: tuple[int, int], rate: float) -> list[float]:
        """Timestamps of the first analysed frame of every new scene in ``[lo, hi)``, analysing
        ``rate`` frames per second."""
        detector, make_position = self._detector(rate)
        # Timestamp of every analysed frame, by analysis index. A source slower than the analysis
        # rate shows a frame at several targets: it is analysed again (a zero difference), so the
        # detector's frame counts stay 1 / rate apart and a cut's index maps to one frame.
        times: list[float] = []
        cuts: list[float] = []
        for frames, stamps in self._windows(path, lo, hi, size, rate):
            for frame, t in zip(frames, stamps, strict=True):
                times.append(float(t))
                bgr = np.ascontiguousarray(frame[:, :, ::-1])  # (h, w, 3) RGB -> BGR for OpenCV
                for found in detector.process_frame(make_position(len(times) - 1), bgr):
                    cuts.append(times[_frame_index(found)])
        if times:
            for found in detector.post_process(make_position(len(times) - 1)):
                cuts.append(times[_frame_index(found)])
        return sorted(set(cuts))

    def _windows(self, path: str, lo: float, hi: float, size: tuple[int, int],
                 rate: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(frames (T, h, w, 3) RGB, timestamps (T,))`` for consecutive windows of ``[lo, hi)``.

        Windows hold a whole number of analysis intervals, so the sampling grid
        (``lo + (i + 0.5) / rate``: every frame of a constant-rate video at its own rate) runs on
        unbroken from one window to the next.
        """
        from kangaroo.video import FrameSampling, load_video

        sampling = FrameSampling(sampling="fps", fps=rate)
        step = self.chunk_frames / rate
        t0 = lo
        while t0 < hi:
            t1 = min(t0 + step, hi)
            if hi - t1 < 0.5 / rate:  # no sliver of a window at the end
                t1 = hi
            clip = load_video(path, sampling, start=t0, end=t1, size=size,
                              aspect="stretch", timeout=self.decode_timeout, threads=self.decode_threads)
            yield clip.frames, clip.timestamps
            t0 = t1

    def _detector(self, rate: float) -> tuple[Any, Any]:
        """A fresh PySceneDetect detector and the function making its frame positions (frames
        analysed at ``rate`` per second)."""
        try:
            import scenedetect
            from scenedetect.detectors import AdaptiveDetector, ContentDetector
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("scene cut needs PySceneDetect: pip install 'kangaroo[curate]' "
                              "(scenedetect-headless)") from exc
        min_frames = self.min_scene_frames
        if min_frames is None:
            min_frames = (DEFAULT_MIN_SCENE_FRAMES if self.analysis_fps is None
                          else max(1, round(DEFAULT_MIN_SCENE_SECONDS * self.analysis_fps)))
        if self.detector == "content":
            kwargs: dict[str, Any] = {"min_scene_len": min_frames}
            if self.threshold is not None:
                kwargs["threshold"] = float(self.threshold)
            detector = ContentDetector(**kwargs)
        else:
            kwargs = {"min_scene_len": min_frames}
            if self.threshold is not None:
                kwargs["adaptive_threshold"] = float(self.threshold)
            detector = AdaptiveDetector(**kwargs)
        # PySceneDetect >= 0.7 passes a FrameTimecode per frame; 0.6 passed the frame number.
        major_minor = tuple(int(p) for p in scenedetect.__version__.split(".")[:2] if p.isdigit())
        if major_minor >= (0, 7):
            from scenedetect.common import FrameTimecode

            return detector, lambda index: FrameTimecode(index, fps=float(rate))
        return detector, int

    # ------------------------------------------------------------------------------------- records

    def run(self, records: Iterator[Record], ctx: StepContext) -> Iterator[Record]:
        """Yield one record per kept scene (or piece of a long scene); see the class docstring."""
        from kangaroo.video import VideoError

        for record in records:
            try:
                scenes = self.scene_bounds(record)
            except VideoError as exc:
                ctx.quarantine(record, f"{type(exc).__name__}: {exc}")
                continue
            for index, (start, end) in enumerate(scenes):
                duration = end - start
                ctx.measured("scene_duration", duration)
                if duration < self.min_duration:
                    ctx.drop(self._scene_record(record, start, end, index), "scene_too_short", duration)
                    continue
                pieces = 1
                if self.max_duration is not None and duration > self.max_duration:
                    pieces = math.ceil(duration / self.max_duration - 1e-9)
                for k in range(pieces):
                    a = start if k == 0 else round(start + duration * k / pieces, 6)
                    b = end if k == pieces - 1 else round(start + duration * (k + 1) / pieces, 6)
                    yield self._scene_record(record, a, b, index, k if pieces > 1 else None)

    @staticmethod
    def _scene_record(record: Record, start: float, end: float, index: int,
                      piece: int | None = None) -> Record:
        out = copy.deepcopy(record)
        meta = out.setdefault("meta", {})
        source_id = str(meta.get("source_id") or record["id"])
        out["id"] = f"{source_id}#{start:.3f}-{end:.3f}"
        out["start"], out["end"] = float(start), float(end)
        meta["duration"] = float(end - start)
        meta["source_id"] = source_id
        meta["scene_index"] = index
        if piece is None:
            meta.pop("scene_piece", None)
        else:
            meta["scene_piece"] = piece
        return out


def _analysis_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """``(w, h)`` with the longer side scaled down to ``longest`` (aspect kept), as PySceneDetect's
    automatic downscale; unchanged when already that small."""
    factor = max(width, height) / longest
    if factor <= 1:
        return width, height
    return max(1, round(width / factor)), max(1, round(height / factor))


def _frame_index(position: Any) -> int:
    """The analysis index of a detector's answer (a FrameTimecode in 0.7, an int in 0.6)."""
    return int(getattr(position, "frame_num", position))
