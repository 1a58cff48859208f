"""`kangaroo serve`: the OpenAI-compatible HTTP API over a model (see docs/serving.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .app import SERVING, _print_error, _user_errors, app, err_console
from .model_commands import RANDOM_WEIGHTS_WARNING, DeviceOption, ModelDirOption

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_media_io_kwargs(text: str | None) -> dict:
    """``--media-io-kwargs``: vLLM's ``{"video": {"num_frames": 16}}`` (or the inner object)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--media-io-kwargs is not JSON: {exc}") from None
    if isinstance(value, dict) and isinstance(value.get("video"), dict):
        value = value["video"]
    if not isinstance(value, dict):
        raise ValueError('--media-io-kwargs must be a JSON object such as \'{"video": {"num_frames": 16}}\'')
    return value


MEDIA_PANEL = "Media (what requests may read)"
CAPACITY_PANEL = "Capacity and caches"


@app.command("serve", rich_help_panel=SERVING)
def serve_command(
    model_dir: ModelDirOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    served_model_name: Annotated[str | None, typer.Option(
        "--served-model-name", help="The model name of /v1/models and requests (default: the model folder's name).")] = None,
    device: DeviceOption = "cpu",
    media_io_kwargs: Annotated[str | None, typer.Option(
        "--media-io-kwargs", help='Default frame sampling, e.g. \'{"video": {"num_frames": 16}}\' (default: as the model was saved).')] = None,
    max_frames: Annotated[int, typer.Option("--max-frames", rich_help_panel=CAPACITY_PANEL, min=1, help="Most frames a request may ask for per video.")] = 128,
    max_model_len: Annotated[int | None, typer.Option(
        "--max-model-len", rich_help_panel=CAPACITY_PANEL, min=2, help="Context length in tokens (default: the model's); longer prompts get 422.")] = None,
    max_queue: Annotated[int, typer.Option("--max-queue", rich_help_panel=CAPACITY_PANEL, min=0, help="Requests waiting beside the running one (queued or paused); more get 429.")] = 16,
    max_pause: Annotated[float, typer.Option("--max-pause", rich_help_panel=CAPACITY_PANEL, min=0.0, help="Seconds a started reply may wait while new requests get their first token; then it goes on first (0: new requests never go first).")] = 0.5,
    max_num_seqs: Annotated[int | None, typer.Option("--max-num-seqs", rich_help_panel=CAPACITY_PANEL, min=1, help="The most replies decoded together in one batch (default: every started reply, at most --max-queue + 1); 1 answers one request at a time.")] = None,
    allowed_local_media_path: Annotated[Path | None, typer.Option(
        "--allowed-local-media-path", rich_help_panel=MEDIA_PANEL, help="Folder that file:// URLs may read from (default: file:// refused).")] = None,
    allowed_media_domains: Annotated[str | None, typer.Option(
        "--allowed-media-domains", rich_help_panel=MEDIA_PANEL, help="Comma-separated host names http(s):// media may come from (default: none).")] = None,
    allowed_media_ip_ranges: Annotated[str | None, typer.Option(
        "--allowed-media-ip-ranges", rich_help_panel=MEDIA_PANEL, help="Comma-separated CIDR ranges of non-public addresses media hosts may resolve to (default: none).")] = None,
    max_media_bytes: Annotated[int, typer.Option("--max-media-bytes", rich_help_panel=MEDIA_PANEL, min=1, help="Largest video or image (413 above).")] = 64 * 2**20,
    max_request_bytes: Annotated[int, typer.Option("--max-request-bytes", rich_help_panel=MEDIA_PANEL, min=1, help="Largest request body (413 above).")] = 96 * 2**20,
    fetch_timeout: Annotated[float, typer.Option("--fetch-timeout", rich_help_panel=MEDIA_PANEL, min=0.1, help="Seconds allowed to download one media URL.")] = 20.0,
    decode_timeout: Annotated[float, typer.Option("--decode-timeout", rich_help_panel=MEDIA_PANEL, min=0.1, help="Seconds allowed to decode one video.")] = 60.0,
    isolate: Annotated[bool, typer.Option("--isolate-decoding", rich_help_panel=MEDIA_PANEL, help="Decode each video in a subprocess (a crash or hang in FFmpeg cannot take the server down).")] = False,
    reuse: Annotated[bool, typer.Option("--reuse/--no-reuse", rich_help_panel=CAPACITY_PANEL, help="Reuse visual features and KV prefixes across requests (--no-reuse recomputes all: a baseline).")] = True,
    feature_entries: Annotated[int, typer.Option("--feature-cache-entries", rich_help_panel=CAPACITY_PANEL, min=1, help="Videos whose features are kept in memory.")] = 64,
    prefix_entries: Annotated[int, typer.Option("--kv-cache-entries", rich_help_panel=CAPACITY_PANEL, min=1, help="Conversations whose KV cache is kept.")] = 8,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")] = "info",
) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (needs [bold]pip install 'kangaroo\\[serve]'[/]).

    POST /v1/chat/completions (video_url, image_url and text parts; stream: true for server-sent
    events), GET /v1/models, GET /health, GET /metrics. The model loads in the background:
    /health answers 503 until it is ready.

    Example:
      $ [bold]kangaroo serve --model runs/tiny/final --allowed-local-media-path ~/videos[/]
    """
    with _user_errors():
        try:
            import uvicorn

            from kangaroo.serve.api import create_app
        except ImportError:
            raise ValueError("kangaroo serve needs its extra: pip install 'kangaroo[serve]'") from None
        from kangaroo.model.pretrained import check_model_dir
        from kangaroo.serve.engine import ApiError, ChatEngine
        from kangaroo.serve.media import MediaPolicy

        if model_dir is not None:
            check_model_dir(model_dir)
        policy = MediaPolicy.from_options(allowed_local_media_path, allowed_media_domains, allowed_media_ip_ranges,
                                          max_media_bytes, fetch_timeout)
        engine = ChatEngine(model_dir, device=device, max_frames=max_frames, max_model_len=max_model_len,
                            max_queue=max_queue, max_pause=max_pause, max_num_seqs=max_num_seqs, reuse=reuse,
                            feature_entries=feature_entries, prefix_entries=prefix_entries, decode_timeout=decode_timeout, isolate=isolate,
                            served_model_name=served_model_name)
        overrides = parse_media_io_kwargs(media_io_kwargs)
        if overrides:
            try:
                engine.default_sampling = engine.sampling_for(overrides)
            except ApiError as exc:
                raise ValueError(f"--media-io-kwargs: {exc.message}") from None
    if host not in LOOPBACK:
        err_console.print(f"[yellow]warning: listening on {host}: anyone who can reach it can use the model[/]")
    server: uvicorn.Server | None = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True

    app_ = create_app(engine, policy, max_request_bytes=max_request_bytes, on_load_error=stop)
    server = uvicorn.Server(uvicorn.Config(app_, host=host, port=port, log_level=log_level,
                                           timeout_graceful_shutdown=5))
    server.run()
    if engine.load_error is not None:
        _print_error(f"the model failed to load: {engine.load_error}")
        raise typer.Exit(2)
    if engine.is_random:
        err_console.print(f"[yellow]note: served {RANDOM_WEIGHTS_WARNING}[/]")
