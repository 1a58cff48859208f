"""`kangaroo curate`: run a curation pipeline; `kangaroo curate-calibrate`: set a filter's threshold.

Exit codes: 0 done; 1 the run stopped (error budget exceeded); 2 bad usage or input (no such
file, a malformed pipeline, an output folder holding another run); 130 interrupted (committed
shards are kept: run the same command again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .app import CURATION, _print_error, app, console, err_console

EXIT_STOPPED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@app.command("curate", rich_help_panel=CURATION)
def curate_command(
    pipeline_file: Annotated[Path, typer.Argument(metavar="PIPELINE.yaml", help="The steps and thresholds.")],
    input_path: Annotated[Path, typer.Option(
        "--input", "-i", help="A folder of videos (searched recursively) or a manifest (JSONL records or one path per line).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (a rerun resumes here).")],
    executor: Annotated[str, typer.Option("--executor", "-e", help="local (worker processes) or ray.")] = "local",
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes (ray: CPUs of a local Ray).")] = 1,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.md with its charts.")] = True,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal).")] = None,
) -> None:
    """Curate videos: cut scenes, drop clips with text, faces or no motion, balance categories,
    caption, and drop repetitive captions, as the steps of PIPELINE.yaml say.

    Writes OUTPUT/kept.jsonl, OUTPUT/excluded.jsonl (every dropped record with its step, reason and
    value), OUTPUT/stats.json and OUTPUT/report.md.

    Example:
      $ [bold]kangaroo curate recipes/curation/paper.yaml --input videos/ --output curated/ --workers 2[/]
    """
    from kangaroo.curation.executors import make_executor
    from kangaroo.curation.inputs import InputError
    from kangaroo.curation.pipeline import PipelineError, load_pipeline
    from kangaroo.curation.run import CurationError, curate

    try:
        pipeline = load_pipeline(pipeline_file)
        runner = make_executor(executor, workers)
    except (PipelineError, ValueError) as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_USAGE) from None
    show = err_console.is_terminal if progress is None else progress
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True, disable=not show) as bar:
            jobs: dict[str, Any] = {}

            def on_progress(label: str, done: int, total: int) -> None:
                if label not in jobs:
                    jobs[label] = bar.add_task(f"curate {escape(label)}", total=total)
                bar.update(jobs[label], completed=done, total=total)

            stats = curate(pipeline, input_path, output, runner, progress=on_progress, report=report)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: committed shards are kept; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except CurationError as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_STOPPED if "budget" in str(exc) else EXIT_USAGE) from None
    except (InputError, OSError) as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        runner.close()
    _print_funnel(stats)
    console.print(f"kept: {escape(str(output / 'kept.jsonl'))}; excluded: {escape(str(output / 'excluded.jsonl'))}"
                  + (f"; report: {escape(str(output / 'report.md'))}" if report else ""), highlight=False)


def _print_funnel(stats: dict[str, Any]) -> None:
    table = Table(box=None)
    for column in ("step", "in", "out", "dropped", "undecodable"):
        table.add_column(column, overflow="fold")
    for name, s in stats["steps"].items():
        dropped = ", ".join(f"{r} {n}" for r, n in sorted(s["dropped"].items())) or "-"
        table.add_row(name, str(s["in"]), str(s["out"]), dropped, str(s["quarantined"]))
    console.print(table)
    console.print(f"{stats['inputs']} inputs -> {stats['kept']} kept, {stats['excluded']} excluded", highlight=False)


@app.command("curate-calibrate", rich_help_panel=CURATION)
def calibrate_command(
    pipeline_file: Annotated[Path, typer.Argument(metavar="PIPELINE.yaml", help="The pipeline whose step to calibrate.")],
    step_name: Annotated[str, typer.Option("--step", "-s", help="A threshold filter of the pipeline, e.g. text_coverage.")],
    labels: Annotated[Path, typer.Option(
        "--labels", "-l", help="JSONL: {video, start?, end?, label: keep|drop} per clip.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the sweep as JSON.")] = False,
) -> None:
    """Sweep a filter's threshold over clips labelled keep/drop; print precision and recall of
    dropping the 'drop' clips at each threshold, and the threshold of best F1."""
    from kangaroo.curation.calibrate import best, measure_all, read_labels, suggest, sweep
    from kangaroo.curation.inputs import InputError
    from kangaroo.curation.pipeline import PipelineError, build_step, load_pipeline

    try:
        pipeline = load_pipeline(pipeline_file)
        spec = next((s for s in pipeline.steps if s.step == step_name), None)
        if spec is None:
            raise PipelineError(f"{pipeline_file}: no step {step_name!r}; it has {[s.step for s in pipeline.steps]}")
        step = build_step(spec)
        if not hasattr(step, "measure") or not hasattr(step, "threshold"):
            raise PipelineError(f"{step_name} is not a threshold filter (it has no single measured value)")
        records = read_labels(labels)
    except (PipelineError, InputError) as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_USAGE) from None
    measured = measure_all(step, records)
    scores = sweep(step, measured)
    top = best(scores)
    suggested = suggest(step, scores, measured)
    failed = [(r["id"], e) for r, v, e in measured if v is None]
    if as_json:
        console.print_json(json.dumps({
            "step": step_name, "configured": float(step.threshold), "best": top.threshold, "suggested": suggested,
            "values": [{"id": r["id"], "label": r["label"], "value": v} for r, v, _ in measured],
            "sweep": [vars(s) for s in scores], "unreadable": failed}))
        return
    table = Table(box=None)
    for column in ("threshold", "dropped", "precision", "recall", "F1"):
        table.add_column(column, justify="right")
    for s in scores:
        mark = " <" if s is top else ""
        table.add_row(f"{s.threshold:.4g}{mark}", str(s.dropped), f"{s.precision:.2f}", f"{s.recall:.2f}", f"{s.f1:.2f}")
    console.print(table)
    for clip_id, error in failed:
        err_console.print(f"[yellow]unreadable:[/] {escape(clip_id)}: {escape(error)}", highlight=False)
    console.print(f"{step_name}: configured threshold {float(step.threshold):g}; best split at {top.threshold:.4g} "
                  f"(precision {top.precision:.2f}, recall {top.recall:.2f}); suggested {suggested:.4g}, the middle of "
                  "the gap to the next measured value", highlight=False)
