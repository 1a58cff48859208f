"""`kangaroo plan`, `kangaroo ask`, `kangaroo chat`: plan a run, and talk to a model about a video."""

from __future__ import annotations

import contextlib
import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from .app import (
    DEFAULT_NUM_FRAMES,
    MODEL,
    _human_bytes,
    _print_error,
    _printable,
    _user_errors,
    app,
    console,
    err_console,
)

# -- ask and chat: answers about a video ------------------------------------------------------

RANDOM_WEIGHTS_WARNING = (
    "kangaroo_tiny with random weights: answers are noise (leave out --model for the bundled model)"
)
CHAT_COMMANDS = (
    "/reset: new conversation · /video PATH: switch video · /quit, /exit or Ctrl-D: leave · /help"
)

ModelDirOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Directory of a saved Kangaroo model and its processor; 'random' for kangaroo_tiny with "
        "random weights (default: the bundled model, trained on the synthetic world).",
    ),
]
FramesOption = Annotated[
    int | None,
    typer.Option("--frames", min=1, help="Sample N frames uniformly (default: the sampling the model was saved with, e.g. trained with)."),
]
MaxNewTokensOption = Annotated[int, typer.Option("--max-new-tokens", min=1, help="Longest answer, in tokens.")]
TemperatureOption = Annotated[
    float, typer.Option("--temperature", min=0.0, help="Sampling temperature; 0 = greedy (deterministic).")
]
TopPOption = Annotated[
    float | None, typer.Option("--top-p", help="Nucleus sampling, 0 < P <= 1 (ignored when --temperature is 0).")
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed torch's random generator (sampling).")]
FeatureCacheOption = Annotated[
    Path | None,
    typer.Option("--feature-cache", help="Folder that keeps each video's visual features across runs."),
]
DeviceOption = Annotated[str, typer.Option("--device", help="torch device for the model: cpu, cuda, cuda:1, mps.")]


@app.command("ask", rich_help_panel=MODEL)
def ask_command(
    video: Annotated[str, typer.Argument(help="Video file, GIF, image or folder of frames.")],
    question: Annotated[str, typer.Argument(help="The question about the video.")],
    model_dir: ModelDirOption = None,
    frames: FramesOption = None,
    max_new_tokens: MaxNewTokensOption = 256,
    temperature: TemperatureOption = 0.0,
    top_p: TopPOption = None,
    seed: SeedOption = None,
    feature_cache: FeatureCacheOption = None,
    device: DeviceOption = "cpu",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print video, question, answer, model, frames, timestamps as JSON.")
    ] = False,
) -> None:
    """Answer one question about a video and exit (for scripts).

    Example:
      $ [bold]kangaroo ask clip.mp4 "What happens after the door opens?" --json[/]
    """
    import time

    with _user_errors():
        generation = _generation_kwargs(max_new_tokens, temperature, top_p, seed)
        _check_video_path(video, open_it=False)
        model, processor, is_random, cache = _open_chat_model(model_dir, frames, device, feature_cache)
        started = time.perf_counter()
        answer, history = model.chat(video, question, tokenizer=processor, feature_cache=cache, **generation)
        seconds = time.perf_counter() - started
    if as_json:
        result = {
            "video": video,
            "question": question,
            "answer": answer,
            "model": str(model.name_or_path),
            "random_weights": is_random,
            "frames": history.frame_count,
            "timestamps": [round(float(t), 6) for t in history.timestamps],
            "seconds": round(seconds, 3),
        }
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        typer.echo(_printable(answer))


