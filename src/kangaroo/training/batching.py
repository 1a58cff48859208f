"""Examples -> batches: sequence packing (the paper's instruction stages) or right padding.

Packing puts several examples in one row of exactly ``max_length`` tokens, first fit in example
order, with position ids that restart at 0 for every example (`packed_position_ids`):

    row:          [ record A ........ | record B .... | record C ...... | pad pad pad ]
    position_ids: [ 0 1 2 ...         | 0 1 2 ...     | 0 1 2 ...       | 0 1 2       ]
    labels:       [ -100 .. answer A  | -100 .. ans B | -100 .. ans C   | -100 ...    ]

In a forward with ``use_cache=False`` and no attention mask, transformers reads the restarts as a
block-diagonal causal mask: no token attends to another record, and each keeps its own RoPE
positions, so a packed row computes what its records compute one by one. Padding only comes at the
end of a row and forms its own block, so it never reaches a real token (attention is causal) and
has no loss. Every record's first label is `IGNORE_INDEX`, so the last token of one record is never
trained to predict the first token of the next.

An example longer than ``max_length`` is cut at the end only when the cut falls outside every
video's tokens and leaves at least one label; otherwise it is dropped. `pack_examples` logs a
warning that counts them; `pack_examples_with_stats` also returns a `PackingStats`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from kangaroo.model.packing import packed_position_ids

from .examples import IGNORE_INDEX, Example

logger = logging.getLogger(__name__)

# reasons an example is left out of the packed rows
DROP_SPLITS_VIDEO = "longer than max_length and the cut falls inside a video's tokens"
DROP_NO_LABEL_LEFT = "longer than max_length and no label token is left before the cut"
DROP_NO_LABELS = "no label tokens"


@dataclass
class Batch:
    """Model inputs of one optimizer micro-step.

    input_ids:           long ``(B, L)``.
    labels:              long ``(B, L)``: `IGNORE_INDEX` on prompts, videos and padding (the model shifts them).
    attention_mask:      long ``(B, L)`` for padded batches (1 = real token); None for packed rows.
    position_ids:        long ``(B, L)`` restarting at 0 per record in packed rows; None for padded batches.
    pixel_values_videos: float ``(F, 3, S, S)``: the frames of every video, row by row, record by record.
    video_timestamps:    float32 ``(F,)`` seconds.
    video_frame_counts:  long ``(V,)`` frames per video, in the same order.
    video_features:      float ``(N, D)``: instead of the three above, every video's visual tokens in
                         order (the examples carried cached ``visual_tokens``).
    num_real_tokens:     tokens that are not padding.
    num_label_tokens:    positions with a loss after the causal shift (``labels[:, 1:] != -100``).
    record_ids:          the records in the batch, in the same order as their videos.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    attention_mask: torch.Tensor | None
    position_ids: torch.Tensor | None
    pixel_values_videos: torch.Tensor | None
    video_timestamps: torch.Tensor | None
    video_frame_counts: torch.Tensor | None
    num_real_tokens: int
    num_label_tokens: int
    record_ids: list[str] = field(default_factory=list)
    video_features: torch.Tensor | None = None

    @property
    def num_tokens(self) -> int:
        """All positions, padding included (``B * L``)."""
        return int(self.input_ids.numel())

    def model_inputs(self) -> dict[str, Any]:
        """Keyword arguments for ``KangarooForCausalLM.forward(**inputs, use_cache=False)``:
        ``input_ids``, ``labels`` and, when set, ``attention_mask``, ``position_ids`` and the videos."""
        inputs: dict[str, Any] = {"input_ids": self.input_ids, "labels": self.labels}
        for name in ("attention_mask", "position_ids", "pixel_values_videos", "video_timestamps", "video_frame_counts",
                     "video_features"):
            value = getattr(self, name)
            if value is not None:
                inputs[name] = value
        return inputs

    def to(self, device: torch.device | str) -> Batch:
        """A copy with every tensor on ``device`` (dtypes unchanged)."""
        moved = {
            name: (value.to(device) if isinstance(value := getattr(self, name), torch.Tensor) else value)
            for name in ("input_ids", "labels", "attention_mask", "position_ids", "pixel_values_videos",
                         "video_timestamps", "video_frame_counts", "video_features")
        }
        return replace(self, **moved)


