"""Collect finished task runs into ``results.json``, Markdown tables and PNG plots.

``results.md`` has the layout of the paper's Table III (one row per model, one column per
benchmark), Table IV (Video-MME by duration, without and with subtitles) and Table V (SEED-Bench
video dimensions) where those tasks were run, then every task's strict / lenient accuracy,
unparsed replies, errors and per-group results. Plots: accuracy per task, and accuracy against
frame count for tasks run with several frame counts.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from kangaroo.io import atomic_path, atomic_write_json, atomic_write_text

# Table III's columns in the paper's order (tasks we have), then the rest
TABLE_III = ["mvbench", "mlvu", "lvbench", "egoschema", "tempcompass", "longvideobench"]
VIDEOMME = ("videomme", "videomme_sub")
SEED_DIMENSIONS = {"Action Recognition": "AR", "Action Prediction": "AP", "Procedure Understanding": "PU"}


def collect_runs(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every finished run (``<task>/frames_<N>/metrics.json`` + manifest) under ``out_dir``."""
    runs = []
    for metrics_path in sorted(Path(out_dir).glob("*/frames_*/metrics.json")):
        manifest_path = metrics_path.with_name("manifest.json")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
        runs.append({"metrics": json.loads(metrics_path.read_text(encoding="utf-8")), "manifest": manifest,
                     "folder": str(metrics_path.parent)})
    return sorted(runs, key=lambda r: (r["metrics"]["task"], r["metrics"]["frames"]))


