"""`OpenAIBackend` against a real HTTP server on loopback that speaks the chat-completions API.

The server checks the bearer token and the request's JSON shape, decodes every image data URL
with PIL (a broken JPEG fails the request), records what it got and answers from an answer key.
Scripted failures (500, 429, 401) come before the normal answers.
"""

from __future__ import annotations

import base64
import io
import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from benchmark_fixtures import tiny_video
from kangaroo.eval.backends.base import GenerationRequest
from kangaroo.eval.backends.openai import EndpointError, OpenAIBackend
from kangaroo.eval.samples import EvalSample
from kangaroo.video import InvalidSamplingError

from video_fixtures import frame_ids, write_indexed

pytestmark = pytest.mark.integration

KEY = "sk-test-123"
PREFIX = "Best option:("
FPS = 8.0


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
    if body.get("model") != "served-model" or body.get("temperature") != 0 or body.get("max_tokens", 0) < 1:
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
            try:
                self._answer(body, scripted)
            finally:
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


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    state = FakeEndpoint(answers={})
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def indexed_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 frames at 8 fps, 96x64, each frame's colour saying which frame it is."""
    return write_indexed(tmp_path_factory.mktemp("openai") / "indexed.mp4", 16, fps=FPS, size=(96, 64))


def backend(endpoint: FakeEndpoint, **kwargs: Any) -> OpenAIBackend:
    settings = {"base_url": endpoint.url, "model": "served-model", "api_key": KEY, "backoff": 0.01, **kwargs}
    return OpenAIBackend(**settings)


def request(payload: Any, user: str, prefix: str = "", system: str = "") -> GenerationRequest:
    return GenerationRequest(EvalSample(id=user, question=user), payload, system, user, prefix, 8)


def test_frames_sent_are_the_sampled_frames_in_order_and_resized(endpoint: FakeEndpoint, indexed_video: Path):
    endpoint.answers["What is shown?"] = "A square."
    model = backend(endpoint, max_side=48)
    payload, timestamps = model.load_video(EvalSample("s", "q", video=str(indexed_video)), 5, "uniform", None)
    assert model.generate([request(payload, "What is shown?", system="Be brief.")]) == ["A square."]
    (seen,) = endpoint.seen
    assert len(seen.image_sizes) == 5 == len(timestamps)
    assert all(size == (48, 32) for size in seen.image_sizes)  # 96x64 -> longer side 48, aspect kept
    assert seen.image_ids == np.round(timestamps * FPS).astype(int).tolist()  # exactly those frames, in order
    assert seen.image_ids == sorted(seen.image_ids)
    assert seen.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert seen.body["max_tokens"] == 8


def test_clip_bounds_and_small_videos(endpoint: FakeEndpoint, indexed_video: Path):
    model = backend(endpoint, max_side=448)
    sample = EvalSample("s", "q", video=str(indexed_video), start=0.5, end=1.5)
    payload, timestamps = model.load_video(sample, 4, "uniform", None)
    assert len(payload.urls) == 4 and np.all((timestamps >= 0.5) & (timestamps < 1.5))
    endpoint.answers["q"] = "ok"
    model.generate([request(payload, "q")])
    assert endpoint.seen[0].image_sizes == [(96, 64)] * 4  # smaller than max_side: not resized


def test_replies_come_back_in_request_order_under_concurrency(endpoint: FakeEndpoint, tmp_path: Path):
    questions = [f"question {i}" for i in range(12)]
    endpoint.answers.update({q: f"answer {i}" for i, q in enumerate(questions)})
    endpoint.delay = 0.2  # long enough that requests overlap even on a busy machine
    model = backend(endpoint, concurrency=4)
    assert model.batch_size == 4
    payload, _ = model.load_video(EvalSample("s", "q", video=str(tiny_video(tmp_path / "v.mp4"))), 2, "uniform", None)
    replies = model.generate([request(payload, q) for q in questions])
    assert replies == [f"answer {i}" for i in range(12)]
    assert 1 < endpoint.max_in_flight <= 4, endpoint.max_in_flight


def test_assistant_prefix_is_continued_and_an_echo_is_stripped(endpoint: FakeEndpoint, tmp_path: Path):
    endpoint.answers.update({"plain": "B) two", "echoed": PREFIX + "C) three"})
    model = backend(endpoint)
    payload, _ = model.load_video(EvalSample("s", "q", video=str(tiny_video(tmp_path / "v.mp4"))), 2, "uniform", None)
    replies = model.generate([request(payload, "plain", PREFIX), request(payload, "echoed", PREFIX)])
    assert replies == ["B) two", "C) three"]
    for seen in endpoint.seen:
        assert seen.body["messages"][-1] == {"role": "assistant", "content": PREFIX}
        assert seen.body["continue_final_message"] is True and seen.body["add_generation_prompt"] is False


def test_server_error_then_success_is_retried(endpoint: FakeEndpoint):
    endpoint.answers["q"] = "fine"
    endpoint.script.append((500, {}, {"error": {"message": "engine hiccup"}}))
    assert backend(endpoint).generate([request(_one_frame(), "q")]) == ["fine"]
    assert endpoint.posts == 2


