"""Choose a filter's threshold from a few clips you labelled ``keep`` or ``drop``.

Each labelled clip is measured once with the filter's own ``measure``; then every candidate
threshold (each distinct measured value, and the configured one) is scored as a detector of the
clips to drop: precision = labelled-drop among those it drops, recall = the labelled-drop clips
it drops. The best threshold has the best F1 (ties: the one dropping fewest clips); the
suggestion is the middle of the gap between it and the next measured value, the threshold with
the widest margin on both sides that splits the labelled clips the same way.

Labels: a JSONL file of records ``{"video": path, "start"?: s, "end"?: s, "label": "keep"|"drop"}``
(``video`` relative to the file's folder or absolute; for caption refinement, records with
``messages`` holding the caption).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .inputs import InputError


@dataclass(frozen=True)
class ThresholdScore:
    """How one threshold separates the labelled clips (drop = positive)."""

    threshold: float
    dropped: int
    precision: float
    recall: float
    f1: float


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """Labelled records. Raises `InputError` for a missing file, bad JSON or a bad label."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such labels file") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc})") from None
        if not isinstance(item, dict) or item.get("label") not in ("keep", "drop") or "video" not in item:
            raise InputError(f"{path}:{number}: needs 'video' and 'label': 'keep' or 'drop'")
        video = Path(item["video"])
        item["video"] = str(video if video.is_absolute() else path.parent / video)
        item.setdefault("id", f"{item['video']}#{number}")
        records.append(item)
    if not {r["label"] for r in records} >= {"keep", "drop"}:
        raise InputError(f"{path}: label at least one clip 'keep' and one 'drop'")
    return records


def measure_all(step: Any, records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], float | None, str]]:
    """``(record, value or None, error)`` for each record, with the step's ``measure``."""
    from kangaroo.video import VideoError

    out = []
    for record in records:
        try:
            out.append((record, float(step.measure(record)), ""))
        except VideoError as exc:
            out.append((record, None, str(exc)))
    return out


def sweep(step: Any, measured: list[tuple[dict[str, Any], float | None, str]]) -> list[ThresholdScore]:
    """Every candidate threshold's precision / recall / F1 of dropping the clips labelled drop."""
    rows = [(r["label"] == "drop", v) for r, v, _ in measured if v is not None]
    candidates = sorted({v for _, v in rows} | {float(step.threshold)})
    positives = sum(is_drop for is_drop, _ in rows)
    scores = []
    for threshold in candidates:
        step_at = _with_threshold(step, threshold)
        predicted = [(is_drop, not step_at.keeps(v)) for is_drop, v in rows]
        hits = sum(1 for is_drop, drop in predicted if is_drop and drop)
        dropped = sum(1 for _, drop in predicted if drop)
        precision = hits / dropped if dropped else 1.0
        recall = hits / positives if positives else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(ThresholdScore(threshold, dropped, precision, recall, f1))
    return scores


def best(scores: list[ThresholdScore]) -> ThresholdScore:
    """The threshold of best F1 (ties: fewest clips dropped)."""
    return max(scores, key=lambda s: (s.f1, -s.dropped))


def suggest(step: Any, scores: list[ThresholdScore],
            measured: list[tuple[dict[str, Any], float | None, str]]) -> float:
    """The middle of the gap between the best threshold and the next measured value on the side
    it keeps (or the best threshold itself when there is none)."""
    chosen = best(scores).threshold
    values = sorted({v for _, v, _ in measured if v is not None})
    if step.drop_above:
        beyond = [v for v in values if v > chosen]
        return (chosen + beyond[0]) / 2 if beyond else chosen
    below = [v for v in values if v < chosen]
    return (chosen + below[-1]) / 2 if below else chosen


def _with_threshold(step: Any, threshold: float) -> Any:
    import copy

    clone = copy.copy(step)
    clone.threshold = threshold
    return clone