def write_report(out_dir: str | os.PathLike[str], others: list[str | os.PathLike[str]] = (),
                 plots: bool = True) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and ``plots/*.png`` into ``out_dir`` from its runs
    (and, as further table rows, from the runs in ``others``). Returns the written paths."""
    out = Path(out_dir)
    models = [_model_entry(out)] + [_model_entry(Path(o)) for o in others]
    written = {"json": out / "results.json", "markdown": out / "results.md"}
    summary = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "model": models[0]["model"],
               "runs": [_run_entry(r) for r in models[0]["runs"] + models[0]["controls"] + models[0]["follow_ups"]]}
    atomic_write_json(written["json"], summary)  # concurrent shards may both write
    atomic_write_text(written["markdown"], render_markdown(models))
    if plots and models[0]["runs"]:
        written.update(write_plots(models[0]["runs"], out / "plots"))
    return written


def _model_entry(out: Path) -> dict[str, Any]:
    every = collect_runs(out)
    model = every[0]["manifest"].get("model", {}) if every else {}
    asked_first = [r for r in every if not r["metrics"].get("follow_up")]
    runs = [r for r in asked_first if not r["metrics"].get("video_control")]
    controls = [r for r in asked_first if r["metrics"].get("video_control")]
    follow_ups = [r for r in every if r["metrics"].get("follow_up")]
    return {"name": model.get("name", out.name), "model": model, "runs": runs, "controls": controls,
            "follow_ups": follow_ups}


def _run_entry(run: dict[str, Any]) -> dict[str, Any]:
    metrics = run["metrics"]
    return {"task": metrics["task"], "title": metrics["title"], "frames": metrics["frames"],
            "prompt": metrics["prompt"], "video_control": metrics.get("video_control"),
            "follow_up": metrics.get("follow_up"), "overall": metrics["overall"], "groups": metrics["groups"],
            "errors": metrics["errors"], "manifest": run["manifest"], "folder": run["folder"]}


def _size(model: dict[str, Any]) -> str:
    n = model.get("parameters")
    if not n:
        return "-"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}".replace(".0", "")
    return str(n)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _best_by_task(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The run of each task with the most frames (the tables' cells)."""
    chosen: dict[str, dict[str, Any]] = {}
    for run in runs:
        task = run["metrics"]["task"]
        if task not in chosen or run["metrics"]["frames"] > chosen[task]["metrics"]["frames"]:
            chosen[task] = run
    return chosen


def render_markdown(models: list[dict[str, Any]]) -> str:
    """The results tables as Markdown (see the module docstring)."""
    lines = ["# Evaluation results", ""]
    chosen = [_best_by_task(m["runs"]) for m in models]
    tasks = [t for t in TABLE_III if any(t in c for c in chosen)]
    tasks += sorted({t for c in chosen for t in c} - set(tasks) - set(VIDEOMME))
    if tasks:
        lines += ["## Benchmarks (layout of the paper's Table III)", "",
                  "Accuracy (%) with lenient answer extraction; grounding tasks: share within 1 s. "
                  "A `*` marks a task with samples that could not be run (see its errors).", ""]
        titles = [_title(chosen, t) for t in tasks]
        lines += ["| Model | Size | " + " | ".join(titles) + " |", "|---|---|" + "---|" * len(tasks)]
        for model, runs in zip(models, chosen, strict=True):
            cells = [_cell(runs.get(t)) for t in tasks]
            lines.append(f"| {model['name']} | {_size(model['model'])} | " + " | ".join(cells) + " |")
        lines.append("")
    if any(t in c for c in chosen for t in VIDEOMME):
        lines += _videomme_table(models, chosen)
    if any("seedbench_video" in c for c in chosen):
        lines += _seed_table(models, chosen)
    if models[0]["controls"]:
        lines += _controls_table(models[0])
    if models[0]["follow_ups"]:
        lines += _follow_up_table(models[0])
    for model in models[:1]:
        for run in model["runs"] + model["controls"] + model["follow_ups"]:
            lines += _task_details(run)
    return "\n".join(lines).rstrip() + "\n"


def _title(chosen: list[dict[str, dict[str, Any]]], task: str) -> str:
    return next(c[task]["metrics"]["title"] for c in chosen if task in c)


def _cell(run: dict[str, Any] | None) -> str:
    if run is None:
        return "-"
    metrics = run["metrics"]
    mark = "*" if metrics["overall"].get("errors") else ""
    return _fmt(metrics["overall"].get("accuracy")) + mark


def _videomme_table(models: list[dict[str, Any]], chosen: list[dict[str, dict[str, Any]]]) -> list[str]:
    lines = ["## Video-MME (layout of the paper's Table IV)", "",
             "| Model | Size | Frames | Short w/o subs | Short w subs | Medium w/o subs | Medium w subs "
             "| Long w/o subs | Long w subs | Overall w/o subs | Overall w subs |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, runs in zip(models, chosen, strict=True):
        without, with_subs = runs.get("videomme"), runs.get("videomme_sub")
        cells = []
        for duration in ("short", "medium", "long"):
            for run in (without, with_subs):
                group = (run or {}).get("metrics", {}).get("groups", {}).get("duration", {}).get(duration, {})
                cells.append(_fmt(group.get("accuracy")))
        cells += [_cell(without), _cell(with_subs)]
        frames = sorted({r["metrics"]["frames"] for r in (without, with_subs) if r})
        lines.append(f"| {model['name']} | {_size(model['model'])} | {'/'.join(map(str, frames))} | "
                     + " | ".join(cells) + " |")
    return [*lines, ""]


def _seed_table(models: list[dict[str, Any]], chosen: list[dict[str, dict[str, Any]]]) -> list[str]:
    lines = ["## SEED-Bench video dimensions (layout of the paper's Table V)", "",
             "| Model | Size | AR | AP | PU | Avg. |", "|---|---|---|---|---|---|"]
    for model, runs in zip(models, chosen, strict=True):
        run = runs.get("seedbench_video")
        groups = (run or {}).get("metrics", {}).get("groups", {}).get("dimension", {})
        cells = [_fmt(groups.get(name, {}).get("accuracy")) for name in SEED_DIMENSIONS]
        lines.append(f"| {model['name']} | {_size(model['model'])} | " + " | ".join(cells) + f" | {_cell(run)} |")
    return [*lines, ""]


def _controls_table(model: dict[str, Any]) -> list[str]:
    """Accuracy with the real video beside the video controls (blank, shuffled) of the same task."""
    from .video_control import VIDEO_CONTROLS

    real = {(r["metrics"]["task"], r["metrics"]["frames"]): r for r in model["runs"]}
    controlled: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for run in model["controls"]:
        key = (run["metrics"]["task"], run["metrics"]["frames"])
        controlled.setdefault(key, {})[run["metrics"]["video_control"]] = run
    lines = ["## Video controls", "",
             "Accuracy (%) with each sample's real video, a blank (grey) video of the same length, and another "
             "sample's video. A model that reads the video drops towards chance under both controls.", "",
             "| Task | Frames | Real video | " + " | ".join(c.capitalize() for c in VIDEO_CONTROLS) + " |",
             "|---|---|---|" + "---|" * len(VIDEO_CONTROLS)]
    for (task, frames), runs in sorted(controlled.items()):
        title = next(iter(runs.values()))["metrics"]["title"]
        cells = [_cell(real.get((task, frames)))] + [_cell(runs.get(c)) for c in VIDEO_CONTROLS]
        lines.append(f"| {title} | {frames} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _follow_up_table(model: dict[str, Any]) -> list[str]:
    """Accuracy of each question asked first beside the same question asked as a follow-up."""

    def key(run: dict[str, Any]) -> tuple[str, int, str]:
        m = run["metrics"]
        return m["task"], m["frames"], m.get("video_control") or "real"

    first = {key(r): r for r in model["runs"] + model["controls"]}
    lines = ["## Follow-up questions", "",
             "Accuracy (%) of each question asked first, and asked as the second turn of a conversation "
             "about the same video (after the first question below and the model's own reply). A model "
             "that keeps the video in mind answers both alike.", "",
             "| Task | Frames | Video | First question | Asked first | As a follow-up |", "|---|---|---|---|---|---|"]
    for run in sorted(model["follow_ups"], key=key):
        task, frames, video = key(run)
        lines.append(f"| {run['metrics']['title']} | {frames} | {video} | {run['metrics']['follow_up']} | "
                     f"{_cell(first.get((task, frames, video)))} | {_cell(run)} |")
    return [*lines, ""]


def _task_details(run: dict[str, Any]) -> list[str]:
    metrics, manifest = run["metrics"], run["manifest"]
    overall = metrics["overall"]
    control = f", video control: {metrics['video_control']}" if metrics.get("video_control") else ""
    control += ", as a follow-up" if metrics.get("follow_up") else ""
    lines = [f"## {metrics['title']} ({metrics['task']}, {metrics['frames']} frames, prompt `{metrics['prompt']}`"
             f"{control})", ""]
    head = ["samples", "scored", "errors", "accuracy (lenient)"]
    if metrics["scoring"] == "choice":
        head += ["accuracy (strict)", "unparsed (%)"]
        values = [overall.get("accuracy"), overall.get("accuracy_strict"), overall.get("unparsed_rate")]
    elif metrics["scoring"] == "keywords":
        head += ["keyword recall (%)"]
        values = [overall.get("accuracy"), overall.get("keyword_recall")]
    else:
        head += ["mean abs. error (s)", "unparsed (%)"]
        mae = overall.get("mae_seconds")
        values = [overall.get("accuracy"), mae, overall.get("unparsed_rate")]
    counts = [str(overall["total"]), str(overall["scored"]), str(overall["errors"])]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
              "| " + " | ".join(counts + [_fmt(v) if v is not None else "-" for v in values]) + " |", ""]
    if overall.get("average"):
        lines += [f"Overall accuracy is the {overall['average']} (micro: {_fmt(overall.get('accuracy_micro'))}).", ""]
    for key, values_by_group in metrics["groups"].items():
        lines += [f"| {key} | samples | accuracy (lenient) | accuracy (strict) | unparsed (%) |", "|---|---|---|---|---|"]
        for value, m in values_by_group.items():
            lines.append(f"| {value} | {m['total']} | {_fmt(m.get('accuracy'))} | "
                         f"{_fmt(m.get('accuracy_strict'))} | {_fmt(m.get('unparsed_rate'))} |")
        lines.append("")
    if metrics["errors"]:
        lines += [f"Errors ({len(metrics['errors'])}, not scored):", ""]
        lines += [f"- `{e['id']}`: {e['error']}" for e in metrics["errors"][:20]]
        if len(metrics["errors"]) > 20:
            lines.append(f"- ... and {len(metrics['errors']) - 20} more (predictions.jsonl)")
        lines.append("")
    model = manifest.get("model", {})
    lines += [f"Model `{model.get('name', '?')}`; decoding greedy; data `{manifest.get('task', {}).get('data_dir', '?')}`.", ""]
    return lines


def write_plots(runs: list[dict[str, Any]], folder: Path) -> dict[str, Path]:
    """``accuracy_by_task.png`` and, for tasks run with several frame counts, ``accuracy_vs_frames.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    chosen = list(_best_by_task(runs).values())
    names = [r["metrics"]["title"] for r in chosen]
    lenient = [r["metrics"]["overall"].get("accuracy") or 0.0 for r in chosen]
    strict = [r["metrics"]["overall"].get("accuracy_strict") or 0.0 for r in chosen]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.6))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], lenient, width=0.4, label="lenient")
    ax.bar([i + 0.2 for i in x], strict, width=0.4, label="strict")
    ax.set_xticks(list(x), names, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    fig.tight_layout()
    written["accuracy_by_task"] = folder / "accuracy_by_task.png"
    with atomic_path(written["accuracy_by_task"]) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)

    by_task: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_task.setdefault(run["metrics"]["task"], []).append(run)
    sweeps = {t: rs for t, rs in by_task.items() if len(rs) > 1}
    if sweeps:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for task_runs in sweeps.values():
            task_runs = sorted(task_runs, key=lambda r: r["metrics"]["frames"])
            ax.plot([r["metrics"]["frames"] for r in task_runs],
                    [r["metrics"]["overall"].get("accuracy") or 0.0 for r in task_runs],
                    marker="o", label=task_runs[0]["metrics"]["title"])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("frames")
        ax.set_ylabel("accuracy (%)")
        ax.legend()
        fig.tight_layout()
        written["accuracy_vs_frames"] = folder / "accuracy_vs_frames.png"
        with atomic_path(written["accuracy_vs_frames"]) as tmp:
            fig.savefig(tmp, dpi=120)
        plt.close(fig)
    return written
