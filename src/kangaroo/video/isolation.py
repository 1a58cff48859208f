"""Decode in a child process, so that a crash or a hang inside FFmpeg cannot take the caller down.

The child runs `load_video` and sends back the clip (or the error's class, source and cause) over
a pipe; the parent kills it when the time limit passes or reports how it died.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections.abc import Callable
from typing import Any

from . import errors
from .clip import VideoClip
from .errors import VideoDecodeError, VideoError, VideoTimeoutError

_STARTUP_SECONDS = 60.0  # time for the child to start Python and import the video layer


def _child(conn, path: str, kwargs: dict[str, Any]) -> None:
    from .decode import _load  # imported here: the child starts from a fresh interpreter

    conn.send(("ready", None))

    def report(done: int, total: int) -> None:
        conn.send(("progress", (done, total)))

    try:
        clip = _load(path, progress=report, **kwargs)
        conn.send(("ok", clip))
    except VideoError as exc:
        conn.send(("error", (type(exc).__name__, exc.cause)))
    except Exception as exc:  # anything else still reaches the parent as a typed error
        conn.send(("error", ("VideoDecodeError", f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def run_isolated(
    path: str, kwargs: dict[str, Any], timeout: float | None, progress: Callable[[int, int], None] | None
) -> VideoClip:
    """`load_video` in a spawned subprocess; same result, same errors, plus crashes and hangs
    become `VideoDecodeError` / `VideoTimeoutError`."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, path, kwargs), daemon=True)
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
