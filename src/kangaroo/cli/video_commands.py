"""`kangaroo probe`, `kangaroo frames`, `kangaroo demo` (and its web page): inspect videos and sample frames."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from kangaroo import __version__

from .app import (
    CONTACT_SHEET_NAME,
    DEFAULT_NUM_FRAMES,
    FRAME_NAME_RE,
    MANIFEST_NAME,
    VIDEO,
    Aspect,
    Seek,
    _human_bytes,
    _printable,
    _user_errors,
    app,
    console,
    err_console,
)
from .model_commands import RANDOM_WEIGHTS_WARNING, DeviceOption, ModelDirOption

if TYPE_CHECKING:
    from kangaroo.video import FrameSampling, VideoClip, VideoInfo


@app.command("probe", rich_help_panel=VIDEO)
def probe_command(
    video: Annotated[str, typer.Argument(help="Video file, GIF or image.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
    scan: Annotated[
        bool,
        typer.Option(
            "--scan/--no-scan",
            help="Read the packet index for frame count, keyframes and VFR (nothing is decoded); "
            "--no-scan reads headers only.",
        ),
    ] = True,
) -> None:
    """Show a video's metadata: streams, codec, duration, frames, fps, keyframes, rotation, VFR.

    Example:
      $ [bold]kangaroo probe clip.mp4 --json[/]
    """
    with _user_errors():
        from kangaroo.video import probe

        info = probe(video, scan=scan)
        if as_json:
            typer.echo(json.dumps(info.to_dict(), indent=2))
        else:
            _print_info(info)


@app.command("frames", rich_help_panel=VIDEO)
def frames_command(
    video: Annotated[str, typer.Argument(help="Video file, GIF, image or folder of frames.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the JPEGs, contact sheet and manifest (created).")
    ],
    num_frames: Annotated[
        int | None,
        typer.Option(
            "--num-frames", "-n", min=1, help=f"Frames for uniform sampling (default {DEFAULT_NUM_FRAMES})."
        ),
    ] = None,
    sampling: Annotated[
        str | None,
        typer.Option(help="Sampling rule: uniform, fps or dynamic (default: fps when --fps is given, else uniform)."),
    ] = None,
    fps: Annotated[float | None, typer.Option(help="Frames per second to sample (--sampling fps).")] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Upper bound on the frame count.")] = None,
    start: Annotated[
        float | None, typer.Option(help="Clip start in seconds (default: the video's start).")
    ] = None,
    end: Annotated[float | None, typer.Option(help="Clip end in seconds (default: the video's end).")] = None,
    size: Annotated[
        str | None,
        typer.Option(
            help="Output size: 448 (square) or WIDTHxHEIGHT such as 640x360 (default: the source size)."
        ),
    ] = None,
    aspect: Annotated[Aspect, typer.Option(help="How --size treats the aspect ratio.")] = Aspect.pad,
    seek: Annotated[
        Seek, typer.Option(help="exact frames, or the keyframe nearest each target.")
    ] = Seek.exact,
    source_fps: Annotated[
        float | None, typer.Option(help="Frame rate of a folder of frames (gives their timestamps).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Sample frames to JPEGs named by timestamp, plus a contact sheet and a frames.json manifest.

    Examples:
      $ [bold]kangaroo frames clip.mp4 -n 16 -o out/[/]
      $ [bold]kangaroo frames clip.mp4 --fps 1 --max-frames 64 --size 448 -o out/[/]
    """
    with _user_errors():
        from kangaroo.video import FrameSampling
        from kangaroo.video.transforms import parse_size

        chosen = sampling or ("fps" if fps is not None else "uniform")
        if chosen != "uniform" and num_frames is not None:
            raise ValueError(f"--num-frames applies to --sampling uniform, not {chosen}; use --max-frames")
        if chosen != "fps" and fps is not None:
            raise ValueError(f"--fps applies to --sampling fps, not {chosen}")
        if chosen == "uniform" and num_frames is None:
            num_frames = DEFAULT_NUM_FRAMES
        frame_sampling = FrameSampling(sampling=chosen, num_frames=num_frames, fps=fps,  # type: ignore[arg-type]
                                       max_frames=max_frames)
        out_size = parse_size(size)
        args: dict[str, Any] = {
            "start": start,
            "end": end,
            "size": out_size,
            "seek": str(seek),
            "aspect": str(aspect),
            "source_fps": source_fps,
        }
        clip = _load_with_progress(video, frame_sampling, args)
        manifest = _write_frames(clip, out, frame_sampling, args)
        if as_json:
            typer.echo(json.dumps(manifest, indent=2))
        else:
            _print_written(clip, out)


