"""A real HTTP server on loopback that speaks the OpenAI chat-completions API, for the tests of
`kangaroo.inference.openai_client` and of the clients built on it (the eval backend).

The server checks the bearer token and the request's JSON shape, decodes every image data URL
with PIL (a broken JPEG fails the request), records what it got and answers from an answer key.
Scripted failures (500, 429, 401) come before the normal answers.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

from video_fixtures import frame_ids

KEY = "sk-test-123"
MODEL = "served-model"


class BadRequest(Exception):
    """The request does not have the chat-completions shape (answered with HTTP 400)."""


@dataclass
class Seen:
    """What the server got in one well-formed request."""

    body: dict[str, Any]
    image_sizes: list[tuple[int, int]]
    image_ids: list[int]
    video_bytes: list[bytes]
    question: str


@dataclass
class FakeEndpoint:
    """State shared by the handler threads."""

    answers: dict[str, str]
    script: deque = field(default_factory=deque)  # (status, headers, body) served first, in order
    delay: float = 0.0  # answers wait between half this and this many seconds (random)
    posts: int = 0
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


def _decode_data_url(url: str, mime_prefix: str) -> bytes:
    head, _, data = url.partition(",")
    if not head.startswith(f"data:{mime_prefix}") or not head.endswith(";base64"):
        raise BadRequest(f"not a base64 {mime_prefix} data URL: {head[:40]}")
    return base64.b64decode(data, validate=True)


def _check_parts(content: Any) -> tuple[list[Image.Image], list[bytes], str]:
    """The user message's images (decoded), videos (raw bytes) and its final text."""
    if not isinstance(content, list) or not content or content[-1].get("type") != "text":
        raise BadRequest("the user content must be a list of parts ending with the text")
    images, videos = [], []
    for part in content[:-1]:
        kind = part.get("type")
        if kind == "image_url":
            image = Image.open(io.BytesIO(_decode_data_url(part["image_url"]["url"], "image/jpeg")))
            image.load()  # a truncated or corrupt JPEG raises here
            images.append(image)
        elif kind == "video_url":
            videos.append(_decode_data_url(part["video_url"]["url"], "video/"))
        else:
            raise BadRequest(f"unexpected part type {kind!r}")
    return images, videos, content[-1]["text"]


def _check_body(body: dict[str, Any], endpoint: FakeEndpoint) -> tuple[Seen, str]:
    """Validate the request; return what was seen and the reply text."""
    if body.get("model") != MODEL or body.get("temperature") != 0 or body.get("max_tokens", 0) < 1:
        raise BadRequest(f"bad model/temperature/max_tokens: {body}")
    messages = body["messages"]
    roles = [m["role"] for m in messages]
    if roles not in (["user"], ["system", "user"], ["user", "assistant"], ["system", "user", "assistant"]):
        raise BadRequest(f"unexpected roles {roles}")
    user = messages[roles.index("user")]
    images, videos, question = _check_parts(user["content"])
    if roles[-1] == "assistant":
        if body.get("continue_final_message") is not True or body.get("add_generation_prompt") is not False:
            raise BadRequest("an assistant prefix needs continue_final_message and no generation prompt")
    elif "continue_final_message" in body:
        raise BadRequest("continue_final_message without an assistant prefix")
    if question not in endpoint.answers:
        raise BadRequest(f"unknown question {question!r}")
    rgb = [np.asarray(image.convert("RGB")) for image in images]
    ids = frame_ids(np.stack(rgb)).tolist() if rgb else []
    seen = Seen(body, [image.size for image in images], ids, videos, question)
    return seen, endpoint.answers[question]


def make_handler(endpoint: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self._leave()  # the client may send its next request as soon as it reads this answer
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with endpoint.lock:
                endpoint.posts += 1
                scripted = endpoint.script.popleft() if endpoint.script else None
                endpoint.in_flight += 1
                endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint.in_flight)
            self._counted = True
            try:
                self._answer(body, scripted)
            finally:
                self._leave()

        def _leave(self) -> None:
            """This request is no longer in flight (counted once, before its answer is sent)."""
            if getattr(self, "_counted", False):
                self._counted = False
                with endpoint.lock:
                    endpoint.in_flight -= 1

        def _answer(self, body: bytes, scripted: tuple | None) -> None:
            if scripted is not None:
                status, headers, payload = scripted
                return self._send(status, payload, headers)
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                return self._send(401, {"error": {"message": "Incorrect API key provided"}})
            try:
                seen, reply = _check_body(json.loads(body), endpoint)
            except (BadRequest, KeyError, TypeError, ValueError, OSError) as exc:
                return self._send(400, {"error": {"message": f"bad request: {exc}"}})
            if endpoint.delay:
                time.sleep(random.uniform(endpoint.delay / 2, endpoint.delay))
            with endpoint.lock:
                endpoint.seen.append(seen)
            self._send(200, {"id": "x", "object": "chat.completion",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]})

    return Handler


@contextlib.contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1") -> Iterator[str]:
    """A ThreadingHTTPServer with ``handler`` on a free port of the loopback address ``host``,
    running while the block runs; yields its ``http://HOST:PORT/v1`` base URL."""
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def serve_endpoint() -> Iterator[FakeEndpoint]:
    """A running server on a free loopback port; its state (``url``, ``answers``, ``seen``, ...)."""
    state = FakeEndpoint(answers={})
    with loopback_server(make_handler(state)) as url:
        state.url = url
        yield state
