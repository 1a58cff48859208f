"""One benchmark question, as every benchmark reader produces it and the harness consumes it.

A reader (`kangaroo.eval.formats`) turns a benchmark's official annotation files into
`EvalSample`s; the harness loads the sample's frames with the task's sampling settings, renders
the task's prompt from the sample's fields, asks the model and scores the reply against
``answer``. Nothing here imports torch.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from typing import Any

from kangaroo.video.subtitles import Subtitles

LETTERS = string.ascii_uppercase


@dataclass
class EvalSample:
    """One question about one video.

    id:          unique within the task (results are keyed, resumed and merged by it).
    question:    the question text as the benchmark gives it (for TempCompass and LVBench it
                 already holds the lettered options: the task's prompt then omits ``{options}``).
    options:     the option texts without letters (``[]`` for an open question); option ``i``
                 has the letter ``LETTERS[i]``.
    answer:      the correct letter for a choice question; seconds (a time, or ``[start, end]``)
                 for grounding; None when the benchmark keeps its answers hidden (EgoSchema's
                 full set): the reply is then recorded but not scored.
    video:       a video file, a still image, or a folder of frame images (``source_fps`` gives
                 its frame rate); None only for a sample whose video is missing (``error``).
    start, end:  clip bounds in seconds on the video's clock (None: the whole video).
    source_fps:  frames per second of a frame folder.
    subtitles:   the video's subtitles (shown at the sampled frames when the prompt asks).
    groups:      category -> value, e.g. ``{"duration": "short", "task_type": "OCR Problems"}``;
                 results are aggregated per value of each category.
    error:       set by a reader when the sample cannot be run (e.g. its video file is missing);
                 the harness records it as an error, never as an answer.
    extra:       anything else the reader keeps (reported in the per-sample results).
    keywords:    for an open question scored by keyword recall: the concepts a correct reply
                 names, each as its accepted forms (`kangaroo.eval.keywords`); ``answer`` then
                 holds the reference answer text.
    """

    id: str
    question: str
    options: list[str] = field(default_factory=list)
    answer: str | float | list[float] | None = None
    video: str | None = None
    start: float | None = None
    end: float | None = None
    source_fps: float | None = None
    subtitles: Subtitles | None = None
    groups: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    keywords: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def letters(self) -> list[str]:
        """The option letters, ``["A", "B", ...]``."""
        return list(LETTERS[: len(self.options)])

    @property
    def clip(self) -> tuple[Any, ...]:
        """What identifies this sample's clip: the video with its bounds and source frame rate
        (several questions about one clip share it)."""
        return (self.video, self.start, self.end, self.source_fps)

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `kangaroo.video.load_video` that locate this sample's clip."""
        kwargs: dict[str, Any] = {}
        if self.start is not None:
            kwargs["start"] = self.start
        if self.end is not None:
            kwargs["end"] = self.end
        if self.source_fps is not None:
            kwargs["source_fps"] = self.source_fps
        return kwargs


def answer_letter(options: list[str], text: str, where: str) -> str:
    """The letter of ``text`` among ``options`` (MVBench/MLVU store the answer as option text).

    Raises ValueError naming ``where`` when the text is not one of the options.
    """
    try:
        return LETTERS[options.index(text)]
    except ValueError:
        raise ValueError(f"{where}: the answer {text!r} is not one of the candidates {options}") from None


def resolve_video(root: str | os.PathLike[str], *relative: str) -> tuple[str, str | None]:
    """``(path, error)``: the joined path, and an error message when nothing exists there."""
    path = os.path.join(os.fspath(root), *relative)
    return path, None if os.path.exists(path) else f"video not found: {path}"
