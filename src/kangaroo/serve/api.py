"""The OpenAI-compatible HTTP API over a `ChatEngine` (FastAPI; run by ``kangaroo serve``).

Routes: ``POST /v1/chat/completions`` (JSON or server-sent events), ``GET /v1/models``,
``GET /health`` (200 once the model is loaded, 503 before), ``GET /metrics`` (Prometheus text).
Every error is ``{"error": {"message", "type", "code"}}`` with the status documented in
docs/serving.md; no traceback ever reaches a client. Bodies above ``max_request_bytes`` get 413
before they are read whole; media are fetched under a `MediaPolicy` (`media.py`) into a folder
per request, removed when the request ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse
    from sse_starlette import EventSourceResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the server needs its extra: pip install 'kangaroo[serve]'") from exc

from .engine import ApiError, ChatEngine, ChatJob, MediaItem
from .media import MediaError, MediaPolicy, describe_url, fetch_media
from .protocol import ChatRequest, chunk_body, completion_body, completion_id, parse_chat_request, usage

log = logging.getLogger(__name__)
DISCONNECT_POLL = 0.25  # seconds between checks that a waiting client is still there


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def create_app(engine: ChatEngine, policy: MediaPolicy, *, max_request_bytes: int = 96 * 2**20,
               media_folder: str | Path | None = None, load: bool = True,
               on_load_error: Callable[[], None] | None = None) -> FastAPI:
    """The FastAPI app. With ``load``, the engine's model loads in a background thread at startup
    (``/health`` answers 503 meanwhile; ``on_load_error()`` is called if loading fails)."""
    folder = Path(media_folder) if media_folder is not None else Path(tempfile.mkdtemp(prefix="kangaroo-media-"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if load and not engine.ready:
            loop = asyncio.get_running_loop()
            app.state.loading = loop.run_in_executor(None, _load_logged, engine, on_load_error)
        yield
        engine.close()
        shutil.rmtree(folder, ignore_errors=True)

    app = FastAPI(title="kangaroo", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(ApiError(exc.status_code, str(exc.detail), code))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(ApiError(500, f"internal error: {type(exc).__name__}", "internal_error"))

    @app.get("/health")
    async def health() -> JSONResponse:
        if engine.ready:
            return JSONResponse({"status": "ok", "model": engine.model_name})
        status = "loading" if engine.load_error is None else "failed"
        return JSONResponse({"status": status, "error": engine.load_error}, status_code=503)

    @app.get("/v1/models")
    async def models() -> JSONResponse:
        entry: dict[str, Any] = {"id": engine.model_name, "object": "model", "created": 0, "owned_by": "kangaroo"}
        if engine.ready:
            entry["max_model_len"] = engine.max_model_len
            entry["random_weights"] = engine.is_random
        return JSONResponse({"object": "list", "data": [entry]})

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        gauges = {
            "kangaroo_queue_depth": ("Requests waiting for the model.", lambda: engine.queue_depth),
            "kangaroo_requests_running": ("Requests the model is answering.", lambda: engine.running),
            "kangaroo_model_ready": ("1 once the model is loaded.", lambda: int(engine.ready)),
        }
        return PlainTextResponse(engine.metrics.render(gauges), media_type="text/plain; version=0.0.4")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            parsed = parse_chat_request(_decode(await _read_body(request, max_request_bytes)), engine.model_name)
            if not engine.ready:
                raise ApiError(503, "the model is still loading" if engine.load_error is None
                               else f"the model failed to load: {engine.load_error}", "model_not_ready")
            sampling = engine.sampling_for(parsed.sampling)
        except ApiError as exc:
            engine.metrics.count_request(exc.status)
            return error_response(exc)
        request_folder = folder / uuid.uuid4().hex
        try:
            media = await run_in_threadpool(_fetch_all, parsed, policy, request_folder)
            events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
            loop = asyncio.get_running_loop()
            job = ChatJob(parsed.messages, media, sampling, parsed.options,
                          lambda event: loop.call_soon_threadsafe(events.put_nowait, event),
                          continue_final=parsed.continue_final)
            engine.submit(job)
            kind, value = await _next(events, request, job)
            if kind == "error":
                raise value
        except ApiError as exc:
            shutil.rmtree(request_folder, ignore_errors=True)
            engine.metrics.count_request(exc.status)
            return error_response(exc)
        engine.metrics.count_request(200)
        if parsed.stream:
            return EventSourceResponse(_stream(engine, parsed, job, events, request_folder), ping=15)
        try:
            return JSONResponse(completion_body(completion_id(), engine.model_name, await _finish(events, request, job)))
        except ApiError as exc:
            return error_response(exc)
        finally:
            shutil.rmtree(request_folder, ignore_errors=True)

    return app


def _load_logged(engine: ChatEngine, on_error: Callable[[], None] | None) -> None:
    try:
        engine.load()
    except Exception:
        log.exception("the model failed to load")
        if on_error is not None:
            on_error()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body has {declared} bytes; the limit is {limit} (--max-request-bytes)",
                       "request_too_large")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"the request body exceeds {limit} bytes (--max-request-bytes)", "request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid_json") from None


def _fetch_all(parsed: ChatRequest, policy: MediaPolicy, folder: Path) -> list[MediaItem]:
    items = []
    for kind, url in parsed.media:
        try:
            items.append(MediaItem(fetch_media(url, policy, folder, kind), f"{kind} {describe_url(url)!r}"))
        except MediaError as exc:
            raise ApiError(exc.status, str(exc), exc.code) from None
    return items


async def _next(events: asyncio.Queue, request: Request, job: ChatJob) -> tuple[str, Any]:
    """The job's next event; cancels the job when the client disconnects meanwhile."""
    while True:
        try:
            return await asyncio.wait_for(events.get(), DISCONNECT_POLL)
        except TimeoutError:
            if await request.is_disconnected():
                job.cancel()


async def _finish(events: asyncio.Queue, request: Request, job: ChatJob) -> Any:
    while True:
        kind, value = await _next(events, request, job)
        if kind == "error":
            raise value
        if kind == "done":
            return value


async def _stream(engine: ChatEngine, parsed: ChatRequest, job: ChatJob, events: asyncio.Queue,
                  folder: Path) -> AsyncIterator[dict[str, str]]:
    """Server-sent events: a role chunk (once the first token exists), content chunks, a final chunk,
    usage if asked, ``[DONE]``."""
    identifier, name = completion_id(), engine.model_name
    finished = False
    try:
        while True:
            kind, value = await events.get()
            if kind == "first_token":  # the role chunk marks the first token (clients time it)
                yield {"data": json.dumps(chunk_body(identifier, name, {"role": "assistant", "content": ""}))}
            elif kind == "text":
                yield {"data": json.dumps(chunk_body(identifier, name, {"content": value}), ensure_ascii=False)}
            elif kind == "error":
                finished = True
                yield {"data": json.dumps(value.body())}
                break
            elif kind == "done":
                finished = True
                yield {"data": json.dumps(chunk_body(identifier, name, {}, value.finish_reason))}
                if parsed.include_usage:
                    yield {"data": json.dumps({"id": identifier, "object": "chat.completion.chunk",
                                               "created": int(time.time()), "model": name, "choices": [],
                                               "usage": usage(value)})}
                break
        yield {"data": "[DONE]"}
    finally:  # the client went away (the task is cancelled) or the stream ended
        if not finished:
            job.cancel()
        shutil.rmtree(folder, ignore_errors=True)
