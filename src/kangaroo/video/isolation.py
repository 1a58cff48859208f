"""Decode in a child process, so that a crash or a hang inside FFmpeg cannot take the caller down.

The child runs the decoding function it is given (`load_video` passes its own) and sends back the
clip (or the error's class, source and cause) over a pipe; the parent kills it when the time limit
passes or reports how it died. This module knows nothing of how decoding is done.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

from . import errors
from .clip import VideoClip
from .errors import VideoDecodeError, VideoError, VideoTimeoutError

_STARTUP_SECONDS = 60.0  # time for the child to start Python and import the video layer

Decoder = Callable[..., VideoClip]  # decoder(path, progress=callback, **kwargs) -> VideoClip


def _child(conn, decoder: Decoder, path: str, kwargs: dict[str, Any]) -> None:
    conn.send(("ready", None))

    def report(done: int, total: int) -> None:
        conn.send(("progress", (done, total)))

    try:
        clip = decoder(path, progress=report, **kwargs)
        conn.send(("ok", clip))
    except VideoError as exc:
        conn.send(("error", (type(exc).__name__, exc.cause)))
    except Exception as exc:  # anything else still reaches the parent as a typed error
        conn.send(("error", ("VideoDecodeError", f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def run_isolated(
    decoder: Decoder,
    path: str,
    kwargs: dict[str, Any],
    timeout: float | None,
    progress: Callable[[int, int], None] | None,
) -> VideoClip:
    """``decoder(path, progress=..., **kwargs)`` in a spawned subprocess: the same clip, the same
    `VideoError` subclasses (any other exception becomes `VideoDecodeError`), and a crash or a hang
    past ``timeout`` seconds becomes `VideoDecodeError` / `VideoTimeoutError`.

    ``decoder`` is pickled by name, so it must be a module-level function; ``kwargs`` and the
    returned clip cross the process boundary pickled too. ``progress(done, total)`` receives the
    child's progress reports.
    """
    import multiprocessing as mp  # only isolated decodes need it (see kangaroo.video)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, decoder, path, kwargs), daemon=True)
    process.start()
    child.close()
    deadline = time.monotonic() + _STARTUP_SECONDS
    try:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise VideoTimeoutError(path, f"decoding exceeded the time limit ({timeout} s) in the subprocess")
            try:
                ready = parent.poll(remaining)
            except (EOFError, OSError):
                ready = True
            if not ready:
                continue
            try:
                kind, payload = parent.recv()
            except (EOFError, OSError):
                process.join(5)
                raise VideoDecodeError(path, f"the decoder process died ({_describe_exit(process.exitcode)})") from None
            if kind == "ready":
                deadline = None if timeout is None else time.monotonic() + timeout
            elif kind == "progress":
                if progress is not None:
                    progress(*payload)
            elif kind == "ok":
                return payload
            else:
                name, cause = payload
                cls = getattr(errors, name, VideoDecodeError)
                raise cls(path, cause)
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
