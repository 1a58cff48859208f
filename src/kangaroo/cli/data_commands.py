"""`kangaroo data validate | import | export`: check, convert and write records files."""

from __future__ import annotations

import contextlib
import enum
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .app import DATA, _user_errors, app, console, err_console

data_app = typer.Typer(
    help="Records files (JSONL): validate them, import LLaVA / VideoChat2 / caption annotations, export to LLaVA.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(data_app, name="data", rich_help_panel=DATA)


class ImportFormat(enum.StrEnum):
    """Annotation formats `kangaroo data import` reads (`kangaroo.data.IMPORT_FORMATS`)."""

    llava = "llava"
    videochat2 = "videochat2"
    captions = "captions"


class ExportFormat(enum.StrEnum):
    """Formats `kangaroo data export` writes (`kangaroo.data.EXPORT_FORMATS`)."""

    llava = "llava"


class Instruction(enum.StrEnum):
    """Where a VideoChat2 instruction goes."""

    system = "system"
    prefix = "prefix"


RootOption = Annotated[
    Path | None,
    typer.Option("--root", help="Folder the video and subtitle paths are relative to (default: the file's folder)."),
]


@data_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Records file: JSON lines (or a JSON list).")],
    root: RootOption = None,
    probe: Annotated[
        bool,
        typer.Option("--probe/--no-probe", help="Open every video's headers (--no-probe: only check they exist)."),
    ] = True,
    allow_open_end: Annotated[
        bool, typer.Option("--allow-open-end", help="Accept records that end with a user message (eval prompts).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Report every problem of a records file, with line numbers; exit 1 when there are errors.

    Example:
      $ [bold]kangaroo data validate train.jsonl --root videos/[/]
    """
    from kangaroo.data import validate_records

    with _user_errors():
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such records file")
        if root is not None and not root.is_dir():
            raise NotADirectoryError(f"--root {root}: no such folder")
        status = err_console.status("validating") if err_console.is_terminal and not as_json else None
        with status or contextlib.nullcontext():
            report = validate_records(file, root, probe=probe, allow_open_end=allow_open_end)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for problem in report.problems:
            colour = "red" if problem.severity == "error" else "yellow"
            where = f"{file}:{problem.line}" if problem.line is not None else str(file)
            ident = f" [dim]({escape(problem.id)})[/]" if problem.id is not None else ""
            console.print(
                f"{escape(where)}: [{colour}]{problem.severity}[/] [bold]{problem.code}[/]{ident}: {escape(problem.message)}",
                highlight=False,
            )
        errors, warnings = len(report.errors), len(report.warnings)
        colour = "red" if errors else ("yellow" if warnings else "green")
        console.print(
            f"[{colour}]{report.records} record(s): {errors} error(s), {warnings} warning(s)[/]", highlight=False
        )
    if not report.ok:
        raise typer.Exit(1)


@data_app.command("import")
def import_command(
    format: Annotated[ImportFormat, typer.Argument(metavar="FORMAT", help="Input format: llava, videochat2 or captions.", case_sensitive=False)],
    src: Annotated[Path, typer.Argument(metavar="IN", help="Annotations: JSON list or JSONL (captions: CSV too).")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Records file to write (JSONL, atomically).")],
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Folder the videos live in: absolute paths under it become relative, and videos "
            "missing there are reported as a warning.",
        ),
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="captions: the user's request (default: 'Describe the video.').")] = None,
    instruction: Annotated[
        Instruction, typer.Option(help="videochat2: the instruction 'i' as a system message, or prefixed to the question.")
    ] = Instruction.system,
    id_prefix: Annotated[str | None, typer.Option(help="Prefix of the ids made for items without one.")] = None,
    source: Annotated[str | None, typer.Option(help="Set meta.source of every record.")] = None,
) -> None:
    """Convert LLaVA, VideoChat2 or caption (video,caption CSV/JSONL) annotations to records.

    Example:
      $ [bold]kangaroo data import llava llava_video.json train.jsonl --root videos/[/]
    """
    from kangaroo.data import import_file, write_records
    from kangaroo.data.importers import missing_videos, relative_to_root

    with _user_errors():
        if root is not None and not root.is_dir():
            raise NotADirectoryError(f"--root {root}: no such folder")
        options: dict[str, object] = {"source": source}
        if id_prefix is not None:
            options["id_prefix"] = id_prefix
        if format is ImportFormat.captions and prompt is not None:
            options["prompt"] = prompt
        elif prompt is not None:
            raise ValueError("--prompt applies to the captions format")
        if format is ImportFormat.videochat2:
            options["instruction"] = str(instruction)
        elif instruction is not Instruction.system:
            raise ValueError("--instruction applies to the videochat2 format")
        records = import_file(str(format), src, **options)
        if root is not None:
            records = relative_to_root(records, root)
        count = write_records(out, records)
    console.print(f"wrote {count} record(s) to [bold]{escape(str(out))}[/]", highlight=False)
    if root is not None:
        missing = missing_videos(records, root)
        if missing:
            first = ", ".join(str(path) for _, path in missing[:3])
            err_console.print(
                f"[yellow]warning: {len(missing)} video(s) not found under {escape(str(root))}: {escape(first)}"
                f"{' ...' if len(missing) > 3 else ''}[/]",
                highlight=False,
            )


@data_app.command("export")
def export_command(
    format: Annotated[ExportFormat, typer.Argument(metavar="FORMAT", help="Output format: llava.", case_sensitive=False)],
    src: Annotated[Path, typer.Argument(metavar="IN", help="Records file (JSONL).")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="JSON file to write (a list, atomically).")],
) -> None:
    """Write records as LLaVA-style JSON (conversations with from/value, <video> placeholders).

    Example:
      $ [bold]kangaroo data export llava train.jsonl llava.json[/]
    """
    from kangaroo.data import export_llava, read_records
    from kangaroo.io import atomic_write_json

    with _user_errors():
        items = export_llava(read_records(src))
        atomic_write_json(out, items)
    console.print(f"wrote {len(items)} item(s) to [bold]{escape(str(out))}[/]", highlight=False)