@app.command("chat", rich_help_panel=MODEL)
def chat_command(
    video: Annotated[str, typer.Argument(help="Video file, GIF, image or folder of frames.")],
    model_dir: ModelDirOption = None,
    frames: FramesOption = None,
    max_new_tokens: MaxNewTokensOption = 256,
    temperature: TemperatureOption = 0.0,
    top_p: TopPOption = None,
    seed: SeedOption = None,
    feature_cache: FeatureCacheOption = None,
    device: DeviceOption = "cpu",
) -> None:
    """Chat about a video: questions from stdin, answers streamed as they are generated.

    Each question continues the conversation (later turns reuse the video's features and the
    KV cache). [bold]/reset[/] starts a new conversation, [bold]/video PATH[/] switches video,
    [bold]/quit[/], [bold]/exit[/] or end of input leaves.

    Example, from a pipe:
      $ [bold]printf 'What happens?\\nAnd then?\\n' | kangaroo chat clip.mp4[/]
    """
    import sys

    from kangaroo.video import VideoError

    with _user_errors():
        generation = _generation_kwargs(max_new_tokens, temperature, top_p, seed)
        _check_video_path(video, open_it=True)
        model, processor, _, cache = _open_chat_model(model_dir, frames, device, feature_cache)
    interactive = sys.stdin.isatty()
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
    err_console.print(f"Chatting about [bold]{escape(video)}[/]. {escape(CHAT_COMMANDS)}", highlight=False)
    history = None
    while True:
        try:
            line = _read_question(interactive)
        except KeyboardInterrupt:
            line = None
        if line is None:  # end of input
            if interactive:
                typer.echo()
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            name, _, argument = line.partition(" ")
            argument = argument.strip()
            if name in ("/quit", "/exit"):
                break
            if name == "/reset":
                history = None
                err_console.print("[dim]new conversation[/]")
            elif name == "/help":
                err_console.print(escape(CHAT_COMMANDS), highlight=False)
            elif name == "/video" and argument:
                try:
                    _check_video_path(argument, open_it=True)
                except (VideoError, ValueError, OSError) as exc:
                    _print_error(exc)
                    continue
                video, history = argument, None
                err_console.print(f"[dim]new conversation about[/] [bold]{escape(video)}[/]", highlight=False)
            else:
                _print_error(f"unknown command {line!r}; {CHAT_COMMANDS}")
            continue
        try:
            history = _stream_answer(model, processor, video, line, history, cache, generation, interactive)
        except (VideoError, ValueError, OSError) as exc:
            _print_error(exc)


def _check_video_path(video: str, open_it: bool) -> None:
    """Raise `VideoNotFoundError` when ``video`` does not exist; with ``open_it``, read a file's
    headers too (a `VideoError` when FFmpeg cannot open it). Nothing is decoded."""
    from kangaroo.video.errors import VideoNotFoundError

    path = Path(video)
    if not path.exists():
        raise VideoNotFoundError(video, "no such file")
    if open_it and path.is_file():
        from kangaroo.video import probe

        probe(video, scan=False)


def _generation_kwargs(
    max_new_tokens: int, temperature: float, top_p: float | None, seed: int | None
) -> dict[str, Any]:
    """``model.generate`` settings: greedy when ``temperature`` is 0, else sampling. Seeds torch."""
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"--top-p must be in (0, 1], got {top_p}")
    if seed is not None:
        import torch

        torch.manual_seed(seed)
    if temperature == 0:
        return {"max_new_tokens": max_new_tokens, "do_sample": False}
    generation: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": True, "temperature": temperature}
    if top_p is not None:
        generation["top_p"] = top_p
    return generation


def _open_chat_model(
    model_dir: str | None, frames: int | None, device: str, feature_cache: Path | None
) -> tuple[Any, Any, bool, Any]:
    """``(model, processor, is_random, feature cache or None)``; warns on stderr about random weights."""
    from kangaroo.inference.feature_cache import FeatureCache
    from kangaroo.inference.loading import load_chat_model

    with err_console.status("loading the model") if err_console.is_terminal else contextlib.nullcontext():
        model, processor, is_random = load_chat_model(model_dir, device=device)
    if frames is not None:
        from kangaroo.video import FrameSampling

        processor = processor.with_sampling(FrameSampling(num_frames=frames))
    cache = FeatureCache(feature_cache) if feature_cache is not None else None
    if is_random:
        err_console.print(f"[yellow]warning: {RANDOM_WEIGHTS_WARNING}[/]", highlight=False)
    return model, processor, is_random, cache


def _read_question(interactive: bool) -> str | None:
    """The next line of input (``you> `` prompt on a terminal), or None at end of input."""
    import sys

    if interactive:
        try:
            return input("you> ")
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line or None


def _stream_answer(
    model: Any, processor: Any, video: str, question: str, history: Any, cache: Any,
    generation: dict[str, Any], interactive: bool,
) -> Any:
    """Print the answer's pieces as they come (then a newline); return the history for the next turn."""
    stream = model.stream_chat(video, question, tokenizer=processor, history=history, feature_cache=cache,
                               **generation)
    if interactive:
        console.print("[bold green]kangaroo>[/] ", end="")
    started = False
    pieces = iter(stream)
    while True:
        try:
            piece = next(pieces)
        except StopIteration:
            break
        except KeyboardInterrupt:  # Ctrl-C stops this answer; the conversation goes on
            stream.cancel()
            for _ in pieces:
                pass
            err_console.print(" [dim](stopped)[/]", highlight=False, end="")
            break
        if not started:  # the answer is stripped: so is what is printed
            piece = piece.lstrip()
            started = bool(piece)
        if piece:
            typer.echo(_printable(piece), nl=False)
    typer.echo()
    return stream.history


