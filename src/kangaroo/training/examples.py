"""Records -> tokenized training examples: ids, loss labels and the videos' frames.

`encode_record` renders a record's conversation with the processor's chat template
(``add_generation_prompt=False``), loads its videos with the processor's `FrameSampling`
(``processor.sampling``; training sets it from the recipe's ``data.frames``) inside the record's
``start`` / ``end`` bounds, and labels only what the model must generate:

    ids:    <|begin_of_text|> <|start_header_id|>user<|end_header_id|>\\n\\n <video tokens> Q <|eot_id|>
            <|start_header_id|>assistant<|end_header_id|>\\n\\n A <|eot_id|> ...
    labels:  -100 ...                                                       A <|eot_id|>   (every assistant turn)

An assistant turn's span is found by encoding the conversation before it (with the generation
prompt, i.e. up to the assistant header) and the conversation through it: the tokens in between
are the turn's content and its end-of-turn token. Any chat template that renders a conversation
incrementally works; one that does not raises `ExampleError`.

Still images are 1-frame videos with a random timestamp drawn from ``image_time_range`` (the
paper: images are "randomly assigned a timestamp").

When the whole vision side is frozen, a record's videos can come as their visual tokens instead
of frames (``Example.visual_tokens``, see `kangaroo.training.visual_cache`): `encode_record` with
``frame_counts`` then tokenizes without loading anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kangaroo.data.records import Record, count_video_parts, video_paths
from kangaroo.model.layout import VIDEO_END, VIDEO_START

if TYPE_CHECKING:
    from kangaroo.processing import KangarooProcessor

IGNORE_INDEX = -100  # label of positions without loss (PyTorch's cross-entropy default)


class ExampleError(ValueError):
    """A record cannot become a training example (a video that does not load, a chat template that
    does not render turn by turn, no assistant turn). ``record_id`` names the record; the trainer
    decides whether to skip it."""

    def __init__(self, record_id: str, cause: str) -> None:
        self.record_id = record_id
        self.cause = cause
        super().__init__(f"record {record_id!r}: {cause}")


@dataclass
class Example:
    """One tokenized record.

    input_ids:    long ``(L,)``.
    labels:       long ``(L,)``: the token to predict at each position (the model shifts them),
                  `IGNORE_INDEX` everywhere except the assistant turns' content and end-of-turn.
    pixel_values: float ``(T, 3, S, S)`` normalised frames of all the record's videos, concatenated
                  in part order; None without videos.
    timestamps:   float32 ``(T,)`` seconds of each frame (an image: its random time); None without videos.
    frame_counts: frames per video, in order (sum T).
    record_id:    the record's ``id``.
    video_spans:  ``(start, end)`` token positions (end exclusive) of each video's tokens,
                  ``<|video_start|>`` .. ``<|video_end|>``; packing never cuts inside one.
    visual_tokens: instead of frames, each video's visual tokens ``(N_v, D)`` (a frozen vision
                  side's output, `kangaroo.training.visual_cache`); then pixel_values and
                  timestamps are None.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    pixel_values: torch.Tensor | None
    timestamps: torch.Tensor | None
    frame_counts: list[int]
    record_id: str
    video_spans: list[tuple[int, int]] = field(default_factory=list)
    visual_tokens: list[torch.Tensor] | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def num_label_tokens(self) -> int:
        """Positions with a loss once labels are shifted (the first token is never predicted)."""
        return int((self.labels[1:] != IGNORE_INDEX).sum())

    def check(self) -> None:
        """Raise ``ValueError`` when the fields do not fit together (shapes, frame counts, spans)."""
        where = f"example {self.record_id!r}"
        if self.input_ids.dim() != 1 or self.labels.shape != self.input_ids.shape or len(self) < 1:
            raise ValueError(f"{where}: input_ids and labels must be 1-D of the same length > 0, got "
                             f"{tuple(self.input_ids.shape)} and {tuple(self.labels.shape)}")
        frames = sum(self.frame_counts)
        if self.visual_tokens is not None:
            if len(self.visual_tokens) != len(self.frame_counts) or self.pixel_values is not None:
                raise ValueError(f"{where}: {len(self.visual_tokens)} visual token tensors for "
                                 f"{len(self.frame_counts)} videos, or frames beside them")
        elif self.frame_counts:
            if self.pixel_values is None or self.timestamps is None:
                raise ValueError(f"{where}: frame_counts {self.frame_counts} but no pixel_values or timestamps")
            if self.pixel_values.shape[0] != frames or tuple(self.timestamps.shape) != (frames,):
                raise ValueError(f"{where}: frame_counts sum to {frames} but pixel_values has "
                                 f"{self.pixel_values.shape[0]} frames and timestamps {tuple(self.timestamps.shape)}")
        elif self.pixel_values is not None or self.timestamps is not None:
            raise ValueError(f"{where}: pixel_values or timestamps without frame_counts")
        if self.video_spans and len(self.video_spans) != len(self.frame_counts):
            raise ValueError(f"{where}: {len(self.video_spans)} video spans for {len(self.frame_counts)} videos")


