"""The ``kangaroo`` command line: one typer app, shared consoles and error handling.

Commands live beside it, one module per group (`video_commands`: probe, frames, demo;
`model_commands`: plan, ask, chat; ...), each in a help panel of `PANELS`. Heavy modules (PyAV,
numpy, Pillow, torch) are imported inside the commands, so ``kangaroo --help`` stays quick. Bad
input (a `VideoError`, a bad argument, an unknown option, an unwritable path) is reported in one
red ``error:`` line on stderr with exit code 2, never as a traceback or a boxed usage panel.
Every command's help is tidied as it is built (`tidy_help`), so commands added later read well
at any terminal width too.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import re
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from kangaroo import __version__

DEFAULT_NUM_FRAMES = 16
MANIFEST_NAME = "frames.json"
CONTACT_SHEET_NAME = "contact_sheet.png"
FRAME_NAME_RE = re.compile(r"frame_\d+_t-?[\d.]+s\.jpg")

# The help panels of `kangaroo --help`, in this order (a command names its panel with
# ``rich_help_panel=``; one without is listed in typer's own "Commands" panel).
VIDEO, MODEL, SERVING, DATA, TRAINING, EVALUATION, CURATION = PANELS = (
    "Video", "Model", "Serving", "Data", "Training", "Evaluation", "Curation")
# typer's errors are click's: the base class every usage error (unknown option, missing or bad
# argument) derives from, found without importing the click that typer uses (it may vendor one).
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class KangarooGroup(TyperGroup):
    """The root command: help panels in `PANELS` order, help tidied (`tidy_help`), and usage
    errors as one red line with exit code 2."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)

        def panel(name: str) -> int:
            found = getattr(self.commands[name], "rich_help_panel", None)
            return PANELS.index(found) if found in PANELS else len(PANELS)

        return sorted(names, key=panel)  # stable: registration order within a panel

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        if parent is None:
            tidy_help(self)
        with _usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors():
            return super().invoke(ctx)


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """A usage error (``kangaroo eval --task x`` without ``-d``, ``--frames abc``, an unknown
    option) printed as one red ``error:`` line naming the command's ``--help``; exit code 2."""
    try:
        yield
    except _CLICK_EXCEPTION as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is already printed
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
        _print_error(exc.format_message() + hint)
        raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="kangaroo",
    cls=KangarooGroup,
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

    The commands below, by part. Video: probe files and sample frames with their exact
    timestamps (probe, frames, demo). Model: plan a run, ask or chat about a video, convert a
    released checkpoint and look inside any (plan, ask, chat, convert, inspect). Serving: an
    OpenAI-compatible HTTP API over a model (serve; demo --web is its web page). Data: make synthetic datasets, check and convert records files, train a tokenizer
    (synth, data, tokenizer). Training: run the 5-stage curriculum from a recipe (train).
    Evaluation: score a model on video benchmarks and look inside it (eval, eval-report,
    diagnose). Curation: turn raw videos into training clips (curate, curate-calibrate).

    [bold]kangaroo COMMAND --help[/] shows a command's options and examples.
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


def tidy_help(command: Any) -> None:
    """Make the help of ``command`` and of every command below it read well at any width.

    - A paragraph's single line breaks become spaces (typer's rich markup keeps them as hard
      breaks, which split sentences mid-line); an example line, ``$ kangaroo ...``, keeps its
      own line.
    - Options show a short value type (``TEXT``, ``INTEGER``, ``FLOAT``, ``PATH``, or the choices
      ``a|b|c``), and flags (``--help`` too) none, instead of typer's ``<bool>``, ``<str>``,
      ``<int range>``; choices too long for the type column (over 20 characters) show as
      ``NAME`` and are listed in the help.
    - Arguments show their name in capitals (``VIDEO``), in the usage line too, and no type.
    - A number's bounds are said in its help (``... (at least 1).``), not as ``[x>=1]`` beside
      the type, so the type column stays narrow and long option names fit.

    typer has no setting for the type column or the usage pieces: the parameters' own methods
    that draw them are replaced on each instance.
    """
    command.help = _unwrap(command.help)
    for param in command.params:
        _tidy_param(param)
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            _tidy_param(option)
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)


def _tidy_param(param: Any) -> None:
    param.help = _unwrap(getattr(param, "help", None))
    bounds = _bounds(param)
    if bounds:  # in words, in the help: the type column stays narrow (long option names fit)
        text = (param.help or "").rstrip()
        if bounds not in text:
            param.help = f"{text[:-1]} ({bounds})." if text.endswith(".") else f"{text} ({bounds})".strip()
        param._get_number_range_help_str = lambda: None
    if getattr(param, "param_type_name", "") == "argument":
        name = param.metavar or param.name.upper()
        param.metavar = name
        usage = name if param.required else f"[{name}]"
        usage += "..." if param.nargs != 1 and not name.endswith("...") else ""
        names = _choices(param)
        label = "|".join(names) if names else None
        param.get_usage_pieces = lambda ctx: [usage]
    elif getattr(param, "is_flag", False) and not getattr(param, "count", False):
        label = None
    else:
        label = param.metavar or _type_label(param)
    param.display_type_rich = lambda ctx: label


def _bounds(param: Any) -> str | None:
    """``"at least 1"``, ``"at most 9"``, ``"0 to 65535"`` for a number option with bounds."""
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if getattr(param, "count", False) or (low is None and high is None):
        return None
    if high is None:
        return f"at least {low}"
    return f"at most {high}" if low is None else f"{low} to {high}"


def _unwrap(text: str | None) -> str | None:
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    # "$ kangaroo ..." lines (examples) keep their own line, without indentation
    return "\n\n".join(re.sub(r"\n\s*(\$ )", r"\n\1", re.sub(r"\n(?!\s*\$ )", " ", paragraph)).strip()
                       for paragraph in paragraphs)


_TYPE_LABELS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN"}
MAX_CHOICES_LABEL = 20  # characters of "a|b|c" shown in the type column; longer: in the help


def _choices(param: Any) -> list[str] | None:
    choices = param.type_descriptor.choices
    return [str(getattr(c, "value", c)) for c in choices] if choices else None


def _type_label(param: Any) -> str:
    """``TEXT``, ``INTEGER``, ``FLOAT``, ``PATH`` or ``a|b|c`` for an option's value."""
    names = _choices(param)
    if names:
        label = "|".join(names)
        if len(label) <= MAX_CHOICES_LABEL:
            return label
        if not all(name in (param.help or "") for name in names):
            param.help = f"{param.help or ''} One of: {', '.join(names)}.".strip()
        return "NAME"
    if param.type_descriptor.is_path:
        return "PATH"
    bare = param.bare_type()  # "str", "int", "list[str]", ...
    bare = bare[len("list["):-1] if bare.startswith("list[") else bare
    return _TYPE_LABELS.get(bare, "PATH" if bare == "Path" else bare.upper())


def _printable(text: str) -> str:
    """``text`` with control characters other than newline and tab replaced by U+FFFD."""
    return _CONTROL_RE.sub("\ufffd", text)