class Dtype(enum.StrEnum):
    """Weight and activation precision (`kangaroo.model.planner.DTYPE_BYTES`)."""

    bf16 = "bf16"
    fp16 = "fp16"
    fp32 = "fp32"


@app.command("plan", rich_help_panel=MODEL)
def plan_command(
    model: Annotated[
        str, typer.Option(help="kangaroo_8b (8b), kangaroo_tiny (tiny), or a local model directory.")
    ] = "kangaroo_8b",
    frames: Annotated[int, typer.Option(min=1, help="Frames per video.")] = DEFAULT_NUM_FRAMES,
    size: Annotated[
        int | None, typer.Option(min=1, help="Frame size in pixels (default: the model's image size).")
    ] = None,
    text_tokens: Annotated[int, typer.Option(min=0, help="Text tokens besides the video.")] = 512,
    dtype: Annotated[Dtype, typer.Option(help="Precision of weights, KV cache and activations.")] = Dtype.bf16,
    memory: Annotated[
        float | None,
        typer.Option(min=0.0, help="Memory budget in GB (2^30 bytes): also print the most frames that fit."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Plan a run without weights: visual tokens, context length, parameters, memory and prefill FLOPs.

    Examples:
      $ [bold]kangaroo plan --frames 160[/]
      $ [bold]kangaroo plan --model tiny --frames 64 --size 224 --memory 8 --json[/]
    """
    with _user_errors():
        from kangaroo.model.planner import DTYPE_BYTES, max_frames_for_memory, plan, resolve_model_config

        config = resolve_model_config(model)
        settings = {"image_size": size, "text_tokens": text_tokens, "dtype_bytes": DTYPE_BYTES[dtype]}
        result: dict[str, Any] = {"model": model, "dtype": str(dtype), **plan(config, frames, **settings).to_dict()}
        if memory is not None:
            budget = int(memory * 2**30)
            result["memory_budget_bytes"] = budget
            result["fits"] = result["total_bytes"] <= budget
            result["max_frames"] = max_frames_for_memory(config, budget, **settings)
            if result["max_frames"]:
                result["max_frames_context_length"] = plan(config, result["max_frames"], **settings).context_length
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            _print_plan(result)


def _print_plan(result: dict[str, Any]) -> None:
    """`kangaroo plan`'s result as a rich table."""
    from rich.table import Table

    def count(value: float) -> str:
        for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
            if value >= scale:
                return f"{value / scale:.3g} {unit}"
        return f"{value:g}"

    def context(length: int) -> str:
        limit = result["max_position_embeddings"]
        return f"{length:,}" + (f" [yellow](above the LLM's {limit:,} positions)[/]" if length > limit else "")

    rows = [
        ("model", escape(result["model"])),
        ("input", f"{result['num_frames']} frames at {result['image_size']}x{result['image_size']}, {result['dtype']}"),
        ("ViT patches per frame", f"{result['features_per_frame']:,}"),
        ("visual tokens per frame", f"{result['visual_tokens_per_frame']:g}"),
        ("visual tokens", f"{result['visual_tokens']:,} ({result['frame_groups']} frame groups)"),
        ("context length", context(result["context_length"])),
        ("  video / text", f"{result['video_prompt_tokens']:,} / {result['text_tokens']:,}"),
        ("parameters", count(result["params_total"])),
        ("  vision / projector / LLM", " / ".join(count(result[key]) for key in
                                                  ("params_vision", "params_projector", "params_llm"))),
        ("memory", _human_bytes(result["total_bytes"])),
        ("  weights", _human_bytes(result["weight_bytes"])),
        ("  KV cache", _human_bytes(result["kv_cache_bytes"])),
        ("  activations", _human_bytes(result["activation_bytes"])),
        ("    ViT / LLM phase", f"{_human_bytes(result['vision_activation_bytes'])} / "
                                f"{_human_bytes(result['llm_activation_bytes'])}"),
        ("prefill FLOPs", count(result["flops_total"])),
        ("  vision / projector / LLM", " / ".join(count(result[key]) for key in
                                                  ("flops_vision", "flops_projector", "flops_llm"))),
    ]
    if "memory_budget_bytes" in result:
        budget = _human_bytes(result["memory_budget_bytes"])
        rows.append((f"fits in {budget}", "yes" if result["fits"] else "[red]no[/]"))
        rows.append((f"most frames in {budget}", f"{result['max_frames']:,}"))
        if result["max_frames"]:
            rows.append(("  context length", context(result["max_frames_context_length"])))
    table = Table(title="kangaroo plan", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
