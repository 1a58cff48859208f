"""The metrics log of a run (JSON lines) and its loss curve (PNG), both beside the checkpoints.

``run_dir/metrics.jsonl`` holds one object per logged step::

    {"step": 12, "epoch": 0, "loss": 2.91, "lr": 0.00098, "grad_norm": 1.7, "tokens_per_s": 5230.4,
     "padding_fraction": 0.12, "label_tokens": 402, "real_tokens": 2211, "total_tokens": 2512,
     "records": 8, "skipped": 0, "step_s": 0.42, "elapsed_s": 5.1, "time": "2025-01-01T12:00:00+00:00"}

- ``loss``: mean cross-entropy per label token (assistant text only) over the whole step
  (all micro-batches and ranks); ``lr``: the learning rate of the LLM / projector groups
  (the ViT's layers get ``lr * 0.9^k``); ``grad_norm``: global norm before clipping.
- ``tokens_per_s``: real (non-padding) tokens of the step over its wall time (data loading included);
  ``padding_fraction``: padding positions / all positions fed to the LLM in the step.

A line is `StepMetrics.log_entry` of the step's `StepMetrics` (what `step.train_step` returns).
A resumed run first drops the lines past its checkpoint (`MetricsLog.truncate`), so the log ends
with every step once, as if the run had never stopped. A torn last line (a kill mid-write) is
ignored when reading.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kangaroo.io import atomic_path, atomic_write_jsonl, flush_to_disk

METRICS_FILE = "metrics.jsonl"
LOSS_CURVE_FILE = "loss.png"


@dataclass(frozen=True)
class StepMetrics:
    """What one optimizer step measured, summed over the ranks."""

    loss: float  # mean cross-entropy per label token of the step (NaN: no label tokens)
    lr: float  # learning rate of the full-scale groups when the step ran
    grad_norm: float  # global gradient norm before clipping (NaN: no backward)
    label_tokens: int  # tokens the loss is computed on
    real_tokens: int  # non-padding tokens fed to the LLM
    total_tokens: int  # all positions fed to the LLM
    records: int  # records trained on
    skipped: int  # records skipped (not encodable, or too long)
    skipped_ids: tuple[str, ...] = ()  # this rank's skipped record ids

    def log_entry(self, *, step: int, epoch: int, step_seconds: float, elapsed_s: float) -> dict[str, Any]:
        """The step's ``metrics.jsonl`` line (the keys of the module docstring, in that order)."""
        return {
            "step": step, "epoch": epoch, "loss": self.loss, "lr": self.lr, "grad_norm": self.grad_norm,
            "tokens_per_s": self.real_tokens / step_seconds if step_seconds > 0 else None,
            "padding_fraction": 1 - self.real_tokens / self.total_tokens if self.total_tokens else None,
            "label_tokens": self.label_tokens, "real_tokens": self.real_tokens, "total_tokens": self.total_tokens,
            "records": self.records, "skipped": self.skipped,
            "step_s": round(step_seconds, 4), "elapsed_s": round(elapsed_s, 3),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }


class MetricsLog:
    """Append-only JSON-lines log of per-step metrics (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """Every complete entry (a torn or unparsable line is skipped)."""
        return read_metrics(self.path)

    def truncate(self, last_step: int) -> None:
        """Keep only the entries with ``step <= last_step`` (rewritten atomically)."""
        entries = [e for e in self.read() if int(e.get("step", -1)) <= last_step]
        atomic_write_jsonl(self.path, entries)

    def append(self, entry: Mapping[str, Any]) -> None:
        """Write one entry as a line and fsync it (NaN / infinity become null)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in entry.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(json.dumps(clean, ensure_ascii=False) + "\n")
            flush_to_disk(handle)


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of a metrics log (a missing file has none; torn lines are skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    entries = []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # torn last line
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and "step" in entry:
                entries.append(entry)
    return entries


def plot_loss_curve(
    entries: Iterable[Mapping[str, Any]], path: str | os.PathLike[str], title: str = "training loss"
) -> Path:
    """Draw loss (and learning rate, on a second axis) against step into a PNG, atomically.

    Uses matplotlib's Agg backend (no display needed). Returns ``path``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    rows = [e for e in entries if e.get("loss") is not None]
    steps = [int(e["step"]) for e in rows]
    figure = Figure(figsize=(7, 4), dpi=100)
    axis = figure.add_subplot(1, 1, 1)
    axis.plot(steps, [float(e["loss"]) for e in rows], color="tab:blue", label="loss", linewidth=1.2)
    if len(rows) >= 8:  # a running mean makes the trend readable
        window = max(2, len(rows) // 10)
        losses = [float(e["loss"]) for e in rows]
        smooth = [sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
                  for i in range(len(losses))]
        axis.plot(steps, smooth, color="tab:orange", label=f"mean of {window}", linewidth=1.5)
    axis.set_xlabel("step")
    axis.set_ylabel("loss (per label token)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    lr_rows = [e for e in rows if e.get("lr") is not None]
    if lr_rows:
        lr_axis = axis.twinx()
        lr_axis.plot([int(e["step"]) for e in lr_rows], [float(e["lr"]) for e in lr_rows], color="tab:green",
                     linestyle="--", linewidth=1.0, label="lr")
        lr_axis.set_ylabel("learning rate")
        lr_axis.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    axis.legend(loc="upper right")
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
