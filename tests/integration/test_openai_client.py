"""`OpenAIClient` against a real HTTP server on loopback (`openai_endpoint`): retries with backoff
and ``Retry-After``, errors that carry the server's message, bounded concurrency, data URLs and
the reply text."""

from __future__ import annotations

import email.utils
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from kangaroo.inference.openai_client import (
    EndpointError,
    JpegFrames,
    OpenAIClient,
    file_data_url,
    fit_within,
)
from openai_endpoint import KEY, MODEL, FakeEndpoint, serve_endpoint

pytestmark = pytest.mark.integration

GREY = np.full((8, 8, 3), 128, np.uint8)


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    with serve_endpoint() as state:
        yield state


def client(endpoint: FakeEndpoint, **kwargs: Any) -> OpenAIClient:
    settings = {"api_key": KEY, "backoff": 0.01, **kwargs}
    return OpenAIClient(endpoint.url, MODEL, **settings)


def ask(model: OpenAIClient, question: str) -> str:
    """One user message: a small frame and the question (the shape the server checks)."""
    content = [JpegFrames().part(GREY), {"type": "text", "text": question}]
    return model.complete(model.request_body([{"role": "user", "content": content}], max_tokens=8))


def test_a_request_is_answered_with_the_reply_text(endpoint: FakeEndpoint):
    endpoint.answers["What is shown?"] = "A grey square."
    model = client(endpoint)
    assert model.url == endpoint.url + "/chat/completions"
    assert ask(model, "What is shown?") == "A grey square."
    (seen,) = endpoint.seen
    assert seen.body["model"] == MODEL and seen.body["max_tokens"] == 8 and seen.image_sizes == [(8, 8)]


def test_server_error_then_success_is_retried(endpoint: FakeEndpoint):
    endpoint.answers["q"] = "fine"
    endpoint.script.append((500, {}, {"error": {"message": "engine hiccup"}}))
    assert ask(client(endpoint), "q") == "fine"
    assert endpoint.posts == 2


def test_429_honours_retry_after_over_backoff(endpoint: FakeEndpoint):
    endpoint.answers["q"] = "fine"
    endpoint.script.append((429, {"Retry-After": "0"}, {"error": {"message": "slow down"}}))
    date = email.utils.formatdate(time.time() - 60, usegmt=True)  # an HTTP date in the past: no wait
    endpoint.script.append((503, {"Retry-After": date}, {"error": {"message": "busy"}}))
    start = time.monotonic()
    assert ask(client(endpoint, backoff=30.0), "q") == "fine"
    assert time.monotonic() - start < 15  # Retry-After, not the 30 s backoff
    assert endpoint.posts == 3


def test_bad_api_key_fails_at_once_naming_the_key(endpoint: FakeEndpoint):
    with pytest.raises(EndpointError, match="API key") as caught:
        ask(client(endpoint, api_key="wrong", retries=3), "q")
    assert caught.value.status == 401 and "Incorrect API key provided" in str(caught.value)
    assert endpoint.posts == 1  # a 401 is not retried


def test_client_error_carries_the_server_message_without_retry(endpoint: FakeEndpoint):
    with pytest.raises(EndpointError, match="unknown question") as caught:
        ask(client(endpoint, retries=3), "never asked")
    assert caught.value.status == 400
    assert endpoint.posts == 1


def test_retries_run_out_with_an_endpoint_error(endpoint: FakeEndpoint):
    endpoint.script.extend([(503, {}, {"message": "overloaded"})] * 3)
    with pytest.raises(EndpointError, match=r"overloaded.*gave up after 3 attempts") as caught:
        ask(client(endpoint, retries=2), "q")
    assert caught.value.status == 503 and endpoint.posts == 3


def test_an_answer_without_choices_is_an_endpoint_error(endpoint: FakeEndpoint):
    endpoint.script.append((200, {}, {"object": "error"}))
    with pytest.raises(EndpointError, match="no choices"):
        ask(client(endpoint), "q")


def test_unreachable_endpoint_gives_up_after_the_retries():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OpenAIClient(f"http://127.0.0.1:{port}/v1", "m", retries=1, timeout=0.5, backoff=0.01)
    start = time.monotonic()
    with pytest.raises(EndpointError, match=r"cannot reach.*gave up after 2 attempts") as caught:
        ask(model, "q")
    assert caught.value.status is None and time.monotonic() - start < 15


def test_concurrency_bounds_requests_from_any_number_of_threads(endpoint: FakeEndpoint):
    questions = [f"question {i}" for i in range(12)]
    endpoint.answers.update({q: f"answer {i}" for i, q in enumerate(questions)})
    endpoint.delay = 0.2  # long enough that requests overlap even on a busy machine
    model = client(endpoint, concurrency=3)
    assert model.map(lambda q: ask(model, q), questions) == [f"answer {i}" for i in range(12)]  # in order
    assert 1 < endpoint.max_in_flight <= 3, endpoint.max_in_flight

    endpoint.max_in_flight = 0
    threads = [threading.Thread(target=ask, args=(model, q)) for q in questions[:8]]  # more callers than slots
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert 1 < endpoint.max_in_flight <= 3, endpoint.max_in_flight


def test_reply_text_joins_parts_and_reads_null_as_empty(endpoint: FakeEndpoint):
    parts = {"choices": [{"message": {"content": [{"type": "text", "text": "A "}, {"type": "text", "text": "B"}]}}]}
    endpoint.script.extend([(200, {}, parts), (200, {}, {"choices": [{"message": {"content": None}}]})])
    model = client(endpoint)
    assert ask(model, "q") == "A B"
    assert ask(model, "q") == ""


def test_frames_are_resized_jpeg_data_urls_and_files_go_whole(tmp_path):
    import base64
    import io

    from PIL import Image

    url = JpegFrames(max_side=48, quality=80).data_url(np.zeros((64, 96, 3), np.uint8))
    assert url.startswith("data:image/jpeg;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (48, 32)  # aspect kept
    assert fit_within(96, 64, 448) is None and fit_within(1000, 10, 100) == (100, 1)
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x01video")
    assert file_data_url(path, "video/mp4") == "data:video/mp4;base64," + base64.b64encode(b"\x00\x01video").decode()


def test_settings_are_validated_and_the_key_stays_private(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    model = OpenAIClient("http://h:8000/v1/chat/completions/", "m")
    assert model.base_url == "http://h:8000/v1" and model.api_key == "sk-from-env"
    assert "sk-from-env" not in repr(model)
    bad = [{"base_url": "h:8000"}, {"base_url": "ftp://h/v1"}, {"model": " "}, {"concurrency": 0},
           {"timeout": 0}, {"retries": -1}, {"retries": True}, {"backoff": -1}]
    for override in bad:
        with pytest.raises(ValueError):
            OpenAIClient(**{"base_url": "http://h/v1", "model": "m", **override})
    for max_side, quality in ((0, 90), (448, 0), (448, 101)):
        with pytest.raises(ValueError):
            JpegFrames(max_side, quality)
