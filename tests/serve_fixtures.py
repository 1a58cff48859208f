"""A real ``kangaroo serve`` process on a loopback port, and request bodies for it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(model_dir: Path, *args: str, log: Path, timeout: float = 180.0) -> Iterator[str]:
    """``kangaroo serve --model model_dir ARGS`` on a free port until the block ends; yields its
    ``http://127.0.0.1:PORT`` root once ``/health`` answers 200. Also yields the statuses of the
    ``/health`` answers seen while it started, as ``url.startup`` (a list)."""
    port = free_port()
    command = [sys.executable, "-m", "kangaroo.cli", "serve", "--model", str(model_dir), "--port", str(port),
               "--log-level", "warning", *args]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    seen: list[int] = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"kangaroo serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                status = httpx.get(f"{url}/health", timeout=5).status_code
                seen.append(status)
                if status == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kangaroo serve did not get ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield StartedServer(url, seen)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class StartedServer(str):
    """The server's root URL, with the ``/health`` statuses seen during start-up."""

    def __new__(cls, url: str, startup: list[int]) -> StartedServer:
        value = super().__new__(cls, url)
        value.startup = startup
        return value


def video_message(url: str, question: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "video_url", "video_url": {"url": url}},
                                        {"type": "text", "text": question}]}


def file_url(path: Path) -> str:
    return "file://" + os.fspath(path)


def chat(url: str, body: dict[str, Any], timeout: float = 120.0) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=timeout)


def metric(url: str, name: str) -> float:
    """A value from ``/metrics`` (the first sample named ``name``)."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)