def encode_record(
    record: Record | Mapping[str, Any],
    processor: KangarooProcessor,
    root: str | Path,
    *,
    rng: np.random.Generator,
    image_time_range: tuple[float, float] = (0.0, 60.0),
    frame_counts: Sequence[int] | None = None,
) -> Example:
    """Tokenize ``record``, label its assistant turns and load its videos (see the module docstring).

    record:           a `Record` (or its dict); video paths are relative to ``root``.
    processor:        gives the chat template, the video layout and the sampling settings.
    rng:              draws the timestamps of still images.
    image_time_range: ``(low, high)`` seconds for those timestamps (uniform).
    frame_counts:     the frames of each video when already known (its visual tokens are cached):
                      nothing is loaded and the example has no pixel_values (the caller sets
                      ``visual_tokens``).

    Videos (not images) are sampled inside the record's ``start`` / ``end``. Raises
    `ExampleError` naming the record when a video cannot be loaded (its `kangaroo.video.VideoError`
    is the ``__cause__``), when the template does not render turn by turn, or when no assistant
    turn is labelled; ``ValueError`` for a bad ``image_time_range``.
    """
    low, high = (float(t) for t in image_time_range)
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise ValueError(f"image_time_range must be 0 <= low <= high (seconds), got {image_time_range}")
    if not isinstance(record, Record):
        record = Record.from_dict(record)
    paths = video_paths(record, root)
    if count_video_parts(record) != len(paths):
        raise ExampleError(record.id, f"{count_video_parts(record)} video parts but {len(paths)} videos")

    if frame_counts is None:
        videos = [_load_video(record, path, processor, rng, (low, high)) for path in paths]
        frame_counts = [int(pixels.shape[0]) for pixels, _ in videos]
    else:
        if len(frame_counts) != len(paths):
            raise ExampleError(record.id, f"{len(frame_counts)} known frame counts for {len(paths)} videos")
        videos, frame_counts = [], [int(c) for c in frame_counts]
    try:
        input_ids = processor.encode(record.messages, frame_counts, add_generation_prompt=False)[0]  # (L,)
        labels = _assistant_labels(record.messages, frame_counts, processor, input_ids)  # (L,)
        spans = _video_spans(input_ids, processor)
    except ValueError as exc:  # malformed messages, template errors
        raise ExampleError(record.id, str(exc)) from exc
    if len(spans) != len(frame_counts):
        raise ExampleError(record.id, f"found {len(spans)} video spans in the ids for {len(frame_counts)} videos")
    for start, end in spans:  # an assistant turn holding a video part: its video tokens get no loss
        labels[start:end] = IGNORE_INDEX
    example = Example(
        input_ids=input_ids,
        labels=labels,
        pixel_values=torch.cat([p for p, _ in videos]) if videos else None,  # (T, 3, S, S)
        timestamps=torch.cat([t for _, t in videos]) if videos else None,  # (T,)
        frame_counts=frame_counts,
        record_id=record.id,
        video_spans=spans,
    )
    if example.num_label_tokens == 0:
        raise ExampleError(record.id, "no assistant turn to learn from (nothing is labelled)")
    return example


def _load_video(
    record: Record, path: Path, processor: KangarooProcessor, rng: np.random.Generator, time_range: tuple[float, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pixel_values (T, 3, S, S), timestamps (T,))`` of one of the record's videos or images."""
    from kangaroo.video import VideoError
    from kangaroo.video.stills import IMAGE_SUFFIXES

    is_image = path.suffix.lower() in IMAGE_SUFFIXES
    bounds: dict[str, float] = {}
    if not is_image:
        bounds = {name: float(value) for name in ("start", "end") if (value := getattr(record, name)) is not None}
    try:
        pixels, times = processor.load_video_frames(path, **bounds)
    except (VideoError, OSError) as exc:
        raise ExampleError(record.id, f"video {str(path)!r} could not be loaded: {exc}") from exc
    if is_image:  # a 1-frame video at a random time
        times = torch.full((pixels.shape[0],), float(rng.uniform(*time_range)), dtype=torch.float32)
    return pixels, times


def _assistant_labels(
    messages: Sequence[Mapping[str, Any]],
    frame_counts: Sequence[int],
    processor: KangarooProcessor,
    input_ids: torch.Tensor,
) -> torch.Tensor:
    """Labels ``(L,)``: ``input_ids`` on each assistant turn's span, `IGNORE_INDEX` elsewhere."""
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    videos_before = 0  # video parts in messages[:i]
    for i, message in enumerate(messages):
        parts = count_video_parts({"messages": [message]})
        if message.get("role") == "assistant" and i > 0:
            counts_before = frame_counts[:videos_before]
            prefix = processor.encode(messages[:i], counts_before, add_generation_prompt=True)[0]
            through = processor.encode(messages[: i + 1], frame_counts[: videos_before + parts],
                                       add_generation_prompt=False)[0]
            start, end = len(prefix), len(through)
            if (
                end > len(input_ids)
                or not torch.equal(through[:start], prefix)
                or not torch.equal(input_ids[:end], through)
            ):
                raise ValueError(
                    f"the chat template does not render the conversation turn by turn (message {i}): "
                    "cannot find the assistant's tokens"
                )
            labels[start:end] = input_ids[start:end]
        videos_before += parts
    return labels


def _video_spans(input_ids: torch.Tensor, processor: KangarooProcessor) -> list[tuple[int, int]]:
    """``(start, end)`` positions, end exclusive, of each ``<|video_start|>`` .. ``<|video_end|>``."""
    starts = torch.nonzero(input_ids == processor.video_token_ids[VIDEO_START]).flatten().tolist()
    ends = torch.nonzero(input_ids == processor.video_token_ids[VIDEO_END]).flatten().tolist()
    if len(starts) != len(ends) or any(s >= e for s, e in zip(starts, ends, strict=True)):
        raise ValueError("unbalanced video start / end tokens")
    return [(s, e + 1) for s, e in zip(starts, ends, strict=True)]
