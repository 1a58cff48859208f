"""Look inside a model before tuning it: does it use the video, and where does its loss go?

`diagnose` runs a model over choice-question records (each with ``meta.options`` and
``meta.answer``) three times, with the real video, a blank one and another record's video, and
measures:

- **loss per token type**: the answer's first token (the first word of the chosen option, which
  depends on the video) apart from the rest of the answer (the rest of the option's text, copied
  from the question once the first word is written);
- **option ranking**: the option whose text (the synthetic world's answer, `multiple_choice`) the
  model finds most likely, right or wrong: accuracy without any answer parsing;
- **visual tokens**: their norm against the text embeddings' norm, how much two videos' visual
  tokens differ (relative to their norm), and how much the vision tower's features change from one
  frame to the next.

A model that reads the video has a lower first-token loss and a higher ranking accuracy with the real
video than with the blank or shuffled one; a model that reads only the question does not.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from kangaroo.data.records import Record, count_video_parts, video_paths

CONDITIONS: tuple[str, ...] = ("real", "blank", "shuffled")


@dataclass
class ConditionStats:
    """Measures of one condition (real, blank or shuffled video), averaged over records."""

    first_token_loss: float  # nats, the answer's first token (the option's first word)
    rest_loss: float  # nats per token, the rest of the answer
    ranking_accuracy: float  # share of records whose most likely option is the right one


@dataclass
class Diagnosis:
    """What `diagnose` measured; ``conditions`` maps real / blank / shuffled to their stats."""

    records: int
    conditions: dict[str, ConditionStats]
    visual_token_norm: float  # mean L2 norm of a visual token (the projector's output)
    text_embedding_norm: float  # mean L2 norm of the prompt's text token embeddings
    between_video_difference: float  # mean ||v_a - v_b|| / ||v_a|| over consecutive records' videos
    frame_to_frame_change: float  # mean ||f_t+1 - f_t|| / ||f_t|| of the vision tower's features
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DiagnosisError(ValueError):
    """The records cannot be diagnosed (no choice questions, fewer than two videos, ...)."""


def diagnose(model: torch.nn.Module, processor: Any, records: Sequence[Record], root: str | os.PathLike[str],
             num_frames: int | None = None) -> Diagnosis:
    """Diagnose ``model`` on choice-question ``records`` whose videos lie under ``root``.

    Each record needs one video, a user turn and an assistant answer, and ``meta.options`` with
    ``meta.answer`` (a letter). ``num_frames`` overrides the processor's frame count
    (`FrameSampling.with_frames`).
    Raises `DiagnosisError` when fewer than two usable records are given.
    """
    usable = [r for r in records if _is_choice(r)]
    if len(usable) < 2:
        raise DiagnosisError(f"need at least two single-video choice records (meta.options, meta.answer); "
                             f"got {len(usable)} of {len(records)}")
    model.eval()
    if num_frames is not None:
        processor = processor.with_sampling(processor.sampling.with_frames(num_frames))
    videos = [processor.load_video_frames(video_paths(r, root)[0]) for r in usable]
    with torch.no_grad():
        features = [_features(model, pixels, times) for pixels, times in videos]  # [(N, D)]
        blank = _features(model, torch.zeros_like(videos[0][0]), videos[0][1])
        frame_change = _frame_change(model, videos)
        text_norms = []
        sums = {c: [0.0, 0.0, 0, 0] for c in CONDITIONS}  # first-token loss, rest loss, rest tokens, ranked right
        for i, record in enumerate(usable):
            prompt = _prompt_ids(processor, record, int(videos[i][0].shape[0]))
            text_norms.append(_text_norm(model, prompt, processor))
            shuffled = features[(i + 1) % len(usable)]
            for condition, feats in (("real", features[i]), ("blank", blank), ("shuffled", shuffled)):
                for k, value in enumerate(_answer_scores(model, processor, prompt, feats, record)):
                    sums[condition][k] += value
    n = len(usable)
    conditions = {c: ConditionStats(first_token_loss=s[0] / n, rest_loss=s[1] / max(1, s[2]), ranking_accuracy=s[3] / n)
                  for c, s in sums.items()}
    visual_norm = float(torch.cat(features).norm(dim=-1).mean())
    differences = [float((a - b).norm() / a.norm()) for a, b in itertools.pairwise(features)
                   if a.shape == b.shape]
    notes = []
    if len(usable) < len(records):
        notes.append(f"{len(records) - len(usable)} records skipped (not a single-video choice question)")
    return Diagnosis(records=n, conditions=conditions, visual_token_norm=visual_norm,
                     text_embedding_norm=sum(text_norms) / n,
                     between_video_difference=sum(differences) / max(1, len(differences)),
                     frame_to_frame_change=frame_change, notes=notes)


def _is_choice(record: Record) -> bool:
    meta = record.meta or {}
    return (count_video_parts(record) == 1 and bool(meta.get("options")) and isinstance(meta.get("answer"), str)
            and len(record.messages) >= 2 and record.messages[1].get("role") == "assistant")


def _features(model: torch.nn.Module, pixels: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Visual tokens ``(N, D)`` of one video: pixels ``(T, 3, S, S)``, times ``(T,)``."""
    return model.get_video_features(pixels, times, [int(pixels.shape[0])])[0].float()


