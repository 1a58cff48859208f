"""While the model loads, a real server on loopback answers 503 (health and chat) in the OpenAI
error format, lists the model without its details, and answers normally once it has loaded."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from kangaroo.inference.loading import ensure_tiny_random
from kangaroo.serve.api import create_app
from kangaroo.serve.engine import ChatEngine
from kangaroo.serve.media import MediaPolicy
from kangaroo.video.sample import make_sample_video
from serve_fixtures import chat, file_url, free_port, video_message


@contextlib.contextmanager
def in_process_server(app) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port in a thread, until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.integration
def test_requests_before_the_model_has_loaded_get_503_then_answers(tmp_path):
    model_dir = ensure_tiny_random(tmp_path / "model")
    video = tmp_path / "media" / "clip.mp4"
    video.parent.mkdir()
    make_sample_video(video)
    engine = ChatEngine(model_dir, sampling=None)
    app = create_app(engine, MediaPolicy(local_root=video.parent), media_folder=tmp_path / "requests", load=False)
    body = {"messages": [video_message(file_url(video), "What happens?")], "max_tokens": 4}
    with in_process_server(app) as url:
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503
        refused = chat(url, body)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "model_not_ready" and "loading" in refused.json()["error"]["message"]
        (listed,) = httpx.get(f"{url}/v1/models").json()["data"]
        assert "max_model_len" not in listed  # not known before the model is there
        assert "kangaroo_model_ready 0" in httpx.get(f"{url}/metrics").text
        engine.load()
        assert httpx.get(f"{url}/health").status_code == 200
        answered = chat(url, body)
        assert answered.status_code == 200, answered.text
        assert answered.json()["usage"]["completion_tokens"] >= 1
        assert "kangaroo_model_ready 1" in httpx.get(f"{url}/metrics").text