@dataclass
class PackingStats:
    """What `pack_examples_with_stats` did with its examples."""

    examples: int = 0  # examples given
    packed: int = 0  # examples placed in rows (truncated ones included)
    truncated: list[str] = field(default_factory=list)  # ids of examples cut at the end
    dropped: dict[str, str] = field(default_factory=dict)  # id -> reason (one of the DROP_* strings)
    rows: int = 0
    real_tokens: int = 0
    total_tokens: int = 0  # rows * max_length

    @property
    def fill(self) -> float:
        """Fraction of the rows' positions that hold real tokens (1.0 = no padding)."""
        return self.real_tokens / self.total_tokens if self.total_tokens else 0.0

    def summary(self) -> str:
        text = (f"packed {self.packed}/{self.examples} examples into {self.rows} rows "
                f"({100 * self.fill:.1f}% real tokens); {len(self.truncated)} truncated, {len(self.dropped)} dropped")
        if self.dropped:
            reasons: dict[str, int] = {}
            for reason in self.dropped.values():
                reasons[reason] = reasons.get(reason, 0) + 1
            text += " (" + "; ".join(f"{n}: {reason}" for reason, n in reasons.items()) + ")"
        return text


def truncate_example(example: Example, max_length: int) -> tuple[Example | None, str | None]:
    """``(example, None)`` when it fits; ``(cut example, None)`` when cutting its end at
    ``max_length`` splits no video and keeps a label; else ``(None, reason)``.

    The cut example keeps only the videos whose tokens lie wholly before the cut (and their frames).
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if len(example) <= max_length:
        return example, None
    spans = example.video_spans
    if example.frame_counts and len(spans) != len(example.frame_counts):
        return None, DROP_SPLITS_VIDEO  # positions unknown: a cut could split a video
    if any(start < max_length < end for start, end in spans):
        return None, DROP_SPLITS_VIDEO
    labels = example.labels[:max_length]
    if not bool((labels[1:] != IGNORE_INDEX).any()):
        return None, DROP_NO_LABEL_LEFT
    kept = sum(1 for _, end in spans if end <= max_length)  # spans are in order
    frames = sum(example.frame_counts[:kept])
    return Example(
        input_ids=example.input_ids[:max_length],
        labels=labels,
        pixel_values=example.pixel_values[:frames] if kept and example.pixel_values is not None else None,
        timestamps=example.timestamps[:frames] if kept and example.timestamps is not None else None,
        frame_counts=list(example.frame_counts[:kept]),
        record_id=example.record_id,
        video_spans=list(spans[:kept]),
        visual_tokens=example.visual_tokens[:kept] if example.visual_tokens is not None else None,
    ), None


def pack_examples_with_stats(
    examples: Sequence[Example], max_length: int, pad_token_id: int, rows_per_batch: int = 1
) -> tuple[list[Batch], PackingStats]:
    """Pack ``examples`` into rows of exactly ``max_length`` tokens (first fit, in order) and group
    ``rows_per_batch`` rows per `Batch` (the last batch may have fewer). Returns the batches and
    what happened to each example (`PackingStats`). Raises ``ValueError`` for bad arguments or
    inconsistent examples."""
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    if rows_per_batch < 1:
        raise ValueError(f"rows_per_batch must be >= 1, got {rows_per_batch}")
    stats = PackingStats(examples=len(examples))
    rows: list[list[Example]] = []
    free: list[int] = []  # free positions of each row
    for example in examples:
        example.check()
        fitted, reason = truncate_example(example, max_length)
        if fitted is not None and fitted.num_label_tokens == 0:
            fitted, reason = None, DROP_NO_LABELS
        if fitted is None:
            stats.dropped[example.record_id] = reason
            continue
        if fitted is not example:
            stats.truncated.append(example.record_id)
        n = len(fitted)
        row = next((i for i, space in enumerate(free) if space >= n), None)
        if row is None:
            rows.append([])
            free.append(max_length)
            row = len(rows) - 1
        rows[row].append(fitted)
        free[row] -= n
        stats.packed += 1
    stats.rows = len(rows)
    stats.real_tokens = sum(max_length - space for space in free)
    stats.total_tokens = len(rows) * max_length
    batches = [
        _packed_batch(rows[i : i + rows_per_batch], max_length, pad_token_id)
        for i in range(0, len(rows), rows_per_batch)
    ]
    return batches, stats


def pack_examples(
    examples: Sequence[Example], max_length: int, pad_token_id: int, rows_per_batch: int = 1
) -> list[Batch]:
    """Packed batches of ``examples`` (see `pack_examples_with_stats`); logs a warning naming how
    many examples were truncated or dropped, and why."""
    batches, stats = pack_examples_with_stats(examples, max_length, pad_token_id, rows_per_batch)
    if stats.truncated or stats.dropped:
        logger.warning("sequence packing at max_length=%d: %s", max_length, stats.summary())
    return batches


def pad_examples(examples: Sequence[Example], pad_token_id: int) -> Batch:
    """One right-padded batch ``(len(examples), longest)`` with an ``attention_mask``: the
    baseline for packing, and for batches that must not be packed. Nothing is truncated."""
    if not examples:
        raise ValueError("pad_examples needs at least one example")
    for example in examples:
        example.check()
    longest = max(len(e) for e in examples)
    input_ids = torch.full((len(examples), longest), pad_token_id, dtype=torch.long)  # (B, L)
    labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)  # (B, L)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)  # (B, L)
    for b, example in enumerate(examples):
        n = len(example)
        input_ids[b, :n] = example.input_ids
        labels[b, :n] = example.labels
        attention_mask[b, :n] = 1
    return Batch(
        input_ids=input_ids,
        labels=labels,
        attention_mask=attention_mask,
        position_ids=None,
        **_videos(examples),
        num_real_tokens=int(attention_mask.sum()),
        num_label_tokens=int((labels[:, 1:] != IGNORE_INDEX).sum()),
        record_ids=[e.record_id for e in examples],
    )


def _packed_batch(rows: Sequence[Sequence[Example]], max_length: int, pad_token_id: int) -> Batch:
    ids, labels, positions = [], [], []
    for row in rows:
        used = sum(len(e) for e in row)
        pad = max_length - used
        assert pad >= 0 and row, "a packed row overflows or is empty"
        row_labels = []
        for example in row:
            record_labels = example.labels.clone()
            record_labels[0] = IGNORE_INDEX  # the previous record's last token predicts nothing
            row_labels.append(record_labels)
        lengths = [len(e) for e in row] + ([pad] if pad else [])
        ids.append(torch.cat([*(e.input_ids for e in row), torch.full((pad,), pad_token_id, dtype=torch.long)]))
        labels.append(torch.cat([*row_labels, torch.full((pad,), IGNORE_INDEX, dtype=torch.long)]))
        positions.append(packed_position_ids(lengths)[0])  # padding is a block of its own
    labels_t = torch.stack(labels)  # (B, L)
    ordered = [e for row in rows for e in row]
    return Batch(
        input_ids=torch.stack(ids),  # (B, L)
        labels=labels_t,
        attention_mask=None,
        position_ids=torch.stack(positions),  # (B, L)
        **_videos(ordered),
        num_real_tokens=sum(len(e) for e in ordered),
        num_label_tokens=int((labels_t[:, 1:] != IGNORE_INDEX).sum()),
        record_ids=[e.record_id for e in ordered],
    )


def _videos(examples: Sequence[Example]) -> dict[str, torch.Tensor | None]:
    """The examples' frames, timestamps and frame counts concatenated in order (None without videos)."""
    with_video = [e for e in examples if e.frame_counts]
    if not with_video:
        return {"pixel_values_videos": None, "video_timestamps": None, "video_frame_counts": None}
    if all(e.visual_tokens is not None for e in with_video):
        return {"pixel_values_videos": None, "video_timestamps": None, "video_frame_counts": None,
                "video_features": torch.cat([t for e in with_video for t in e.visual_tokens])}  # (N, D)
    if any(e.visual_tokens is not None for e in with_video):
        raise ValueError("a batch mixes examples with cached visual tokens and examples with frames")
    return {
        "pixel_values_videos": torch.cat([e.pixel_values for e in with_video]),  # (F, 3, S, S)
        "video_timestamps": torch.cat([e.timestamps for e in with_video]).to(torch.float32),  # (F,)
        "video_frame_counts": torch.tensor([c for e in with_video for c in e.frame_counts], dtype=torch.long),
    }
