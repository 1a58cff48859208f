"""`kangaroo eval`: run benchmarks on a model; `kangaroo eval-report`: rebuild the tables and plots.

Exit codes: 0 done; 2 bad usage or data (unknown task, missing annotations, results made with
other settings in --out); 130 interrupted (what finished is kept: run the same command again).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .app import EVALUATION, _print_error, app, console, err_console

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class BackendKind(StrEnum):
    auto = "auto"
    kangaroo = "kangaroo"
    openai = "openai"
    oracle = "oracle"
    constant = "constant"


def _split_list(value: str, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise typer.BadParameter(f"no {what} given")
    return items


def _frame_counts(value: str | None) -> list[int | None]:
    if value is None:
        return [None]
    try:
        counts = [int(v) for v in _split_list(value, "frame count")]
    except ValueError:
        raise typer.BadParameter(f"--frames takes integers like 16 or 16,32,64, got {value!r}") from None
    if min(counts) < 1:
        raise typer.BadParameter("--frames must be >= 1")
    return list(counts)


def _video_controls(value: str | None) -> list[str | None]:
    """The runs of each task: the real video, then each control asked for."""
    from kangaroo.eval.video_control import check_control

    if value is None:
        return [None]
    return [None, *dict.fromkeys(check_control(v) for v in _split_list(value, "video control"))]


def _data_dirs(values: list[str]) -> tuple[Path | None, dict[str, Path]]:
    """``--data-dir DIR`` (every task) and ``--data-dir TASK=DIR`` (one task)."""
    default, per_task = None, {}
    for value in values:
        name, sep, path = value.partition("=")
        if sep and name.isidentifier():
            per_task[name] = Path(path).expanduser()
        elif default is None:
            default = Path(value).expanduser()
        else:
            raise typer.BadParameter("give one --data-dir DIR, and TASK=DIR for tasks that live elsewhere")
    return default, per_task


def _data_dir_for(task: Any, default: Path | None, per_task: dict[str, Path]) -> Path:
    """The folder holding the task's annotations: the one given, or the one folder below it that
    holds them (`find_data_root`)."""
    from kangaroo.eval.formats import find_data_root

    given = per_task.get(task.name, default)
    if given is None:
        raise typer.BadParameter(f"no --data-dir for task {task.name} (give --data-dir DIR or {task.name}=DIR)")
    return find_data_root(task.format, given, task.data)


def _shard(value: str | None) -> Any:
    from kangaroo.eval.runner import Shard

    if value is None:
        return Shard.from_env()
    index, _, count = value.partition("/")
    try:
        return Shard(int(index), int(count))
    except ValueError as exc:
        raise typer.BadParameter(f"--shard takes I/K with 0 <= I < K, got {value!r} ({exc})") from None


def _backend(kind: BackendKind, model: str | None, base_url: str | None, device: str | None, batch_size: int,
             video_as: str, concurrency: int, timeout: float) -> Any:
    if kind == BackendKind.auto:
        kind = BackendKind.openai if base_url else BackendKind.kangaroo
    if kind == BackendKind.openai:
        from kangaroo.eval.backends.openai import OpenAIBackend

        if not base_url or not model:
            raise typer.BadParameter("the openai backend needs --base-url and --model (the served model's name)")
        return OpenAIBackend(base_url=base_url, model=model, video_as=video_as, concurrency=concurrency,
                             timeout=timeout)
    if kind in (BackendKind.oracle, BackendKind.constant):
        from kangaroo.eval.backends.reference import ConstantBackend, OracleBackend

        return OracleBackend() if kind == BackendKind.oracle else ConstantBackend(model or "A")
    from kangaroo.eval.backends.kangaroo import KangarooBackend

    if device is None:
        device = _default_device()
    backend = KangarooBackend(model, device=device, batch_size=batch_size)
    if backend.is_random:
        err_console.print("[yellow]warning:[/] evaluating the tiny model with RANDOM weights "
                          "(a check of the pipeline; its scores mean nothing)", highlight=False)
    return backend


def _default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return "cpu"


@app.command("eval", rich_help_panel=EVALUATION)
def eval_command(
    task: Annotated[str | None, typer.Option("--task", "-t", help="Task names or YAML files, comma-separated.")] = None,
    data_dir: Annotated[list[str] | None, typer.Option(
        "--data-dir", "-d", help="A benchmark's folder, or a folder above it: the one holding the task's "
                                 "annotation files is used (DIR for every task, or TASK=DIR; repeatable). "
                                 "Synthetic tasks generate their data here.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Kangaroo model directory, or random (default: the bundled model); the served model's "
                              "name with --base-url; the reply of --backend constant.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Results folder (reruns resume here).")] = Path("eval-results"),
    frames: Annotated[str | None, typer.Option(
        "--frames", "-f", help="Frames per video, e.g. 64 or 16,32,64 (default: each task's own).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N samples of each task.")] = None,
    prompt: Annotated[str | None, typer.Option(
        "--prompt", help="Prompt variant (official, lmms_eval, video_ccam, ...; default: the task's).")] = None,
    backend: Annotated[BackendKind, typer.Option("--backend", help="auto: openai with --base-url, else kangaroo.")] = BackendKind.auto,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="An OpenAI-compatible endpoint's URL, ending in /v1 (API key from $OPENAI_API_KEY).")] = None,
    video_as: Annotated[str, typer.Option("--video-as", help="openai backend: send 'frames' (JPEGs) or the 'video' file.")] = "frames",
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="openai backend: requests in flight.")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="openai backend: seconds per request.")] = 120.0,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="kangaroo backend: prompts per generate call.")] = 1,
    device: Annotated[str | None, typer.Option("--device", help="kangaroo backend: cpu, cuda, cuda:1 (default: cuda:LOCAL_RANK if any, else cpu).")] = None,
    shard: Annotated[str | None, typer.Option(
        "--shard", help="Run shard I/K of the samples (default: RANK/WORLD_SIZE under torchrun).")] = None,
    video_control: Annotated[str | None, typer.Option(
        "--video-control", help="Also run each task with its videos replaced: blank (grey video of the same "
                                "length), shuffled (another sample's video), or both: blank,shuffled.")] = None,
    follow_up: Annotated[str | None, typer.Option(
        "--follow-up", help="Also ask each question as a follow-up: after this first question about the same "
                            "video (e.g. \"What happens in the video?\") and the model's own reply to it.")] = None,
    list_tasks: Annotated[bool, typer.Option("--list", help="List the built-in tasks and exit.")] = False,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal).")] = None,
) -> None:
    """Evaluate a model on benchmarks (MVBench, Video-MME, MLVU, ...) and the synthetic test tasks.

    Writes OUT/<task>/frames_<N>/predictions.jsonl (one line per sample, as it finishes) and
    OUT/results.json, OUT/results.md and OUT/plots/. Rerunning the same command resumes.

    Examples:
      $ [bold]kangaroo eval --model runs/tiny/stage5_long_video/final --task synth_mcq,synth_grounding -d eval-data[/]
      $ [bold]kangaroo eval -m ckpt --task videomme,videomme_sub -d ~/data/Video-MME --frames 64[/]
      $ [bold]kangaroo eval --base-url http://127.0.0.1:8000/v1 -m Qwen/Qwen2-VL-7B-Instruct --task mvbench -d MVBench[/]
    """
    from kangaroo.eval.formats import BenchmarkDataError
    from kangaroo.eval.report import write_report
    from kangaroo.eval.runner import EvalSettingsError, run_task
    from kangaroo.eval.task import TaskConfigError, builtin_tasks, load_task
    from kangaroo.eval.video_control import VideoControlError

    if list_tasks:
        _print_task_list(builtin_tasks(), load_task)
        return
    if task is None:
        raise typer.BadParameter("give --task (see kangaroo eval --list)")
    try:
        tasks = [load_task(name) for name in _split_list(task, "task")]
        default_dir, per_task_dirs = _data_dirs(list(data_dir or []))
        task_dirs = [_data_dir_for(t, default_dir, per_task_dirs) for t in tasks]
        counts = _frame_counts(frames)
        controls = _video_controls(video_control)
        if follow_up is not None and not follow_up.strip():
            raise ValueError("--follow-up needs a question, e.g. --follow-up \"What happens in the video?\"")
        turns = [None, follow_up] if follow_up else [None]
        the_shard = _shard(shard)
        model_backend = _backend(backend, model, base_url, device, batch_size, video_as, concurrency, timeout)
    except (TaskConfigError, ValueError) as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_USAGE) from None

    for the_task, the_dir in zip(tasks, task_dirs, strict=True):
        err_console.print(f"{the_task.name}: data in {escape(str(the_dir.absolute()))}", highlight=False)
    show = err_console.is_terminal if progress is None else progress
    finished = []
    try:
        for the_task, the_dir in zip(tasks, task_dirs, strict=True):
            for count, control, turn in ((c, v, t) for c in counts for v in controls for t in turns):
                label = (f"{the_task.name} ({count or the_task.frames.most_frames} frames"
                         f"{f', {control} video' if control else ''}{', follow-up' if turn else ''})")
                with Progress(TextColumn(escape(label)), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                              TimeRemainingColumn(), console=err_console, transient=True, disable=not show) as bar:
                    job = bar.add_task(label, total=None)
                    metrics = run_task(model_backend, the_task, the_dir, out, frames=count, prompt=prompt,
                                       limit=limit, shard=the_shard, video_control=control, follow_up=turn,
                                       progress=lambda done, total, j=job: bar.update(j, completed=done, total=total))
                if metrics is None:
                    err_console.print(f"{escape(label)}: shard {the_shard.index}/{the_shard.count} done; the last "
                                      "shard to finish writes the merged results", highlight=False)
                else:
                    finished.append(metrics)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished samples are saved; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (BenchmarkDataError, EvalSettingsError, TaskConfigError, VideoControlError) as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_USAGE) from None
    if finished:
        _print_summary(finished)
        paths = write_report(out)
        console.print(f"results: {escape(str(paths['markdown']))}, {escape(str(paths['json']))}", highlight=False)


@app.command("eval-report", rich_help_panel=EVALUATION)
def eval_report_command(
    out: Annotated[Path, typer.Argument(help="A results folder written by kangaroo eval.")],
    compare: Annotated[list[Path] | None, typer.Option(
        "--compare", help="Other results folders: more rows in the tables (repeatable).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Also draw the PNG plots.")] = True,
) -> None:
    """Rebuild OUT/results.json, OUT/results.md and OUT/plots/ from the finished runs in OUT."""
    from kangaroo.eval.report import collect_runs, write_report

    for folder in [out, *(compare or [])]:
        if not collect_runs(folder):
            _print_error(f"{folder}: no finished evaluation runs (OUT/<task>/frames_<N>/metrics.json)")
            raise typer.Exit(EXIT_USAGE)
    paths = write_report(out, list(compare or []), plots=plots)
    for kind, path in paths.items():
        console.print(f"{kind}: {escape(str(path))}", highlight=False)


def _print_task_list(names: list[str], load_task: Any) -> None:
    table = Table(box=None)
    for column in ("task", "benchmark", "frames", "prompts", "description"):
        # names stay whole at any width (a narrow terminal, or 80 columns when piped): the other
        # columns wrap between words
        table.add_column(column, no_wrap=column in ("task", "frames"))
    for name in names:
        task = load_task(name)
        table.add_row(name, task.title, task.frames.describe(), ", ".join(task.prompts), task.description)
    console.print(table)


def _print_summary(results: list[dict[str, Any]]) -> None:
    controlled = any(m.get("video_control") for m in results)  # a "video" column only when it says something
    followed = any(m.get("follow_up") for m in results)  # likewise "turn"
    table = Table(box=None)
    recalled = any("keyword_recall" in m["overall"] for m in results)  # likewise "recall %"
    columns = ("task", "frames", *(("video",) if controlled else ()), *(("turn",) if followed else ()), "samples", "errors", "accuracy", "strict",
               "unparsed %", "MAE s", *(("recall %",) if recalled else ()))
    for column in columns:
        table.add_column(column, overflow="fold")
    for m in results:
        o = m["overall"]

        def fmt(key: str, o: dict[str, Any] = o) -> str:
            value = o.get(key)
            return "-" if value is None else f"{value:.1f}" if key != "mae_seconds" else f"{value:.2f}"

        video = (m.get("video_control") or "real",) if controlled else ()
        turn = ("second" if m.get("follow_up") else "first",) if followed else ()
        table.add_row(m["task"], str(m["frames"]), *video, *turn, str(o["total"]), str(o["errors"]), fmt("accuracy"),
                      fmt("accuracy_strict"), fmt("unparsed_rate"), fmt("mae_seconds"),
                      *((fmt("keyword_recall"),) if recalled else ()))
    console.print(table)


@app.command("diagnose", rich_help_panel=EVALUATION)
def diagnose_command(
    records: Annotated[Path, typer.Argument(help="JSONL of choice-question records (meta.options, meta.answer), "
                                                 "e.g. from kangaroo synth mcq_direction.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Kangaroo model directory, or random (default: the bundled model).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=2, help="Records to use (the first N).")] = 32,
    frames: Annotated[int | None, typer.Option("--frames", "-f", min=1, help="Frames per video (default: the processor's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the measures as JSON.")] = False,
) -> None:
    """Look inside a model: loss on the answer's first word vs the rest and option ranking with the
    real, a blank and a shuffled video, and the visual tokens' norm and spread.

    A model that reads the video loses less on the first word, and ranks the right option more often,
    with the real video than with the blank or shuffled one.

    Example:
      $ [bold]kangaroo synth mcq_direction -n 32 -o diag --split test && kangaroo diagnose diag/mcq_direction_test.jsonl -m runs/tiny/stage5_long_video/final[/]
    """
    import json

    from kangaroo.eval.diagnostics import DiagnosisError, diagnose, format_diagnosis, read_choice_records
    from kangaroo.inference.loading import load_chat_model
    from kangaroo.model.pretrained import ModelLoadError
    from kangaroo.video import VideoError

    try:
        chosen, root = read_choice_records(records, limit)
        the_model, processor, is_random = load_chat_model(model)
        if is_random:
            err_console.print("[yellow]warning:[/] no --model: diagnosing the tiny model with RANDOM weights",
                              highlight=False)
        diagnosis = diagnose(the_model, processor, chosen, root, num_frames=frames)
    except (DiagnosisError, ModelLoadError, VideoError, ValueError, OSError) as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        console.print_json(json.dumps(diagnosis.to_dict()))
    else:
        console.print(format_diagnosis(diagnosis), highlight=False, markup=False)
