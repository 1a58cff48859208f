"""Video controls: rerun a task with the video taken away, to see whether a model reads it.

A model that scores the same without the video has learnt the questions, not the videos. Two
controls replace each sample's video and keep everything else (question, options, subtitles,
answer):

- ``blank``: a mid-grey video with the original's duration, start time, frame rate and aspect
  ratio, so frame sampling gives the same timestamps; a frame folder becomes a grey video of its
  length; a still image a grey image of its size.
- ``shuffled``: another sample's video (a seeded derangement over the task's distinct videos,
  so no sample keeps its own), with that video's clip bounds.

Controls work on the samples, before any backend sees them, so they apply to every backend.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from pathlib import Path

import numpy as np

from .samples import EvalSample

VIDEO_CONTROLS: tuple[str, ...] = ("blank", "shuffled")
BLANK_GREY = 128  # the blank frames' value in every channel
BLANK_MAX_SIDE = 256  # blank videos keep the aspect ratio at this size (the model resizes anyway)


class VideoControlError(ValueError):
    """A control cannot be applied to these samples (e.g. ``shuffled`` with a single video)."""


def check_control(name: str) -> str:
    """``name`` if it is a known control; raises `VideoControlError` naming them otherwise."""
    if name not in VIDEO_CONTROLS:
        raise VideoControlError(f"unknown video control {name!r}; choose one of {', '.join(VIDEO_CONTROLS)}")
    return name


def apply_video_control(samples: list[EvalSample], control: str, work_dir: str | os.PathLike[str],
                        seed: int = 0) -> list[EvalSample]:
    """``samples`` with their videos replaced as ``control`` says (see the module docstring).

    Blank videos are written once under ``work_dir/blank/`` and reused. Samples without a video
    (their ``error`` is set) pass through unchanged. Raises `VideoControlError` for an unknown
    control or a shuffled control with fewer than two distinct videos.
    """
    check_control(control)
    if control == "shuffled":
        return _shuffled(samples, seed)
    return _blank(samples, Path(work_dir) / "blank")


def _shuffled(samples: list[EvalSample], seed: int) -> list[EvalSample]:
    clips = list(dict.fromkeys(s.clip for s in samples if s.video is not None))
    videos = list(dict.fromkeys(key[0] for key in clips))
    if len(videos) < 2:
        raise VideoControlError("the shuffled control needs at least two different videos in the task")
    order = list(range(len(clips)))
    random.Random(seed).shuffle(order)
    # each clip takes the next clip in a seeded cycle whose video differs from its own
    replacement: dict[tuple[object, ...], tuple[object, ...]] = {}
    for position, index in enumerate(order):
        for step in range(1, len(order)):
            candidate = clips[order[(position + step) % len(order)]]
            if candidate[0] != clips[index][0]:
                replacement[clips[index]] = candidate
                break
    out = []
    for sample in samples:
        if sample.video is None:
            out.append(sample)
            continue
        video, start, end, source_fps = replacement[sample.clip]
        out.append(dataclasses.replace(sample, video=video, start=start, end=end, source_fps=source_fps))
    return out


def _blank(samples: list[EvalSample], folder: Path) -> list[EvalSample]:
    made: dict[tuple[object, ...], str] = {}
    out = []
    for sample in samples:
        if sample.video is None:
            out.append(sample)
            continue
        key = (sample.video, sample.source_fps)
        if key not in made:
            made[key] = str(blank_twin(sample.video, folder, sample.source_fps))
        source_fps = None if Path(sample.video).is_dir() else sample.source_fps
        out.append(dataclasses.replace(sample, video=made[key], source_fps=source_fps))
    return out


def blank_twin(video: str | os.PathLike[str], folder: Path, source_fps: float | None = None) -> Path:
    """A grey stand-in for ``video`` in ``folder`` (written once, atomically), with the same
    duration, start time, frame rate and aspect ratio; a still image gets a grey image.
    Raises a `kangaroo.video.VideoError` when ``video`` cannot be probed."""
    from kangaroo.video import probe
    from kangaroo.video.stills import IMAGE_SUFFIXES

    path = Path(video)
    if path.is_dir():
        frames = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not frames:
            raise VideoControlError(f"{path}: no frame images to make a blank twin of")
        width, height = _image_size(frames[0])
        fps = float(source_fps or 1.0)
        return _blank_video(folder, width, height, fps, start=0.0, count=len(frames))
    info = probe(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _blank_image(folder, info.display_width, info.display_height)
    fps = info.average_fps or 25.0
    count = max(1, round(info.duration * fps))
    return _blank_video(folder, info.display_width, info.display_height, fps, start=info.start_time, count=count)


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def _scaled(width: int, height: int, even: bool) -> tuple[int, int]:
    scale = min(1.0, BLANK_MAX_SIDE / max(width, height))
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    return (w + w % 2, h + h % 2) if even else (w, h)


def _name(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _blank_video(folder: Path, width: int, height: int, fps: float, *, start: float, count: int) -> Path:
    from kangaroo.video.writer import write_video  # atomic: the file appears complete or not at all

    w, h = _scaled(width, height, even=True)
    target = folder / f"{_name(w, h, round(fps, 6), round(start, 6), count)}.mp4"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    frame = np.full((h, w, 3), BLANK_GREY, dtype=np.uint8)
    times = (start + np.arange(count) / fps).tolist()
    write_video(target, (frame for _ in range(count)), fps, timestamps=times, options={"preset": "ultrafast"})
    return target


def _blank_image(folder: Path, width: int, height: int) -> Path:
    from PIL import Image

    from kangaroo.io import atomic_path

    w, h = _scaled(width, height, even=False)
    target = folder / f"{_name(w, h)}.png"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temporary:
        Image.new("RGB", (w, h), (BLANK_GREY,) * 3).save(temporary, format="PNG")
    return target
