"""`kangaroo synth`: generate synthetic datasets (videos, ground-truth scenes, a JSONL of records)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .app import DATA, _user_errors, app, console, err_console

if TYPE_CHECKING:
    from kangaroo.synth.options import WorldOptions


def _parse_size(text: str) -> tuple[int, int]:
    """``"128x96"`` -> ``(128, 96)``; raises ValueError otherwise (the bounds are `WorldOptions`')."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size must be WIDTHxHEIGHT such as 128x96, got {text!r}")
    width, height = (int(p) for p in parts)
    return width, height


def _world_options(**values: object) -> WorldOptions:
    """`WorldOptions` from the command's flags; a bad value is reported as its flag
    (``--text-overlay: ...``)."""
    from kangaroo.synth.options import WorldOptions, WorldOptionsError

    try:
        return WorldOptions(**values)  # type: ignore[arg-type]
    except WorldOptionsError as exc:
        raise ValueError(f"--{exc.option.replace('_', '-')}: {exc.problem}") from None


@app.command("synth", rich_help_panel=DATA)
def synth_command(
    task: Annotated[str | None, typer.Argument(help="Task to generate (see --list).")] = None,
    num: Annotated[int, typer.Option("--num", "-n", min=1, help="Number of records.")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Dataset seed; record i uses a seed derived from (seed, split, i).")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (created).")] = None,
    split: Annotated[str, typer.Option(help="train, val or test (held-out seeds and compositions).")] = "train",
    size: Annotated[str, typer.Option(help="Frame size WIDTHxHEIGHT.")] = "128x96",
    duration: Annotated[
        float | None, typer.Option(help="Seconds per video (default: 8; needle: 60-600 at random).")
    ] = None,
    fps: Annotated[float | None, typer.Option(help="Frame rate (default: 8; needle: 2).")] = None,
    language: Annotated[str, typer.Option(help="en, zh, or mixed (random per record; switches within conversations).")] = "en",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    text_overlay: Annotated[float, typer.Option(help="Fraction of the frame covered by overlaid text.")] = 0.0,
    static: Annotated[bool, typer.Option("--static", help="Near-static scenes (no motion, no events).")] = False,
    cuts: Annotated[int, typer.Option(help="Hard scene cuts per video.")] = 0,
    face: Annotated[bool, typer.Option("--face", help="Draw a face-like pattern.")] = False,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Keep records of an interrupted run.")] = True,
    list_: Annotated[bool, typer.Option("--list", help="List the tasks and exit.")] = False,
) -> None:
    """Generate a synthetic dataset: videos of moving shapes, their ground truth and records.

    Examples:
      $ [bold]kangaroo synth --list[/]
      $ [bold]kangaroo synth mcq_order --num 1000 --seed 1 --split val --out data/synth --workers 2[/]
    """
    with _user_errors():
        from kangaroo.synth.tasks import get_task, list_tasks

        if list_:
            table = Table("task", "what it makes", box=None, pad_edge=False)
            for name, description in list_tasks():
                table.add_row(name, description)
            console.print(table)
            return
        if task is None:
            raise ValueError("name a task (kangaroo synth --list shows them)")
        if out is None:
            raise ValueError("--out is required")
        get_task(task)
        world = _world_options(language=language, size=_parse_size(size), duration=duration, fps=fps,
                               text_overlay=text_overlay, static=static, cuts=cuts, face=face)
        started = time.perf_counter()
        path = _generate_with_progress(task, num, seed, out, split=split, world=world, workers=workers, resume=resume)
        elapsed = time.perf_counter() - started
        rate = num / elapsed * 60 if elapsed > 0 else float("inf")
        console.print(
            f"Wrote [bold]{num}[/] records to [bold]{escape(str(path))}[/] "
            f"({elapsed:.1f} s, {rate:.0f} records/minute)",
            highlight=False,
        )


def _generate_with_progress(task: str, num: int, seed: int, out: Path, **kwargs: Any) -> Path:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from kangaroo.synth.generate import generate_dataset

    with Progress(
        TextColumn(f"synth {escape(task)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        auto_refresh=False,  # no refresh thread: the worker pool forks this process
        disable=not err_console.is_terminal,
    ) as bar:
        bar_task = bar.add_task(task, total=num)
        return generate_dataset(
            task, num, seed, out,
            progress=lambda done, total: bar.update(bar_task, completed=done, total=total, refresh=True),
            **kwargs,
        )
