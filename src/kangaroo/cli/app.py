"""The ``kangaroo`` command line: one typer app, shared consoles and error handling.

Sub-commands live beside it: `video_commands` (probe, frames, demo) and `model_commands` (plan,
ask, chat). Heavy modules (PyAV, numpy, Pillow, torch) are imported inside the commands, so
``kangaroo --help`` stays quick. Bad input (a `VideoError`, a bad argument, an unwritable path)
is reported in one red line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kangaroo import __version__

DEFAULT_NUM_FRAMES = 16
MANIFEST_NAME = "frames.json"
CONTACT_SHEET_NAME = "contact_sheet.png"
FRAME_NAME_RE = re.compile(r"frame_\d+_t-?[\d.]+s\.jpg")

app = typer.Typer(
    name="kangaroo",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
# soft_wrap: long paths stay on one line (tables still fit the terminal).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


class Aspect(enum.StrEnum):
    """Aspect policies when resizing (`kangaroo.video.transforms.ASPECT_POLICIES`)."""

    pad = "pad"
    crop = "crop"
    stretch = "stretch"


class Seek(enum.StrEnum):
    """Exact frames, or the nearest keyframes (faster, approximate)."""

    exact = "exact"
    keyframe = "keyframe"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"kangaroo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=_show_version),
    ] = False,
) -> None:
    """kangaroo: long-context video understanding with video LLMs.

    Decode videos with exact timestamps and sample frames; plan runs of the model; ask and chat
    about a video.
    """


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a `VideoError`, `ValueError` or `OSError` into one red line on stderr and exit code 2."""
    from kangaroo.video import VideoError

    try:
        yield
    except (VideoError, ValueError, OSError) as exc:
        err_console.print(f"[bold red]error:[/] [red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(2) from None


def _human_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


# Control characters (but newline and tab) in an answer are shown as U+FFFD: a model, above all
# one with random weights, must not be able to send escape sequences to the terminal.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _print_error(message: object) -> None:
    err_console.print(f"[bold red]error:[/] [red]{escape(str(message))}[/]", highlight=False)


def _printable(text: str) -> str:
    """``text`` with control characters other than newline and tab replaced by U+FFFD."""
    return _CONTROL_RE.sub("\ufffd", text)
