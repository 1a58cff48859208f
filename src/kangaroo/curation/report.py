"""The data report of a curation run: ``report.md`` with PNGs in ``report/``.

Sections: the keep/drop funnel (records in and out of each step, drops per reason), the category
distribution before and after balancing (top 20, like the paper's Fig. 4), the distribution of
each measured value with the step's threshold marked, and thumbnails of kept records and of
dropped records per reason (the middle frame of each clip, with its id and value).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from kangaroo.io import atomic_path, atomic_write_text

from .pipeline import Pipeline
from .shards import read_jsonl

THUMBNAILS = 6  # examples per reason
THUMB_WIDTH = 160


def write_report(out: Path, pipeline: Pipeline) -> Path:
    """Write ``out/report.md`` and its images from the files of a finished run; returns its path."""
    import matplotlib

    matplotlib.use("Agg")

    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    measures = json.loads((out / "measures.json").read_text(encoding="utf-8"))
    images = out / "report"
    images.mkdir(exist_ok=True)
    lines = [f"# Data report: {pipeline.name}", "",
             f"{stats['inputs']} input videos -> {stats['kept']} kept records, {stats['excluded']} excluded "
             f"({stats['worker_seconds']:.0f} worker-seconds).", ""]
    lines += _funnel(stats, images)
    lines += _categories(out, stats, images)
    lines += _distributions(measures, pipeline, images)
    lines += _examples(out, images)
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines).rstrip() + "\n")
    return path


def _funnel(stats: dict[str, Any], images: Path) -> list[str]:
    import matplotlib.pyplot as plt

    lines = ["## Funnel", "", "| step | in | out | dropped (by reason) | undecodable |", "|---|---|---|---|---|"]
    names, outs = ["input"], [stats["inputs"]]
    for name, s in stats["steps"].items():
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(s["dropped"].items())) or "-"
        lines.append(f"| {name} | {s['in']} | {s['out']} | {reasons} | {s['quarantined']} |")
        names.append(name)
        outs.append(s["out"])
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(names) + 1))
    ax.barh(names[::-1], outs[::-1], color="#4c72b0")
    ax.set_xlabel("records remaining after the step (scene cut makes clips from videos)")
    fig.tight_layout()
    with atomic_path(images / "funnel.png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return [*lines, "", "![funnel](report/funnel.png)", ""]


def _category_counts_before(out: Path) -> Counter | None:
    plan_file = out / "plans" / "category_balance.json"
    if not plan_file.exists():
        return None
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    return Counter(plan["counts"])


def _categories(out: Path, stats: dict[str, Any], images: Path) -> list[str]:
    import matplotlib.pyplot as plt

    after = Counter(stats["categories_kept"])
    before = _category_counts_before(out)
    if not after and not before:
        return []
    top = [c for c, _ in (before or after).most_common(20)]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = range(len(top))
    total_after = max(1, sum(after.values()))
    if before:
        total_before = max(1, sum(before.values()))
        ax.bar([i - 0.2 for i in x], [100 * before[c] / total_before for c in top], width=0.4, label="before balance")
    ax.bar([i + 0.2 if before else i for i in x], [100 * after[c] / total_after for c in top], width=0.4,
           label="kept")
    ax.set_xticks(list(x), top, rotation=45, ha="right")
    ax.set_ylabel("share of records (%)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(images / "categories.png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    lines = ["## Categories (top 20)", "", "| category | before balance | kept |", "|---|---|---|"]
    lines += [f"| {c} | {before[c] if before else '-'} | {after[c]} |" for c in top]
    return [*lines, "", "![categories](report/categories.png)", ""]


def _thresholds(pipeline: Pipeline) -> dict[str, float]:
    return {s.step: float(s.options["threshold"]) for s in pipeline.steps if "threshold" in s.options}


def _distributions(measures: dict[str, list[float]], pipeline: Pipeline, images: Path) -> list[str]:
    import matplotlib.pyplot as plt

    if not measures:
        return []
    thresholds = _thresholds(pipeline)
    lines = ["## Measured values", "", "| value | count | min | median | max | threshold |", "|---|---|---|---|---|---|"]
    for name, values in sorted(measures.items()):
        ordered = sorted(values)
        threshold = thresholds.get(name)
        lines.append(f"| {name} | {len(values)} | {ordered[0]:.4g} | {ordered[len(ordered) // 2]:.4g} | "
                     f"{ordered[-1]:.4g} | {'-' if threshold is None else f'{threshold:g}'} |")
        fig, ax = plt.subplots(figsize=(5, 2.8))
        ax.hist(values, bins=30, color="#55a868")
        if threshold is not None:
            ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:g}")
            ax.legend()
        ax.set_title(name)
        ax.set_ylabel("records")
        fig.tight_layout()
        with atomic_path(images / f"measure_{name}.png") as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
    lines.append("")
    lines += [f"![{name}](report/measure_{name}.png)" for name in sorted(measures)]
    return [*lines, ""]


def _examples(out: Path, images: Path) -> list[str]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in read_jsonl(out / "kept.jsonl")[:THUMBNAILS]:
        groups.setdefault("kept", []).append({"record": row, "value": None})
    for row in read_jsonl(out / "excluded.jsonl"):
        key = f"{row['step']}: {row['reason']}"
        if len(groups.setdefault(key, [])) < THUMBNAILS:
            groups[key].append(row)
    lines = ["## Examples", ""]
    for index, (key, rows) in enumerate(groups.items()):
        sheet = _thumbnail_sheet(rows, images / f"examples_{index:02d}.png")
        lines += [f"**{key}**", ""]
        lines += [f"- `{r['record'].get('id')}`" + (f": {r['value']:.4g}" if isinstance(r.get("value"), float) else "")
                  + (f" ({r['detail'][:120]})" if r.get("detail") else "") for r in rows]
        lines += ["", f"![{key}](report/{sheet.name})" if sheet.exists() else "(no frame could be read)", ""]
    return lines


def _thumbnail_sheet(rows: list[dict[str, Any]], path: Path) -> Path:
    """The middle frame of each record's clip side by side (records whose video fails are left out)."""
    import numpy as np
    from PIL import Image

    from kangaroo.video import FrameSampling, VideoError, load_video

    thumbs = []
    for row in rows:
        record = row["record"]
        try:
            clip = load_video(record["video"], FrameSampling(num_frames=1), start=record.get("start"), end=record.get("end"),
                              size=(THUMB_WIDTH, THUMB_WIDTH * 9 // 16), seek="keyframe", aspect="pad")
        except (VideoError, KeyError, TypeError):
            continue
        thumbs.append(clip.frames[0])
    if thumbs:
        with atomic_path(path) as tmp:
            Image.fromarray(np.concatenate(thumbs, axis=1)).save(tmp)  # (h, n*w, 3)
    return path