@app.command("demo", rich_help_panel=VIDEO)
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")] = Path(
        "kangaroo-demo"
    ),
    num_frames: Annotated[
        int | None, typer.Option("--num-frames", "-n", min=1, help="Frames the model samples (default: its own sampling).")
    ] = None,
    web: Annotated[bool, typer.Option(
        "--web", help="Open the web demo instead: chat about a video in the browser (needs pip install 'kangaroo\\[serve]').")] = False,
    model_dir: ModelDirOption = None,
    host: Annotated[str, typer.Option("--host", help="--web: address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="--web: TCP port.")] = 7860,
    device: DeviceOption = "cpu",
) -> None:
    """Ask the bundled model about videos it never saw, beside the truth (needs no input).

    Renders test-split videos of the procedural world (unseen seeds and colour-shape pairs),
    writes the frames the model samples with a contact sheet (each frame's timestamp under it),
    asks one question per video (direction, colour change, count, when, what appears; English and
    Chinese) and prints each answer next to the ground truth. With [bold]--web[/], serve the web
    demo instead: upload a video or pick the sample, chat with streamed answers.
    """
    if web:
        _web_demo(out, model_dir, host, port, device)
        return
    with _user_errors():
        from kangaroo.inference.world_demo import answer_demo_questions, make_demo_questions

        from .model_commands import _open_chat_model

        model, processor, is_random, _ = _open_chat_model(model_dir, num_frames, device, None)
        questions = make_demo_questions(out)
        for question in questions:
            frames_dir = out / "frames" / question.video.stem
            clip = _load_with_progress(str(question.video), processor.sampling, {})
            _write_frames(clip, frames_dir, processor.sampling, {})
        console.print(f"Rendered {len(questions)} videos the model never saw into [bold]{escape(str(out))}[/]; "
                      f"what it sees of each: [bold]{escape(str(out / 'frames'))}/*/{CONTACT_SHEET_NAME}[/]")
        answers = answer_demo_questions(model, processor, questions)
    _print_demo_answers(answers)
    right = sum(a.correct for a in answers)
    console.print(f"{right} of {len(answers)} right" + (" (random weights: expect noise)" if is_random else ""))


def _print_demo_answers(answers: Sequence[Any]) -> None:
    from rich.table import Table

    table = Table(show_lines=True)
    for column in ("video", "question", "model", "truth", ""):
        table.add_column(column, overflow="fold")
    for answer in answers:
        q = answer.question
        question = q.question.split("\n")[0]  # the options are in the truth's letter
        table.add_row(f"{q.task} ({q.language})", escape(question), escape(_printable(answer.reply)), escape(q.truth),
                      "[green]right[/]" if answer.correct else "[red]wrong[/]")
    console.print(table)


def _web_demo(out: Path, model_dir: str | None, host: str, port: int, device: str) -> None:
    """``kangaroo demo --web``: the Gradio page over the default model resolution of `load_chat_model`."""
    with _user_errors():
        try:
            from kangaroo.serve.web import launch_demo
        except ImportError:
            raise ValueError("the web demo needs its extra: pip install 'kangaroo[serve]'") from None
        from kangaroo.serve.engine import ChatEngine

        engine = ChatEngine(model_dir, device=device)
        with err_console.status("loading the model") if err_console.is_terminal else contextlib.nullcontext():
            engine.load()
    if engine.is_random:
        err_console.print(f"[yellow]warning: {RANDOM_WEIGHTS_WARNING}[/]", highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]warning: listening on {host}: anyone who can reach it can use the model[/]")
    err_console.print(f"Web demo on [bold]http://{host}:{port}[/] (Ctrl-C stops it)", highlight=False)
    launch_demo(engine, host=host, port=port, samples_dir=out / "samples")


def _load_with_progress(source: str, sampling: FrameSampling, args: dict[str, Any]) -> VideoClip:
    """`load_video` with ``sampling`` and ``args`` (None values left to its defaults), showing a
    progress bar on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kangaroo.video import load_video

    kwargs = {key: value for key, value in args.items() if value is not None}
    with Progress(
        TextColumn("decoding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("decoding", total=None)
        return load_video(
            source, sampling, progress=lambda done, total: bar.update(task, completed=done, total=total), **kwargs
        )


def _frame_file_names(timestamps: Sequence[float]) -> list[str]:
    """``frame_000_t00012.345s.jpg`` per timestamp: index and time zero-padded so names sort in time order."""
    count = len(timestamps)
    index_width = max(3, len(str(count - 1)))
    time_width = max([9, *(len(f"{t:.3f}") for t in timestamps)])
    return [f"frame_{i:0{index_width}d}_t{t:0{time_width}.3f}s.jpg" for i, t in enumerate(timestamps)]


def _write_frames(clip: VideoClip, out: Path, sampling: FrameSampling, args: dict[str, Any]) -> dict[str, Any]:
    """Write the clip's JPEGs, contact sheet and manifest (last, atomically) to ``out``; return the
    manifest (its ``sampling`` holds ``sampling`` and the other ``load_video`` arguments).

    Frame files listed by an earlier manifest in ``out`` that this run does not rewrite are removed.
    """
    from PIL import Image

    from kangaroo.io import atomic_path, atomic_write_json
    from kangaroo.video.contact_sheet import make_contact_sheet

    out.mkdir(parents=True, exist_ok=True)
    previous = _previous_frame_files(out)
    names = _frame_file_names([float(t) for t in clip.timestamps])
    for name, frame in zip(names, clip.frames, strict=True):
        with atomic_path(out / name) as tmp:
            Image.fromarray(frame).save(tmp, quality=92)
    with atomic_path(out / CONTACT_SHEET_NAME) as tmp:
        make_contact_sheet(clip.frames, clip.timestamps).save(tmp)
    manifest = {
        "source": clip.source,
        "duration": clip.duration,
        "frame_size": list(clip.frame_size),
        "output_size": [int(clip.frames.shape[2]), int(clip.frames.shape[1])],
        "start": clip.start,
        "end": clip.end,
        "sampling": {**sampling.to_dict(), **args},
        "timestamps": [float(t) for t in clip.timestamps],
        "target_times": [float(t) for t in clip.target_times],
        "files": names,
        "contact_sheet": CONTACT_SHEET_NAME,
        "kangaroo_version": __version__,
    }
    atomic_write_json(out / MANIFEST_NAME, manifest)
    for stale in previous - set(names):
        (out / stale).unlink(missing_ok=True)
    return manifest


def _previous_frame_files(out: Path) -> set[str]:
    """Frame file names an earlier run recorded in ``out``'s manifest (only names this command writes)."""
    try:
        files = json.loads((out / MANIFEST_NAME).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {name for name in files if isinstance(name, str) and FRAME_NAME_RE.fullmatch(name)}


def _print_written(clip: VideoClip, out: Path) -> None:
    from kangaroo.video.contact_sheet import format_timestamp

    count, height, width = clip.frames.shape[:3]
    span = f"{format_timestamp(float(clip.timestamps[0]))} to {format_timestamp(float(clip.timestamps[-1]))}"
    console.print(
        f"Wrote {count} frame{'s' if count != 1 else ''} ({width}x{height}, {span}) to [bold]{escape(str(out))}[/]"
    )
    console.print(f"  contact sheet  {escape(str(out / CONTACT_SHEET_NAME))}")
    console.print(f"  manifest       {escape(str(out / MANIFEST_NAME))}")


def _print_info(info: VideoInfo) -> None:
    """The probe result as two rich tables: the video stream, then every stream of the container."""
    from rich.table import Table

    from kangaroo.video.contact_sheet import format_timestamp

    not_scanned = Text("not scanned (drop --no-scan)", style="dim")
    size = f"{info.display_width}x{info.display_height}"
    if (info.display_width, info.display_height) != (info.width, info.height):
        size += f" (coded {info.width}x{info.height})"
    keyframes: str | Text = not_scanned
    if info.keyframe_count is not None:
        keyframes = f"{info.keyframe_count}"
        if info.keyframe_interval is not None:
            keyframes += f", every {info.keyframe_interval:.3f} s"
        if info.keyframe_interval_frames is not None:
            keyframes += f" ({info.keyframe_interval_frames:.1f} frames)"
    rows: list[tuple[str, str | Text]] = [
        ("format", info.format),
        ("file size", _human_bytes(info.size_bytes)),
        ("duration", f"{info.duration:.3f} s ({format_timestamp(max(info.duration, 0.0))})"),
        ("start time", f"{info.start_time:.3f} s"),
        ("codec", info.codec + (f" ({info.profile})" if info.profile else "")),
        ("pixel format", info.pix_fmt or "unknown"),
        ("frame size", size),
        ("rotation", f"{info.rotation}°"),
        ("average fps", f"{info.average_fps:.3f}" if info.average_fps else "unknown"),
        ("frames", str(info.frame_count) if info.frame_count is not None else not_scanned),
        ("keyframes", keyframes),
        (
            "frame rate",
            not_scanned if info.is_vfr is None else ("variable (VFR)" if info.is_vfr else "constant"),
        ),
        ("bit rate", f"{info.bit_rate / 1000:.0f} kb/s" if info.bit_rate else "unknown"),
    ]
    table = Table(title=Text(info.source), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, Text(value) if isinstance(value, str) else value)
    console.print(table)

    streams = Table("#", "type", "codec", "duration", "language", title="streams", title_justify="left")
    for stream in info.streams:
        used = " ◀" if stream.index == info.video_stream else ""
        duration = f"{stream.duration:.3f} s" if stream.duration is not None else ""
        streams.add_row(
            *(
                Text(cell)
                for cell in (
                    str(stream.index),
                    stream.type + used,
                    stream.codec,
                    duration,
                    stream.language or "",
                )
            )
        )
    console.print(streams)