def test_429_honours_retry_after_over_backoff(endpoint: FakeEndpoint):
    endpoint.answers["q"] = "fine"
    endpoint.script.append((429, {"Retry-After": "0"}, {"error": {"message": "slow down"}}))
    start = time.monotonic()
    assert backend(endpoint, backoff=30.0).generate([request(_one_frame(), "q")]) == ["fine"]
    assert time.monotonic() - start < 15  # Retry-After: 0, not the 30 s backoff
    assert endpoint.posts == 2


def test_bad_api_key_fails_at_once_naming_the_key(endpoint: FakeEndpoint):
    model = backend(endpoint, api_key="wrong", retries=3)
    with pytest.raises(EndpointError, match="API key") as caught:
        model.generate([request(_one_frame(), "q")])
    assert caught.value.status == 401 and "Incorrect API key provided" in str(caught.value)
    assert endpoint.posts == 1  # a 401 is not retried


def test_client_error_carries_the_server_message_without_retry(endpoint: FakeEndpoint):
    with pytest.raises(EndpointError, match="unknown question") as caught:
        backend(endpoint, retries=3).generate([request(_one_frame(), "never asked")])
    assert caught.value.status == 400
    assert endpoint.posts == 1


def test_retries_run_out_with_an_endpoint_error(endpoint: FakeEndpoint):
    endpoint.script.extend([(503, {}, {"message": "overloaded"})] * 3)
    with pytest.raises(EndpointError, match=r"overloaded.*gave up after 3 attempts") as caught:
        backend(endpoint, retries=2).generate([request(_one_frame(), "q")])
    assert caught.value.status == 503 and endpoint.posts == 3


def test_unreachable_endpoint_gives_up_after_the_retries():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OpenAIBackend(base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=1, timeout=0.5, backoff=0.01)
    start = time.monotonic()
    with pytest.raises(EndpointError, match=r"cannot reach.*gave up after 2 attempts") as caught:
        model.generate([request(_one_frame(), "q")])
    assert caught.value.status is None and time.monotonic() - start < 15


def test_video_mode_sends_the_whole_file_and_refuses_bounds(endpoint: FakeEndpoint, indexed_video: Path):
    endpoint.answers["q"] = "a video"
    model = backend(endpoint, video_as="video")
    payload, timestamps = model.load_video(EvalSample("s", "q", video=str(indexed_video)), 4, "uniform", None)
    assert len(timestamps) == 4 and np.all(np.diff(timestamps) > 0)
    assert model.generate([request(payload, "q")]) == ["a video"]
    (seen,) = endpoint.seen
    assert seen.image_sizes == [] and seen.video_bytes == [indexed_video.read_bytes()]
    bounded = EvalSample("b", "q", video=str(indexed_video), start=0.5, end=1.0)
    with pytest.raises(InvalidSamplingError, match="whole file"):
        model.load_video(bounded, 4, "uniform", None)


def test_settings_are_validated_and_the_key_stays_private(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    model = OpenAIBackend(base_url="http://h:8000/v1/", model="m")
    assert model._api_key == "sk-from-env" and model.name == "openai:m" and model.batch_size == 4
    description = model.describe()
    assert description["base_url"] == "http://h:8000/v1" and description["video_as"] == "frames"
    assert description["max_side"] == 448 and "sk-from-env" not in json.dumps(description)
    bad = [{"base_url": "h:8000"}, {"model": ""}, {"video_as": "gif"}, {"max_side": 0}, {"jpeg_quality": 101},
           {"concurrency": 0}, {"timeout": 0}, {"retries": -1}]
    for override in bad:
        with pytest.raises(ValueError):
            OpenAIBackend(**{"base_url": "http://h/v1", "model": "m", **override})


def _one_frame() -> Any:
    """A payload of one small frame, for tests about the HTTP side."""
    from kangaroo.eval.backends.openai import FramesPayload, _jpeg_data_url

    return FramesPayload((_jpeg_data_url(np.full((8, 8, 3), 128, np.uint8), 448, 90),))


def test_the_harness_scores_an_endpoint_end_to_end(endpoint: FakeEndpoint, tmp_path: Path) -> None:
    """`kangaroo eval`'s runner on a tiny MVBench (bounds, a frame folder, an assistant prefix)."""
    from benchmark_fixtures import mvbench
    from kangaroo.eval.formats import read_samples
    from kangaroo.eval.prompting import render_prompt
    from kangaroo.eval.runner import run_task
    from kangaroo.eval.task import load_task

    task = load_task("mvbench")
    expected = mvbench.write(tmp_path / "data")
    prompt = task.prompt_variant()
    for sample in read_samples(task.format, tmp_path / "data", task.data):
        user = render_prompt(prompt, sample, np.zeros(4)).user
        endpoint.answers[user] = f"{sample.answer}) {sample.options[ord(sample.answer) - 65]}"
    metrics = run_task(backend(endpoint, concurrency=2), task, tmp_path / "data", tmp_path / "out", frames=4)
    overall = metrics["overall"]
    assert (overall["scored"], overall["errors"], overall["accuracy_strict"]) == (len(expected), 0, 100.0)
    assert len(endpoint.seen) == len(expected)
    assert all(len(seen.image_sizes) == 4 for seen in endpoint.seen)  # the frames the harness sampled
    assert all(seen.body["messages"][-1] == {"role": "assistant", "content": PREFIX} for seen in endpoint.seen)