def _frame_change(model: torch.nn.Module, videos: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean relative change of the vision tower's features between consecutive frames."""
    changes = []
    for pixels, _ in videos[:8]:
        if pixels.shape[0] < 2:
            continue
        frames = model.encode_frames(pixels).float()  # (T, P, C)
        changes.append(float(((frames[1:] - frames[:-1]).norm(dim=(1, 2)) / frames[:-1].norm(dim=(1, 2))).mean()))
    return sum(changes) / len(changes) if changes else math.nan


def _prompt_ids(processor: Any, record: Record, frame_count: int) -> list[int]:
    return processor.encode(record.messages[:1], [frame_count], add_generation_prompt=True)[0].tolist()


def _text_norm(model: torch.nn.Module, prompt: list[int], processor: Any) -> float:
    special = set(processor.video_token_ids.values())
    ids = torch.tensor([t for t in prompt if t not in special])
    return float(model.get_input_embeddings()(ids).float().norm(dim=-1).mean())


def _answer_ids(processor: Any, text: str) -> list[int]:
    """An option's text as the assistant's reply, end-of-turn included."""
    eos = processor.tokenizer.convert_tokens_to_ids("<|eot_id|>")
    return [*processor.encode_text(text), eos]


def _answer_logps(model: torch.nn.Module, processor: Any, prompt: list[int], features: torch.Tensor,
                  answers: list[list[int]]) -> list[torch.Tensor]:
    """Per answer (token ids after ``prompt``), the log-probability of each of its tokens."""
    width = len(prompt) + max(len(a) for a in answers)
    pad = processor.tokenizer.pad_token_id or 0
    rows = [prompt + a + [pad] * (width - len(prompt) - len(a)) for a in answers]
    input_ids = torch.tensor(rows)  # (K, L)
    attention = torch.tensor([[1] * (len(prompt) + len(a)) + [0] * (width - len(prompt) - len(a)) for a in answers])
    video = torch.cat([features] * len(answers))  # one copy per answer row
    logits = model(input_ids=input_ids, attention_mask=attention, video_features=video).logits.float()
    logp = torch.log_softmax(logits[:, len(prompt) - 1 : -1], dim=-1)  # (K, L - len(prompt), V)
    return [logp[k, torch.arange(len(a)), torch.tensor(a)] for k, a in enumerate(answers)]  # [(len(a),)]


def _answer_scores(model: torch.nn.Module, processor: Any, prompt: list[int], features: torch.Tensor,
                   record: Record) -> tuple[float, float, int, bool]:
    """``(first-token loss, summed rest loss, rest tokens, ranked right)`` of one record."""
    options = list(record.meta["options"])
    right = ord(record.meta["answer"]) - ord("A")
    scores = _answer_logps(model, processor, prompt, features, [_answer_ids(processor, text) for text in options])
    truth = scores[right]
    best = max(range(len(options)), key=lambda k: float(scores[k].sum()))
    return float(-truth[0]), float(-truth[1:].sum()), len(truth) - 1, best == right


def format_diagnosis(diagnosis: Diagnosis) -> str:
    """A Markdown table of ``diagnosis`` (what ``kangaroo diagnose`` prints)."""
    lines = ["| measure | real | blank | shuffled |", "|---|---|---|---|"]
    for label, key in (("answer's first token (the option's first word) loss, nats", "first_token_loss"),
                       ("rest of the answer, nats per token", "rest_loss"),
                       ("option ranking accuracy", "ranking_accuracy")):
        cells = [f"{getattr(diagnosis.conditions[c], key):.3f}" for c in CONDITIONS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| visual tokens | value |",
        "|---|---|",
        f"| visual token norm | {diagnosis.visual_token_norm:.3f} |",
        f"| text embedding norm | {diagnosis.text_embedding_norm:.3f} |",
        f"| ratio | {diagnosis.visual_token_norm / max(diagnosis.text_embedding_norm, 1e-12):.1f}x |",
        f"| between-video difference | {100 * diagnosis.between_video_difference:.1f}% of the norm |",
        f"| frame-to-frame change of vision features | {100 * diagnosis.frame_to_frame_change:.1f}% |",
        f"| records | {diagnosis.records} |",
    ]
    lines += [f"\nnote: {n}" for n in diagnosis.notes]
    return "\n".join(lines)


def read_choice_records(path: str | os.PathLike[str], limit: int | None = None) -> tuple[list[Record], Path]:
    """Records of a JSONL file and the folder their video paths are relative to."""
    from kangaroo.data.records import read_records

    records = []
    for record in read_records(path):
        records.append(record)
        if limit is not None and len(records) >= limit:
            break
    return records, Path(path).parent
