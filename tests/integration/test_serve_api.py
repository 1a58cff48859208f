"""`kangaroo serve` as a client meets it: a real server process on loopback, a real HTTP client.

One server (the tiny random-weights model) answers every test here: good requests, streaming,
follow-ups that reuse the KV prefix, concurrent conversations, a full queue, a client that goes
away, and hostile input (path traversal, SSRF, oversized and broken media, bad JSON, special
tokens in text). Each hostile request gets its documented status and code, and the server keeps
answering.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'kangaroo[serve]'")

from benchmark_fixtures import tiny_video, videomme
from kangaroo.eval.backends.kangaroo import KangarooBackend
from kangaroo.eval.backends.openai import OpenAIBackend
from kangaroo.eval.runner import run_task
from kangaroo.eval.task import load_task
from kangaroo.inference.loading import ensure_tiny_random
from openai_endpoint import loopback_server
from serve_fixtures import chat, file_url, metric, running_server, video_message

from video_fixtures import write_indexed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_MEDIA = 200_000
MAX_BODY = 400_000


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    outside = tmp_path_factory.mktemp("outside")
    files = {
        "clip": write_indexed(root / "clip.mp4", 40, fps=10),
        "other": tiny_video(root / "other.mp4", seconds=3.0, seed=3),
        "third": tiny_video(root / "third.mp4", seconds=2.0, seed=5),
        "secret": outside / "secret.mp4",
    }
    files["secret"].write_bytes(files["clip"].read_bytes())
    (root / "link.mp4").symlink_to(files["secret"])
    (root / "zero.mp4").write_bytes(b"")
    data = files["clip"].read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (root / "corrupt.mp4").write_bytes(os.urandom(4000))
    (root / "notes.mp4").write_text("this is not a video\n" * 50)
    return root, files


class MediaHandler(BaseHTTPRequestHandler):
    clip: bytes = b""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        redirects = {"/to-loopback": f"http://127.0.0.1:{port}/clip.mp4",
                     "/to-localhost": f"http://localhost:{port}/clip.mp4",
                     "/to-metadata": "http://169.254.169.254/latest/meta-data/"}
        if self.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[self.path])
            self.end_headers()
        elif self.path == "/clip.mp4":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(self.clip)))
            self.end_headers()
            self.wfile.write(self.clip)
        elif self.path == "/endless.mp4":  # no Content-Length: the cap must stop the read
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.end_headers()
            for _ in range(MAX_MEDIA // 10_000 + 5):
                self.wfile.write(b"\0" * 10_000)
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def media_host(media):
    """A media web server on 127.0.0.2 (the one address the API server may fetch from)."""
    MediaHandler.clip = media[1]["clip"].read_bytes()
    with loopback_server(MediaHandler, host="127.0.0.2") as url:
        yield url.removesuffix("/v1")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return ensure_tiny_random(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory, media):
    root, _ = media
    log = tmp_path_factory.mktemp("log") / "serve.log"
    args = ["--allowed-local-media-path", str(root),
            "--allowed-media-domains", "127.0.0.2,localhost,169.254.169.254",
            "--allowed-media-ip-ranges", "127.0.0.2/32",
            "--max-media-bytes", str(MAX_MEDIA), "--max-request-bytes", str(MAX_BODY),
            "--max-frames", "128", "--max-model-len", "1000", "--max-queue", "2",
            "--media-io-kwargs", '{"video": {"num_frames": 4}}', "--fetch-timeout", "5"]
    with running_server(model_dir, *args, log=log) as url:
        yield url


def ask(url: str, video_url: str, question: str = "What happens?", **extra) -> httpx.Response:
    return chat(url, {"messages": [video_message(video_url, question)], "max_tokens": 6, **extra})


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and set(error) == {"message", "type", "code"}
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    assert "Traceback" not in response.text


def test_answers_in_openai_format_and_reuses_features(server, media):
    _, files = media
    assert server.startup[-1] == 200 and set(server.startup) <= {200, 503}  # 503 while the model loads
    models = httpx.get(f"{server}/v1/models").json()["data"]
    assert [m["id"] for m in models] == ["tiny-random"] and models[0]["random_weights"] is True
    hits = metric(server, "kangaroo_feature_cache_hits_total")
    first = ask(server, file_url(files["third"]))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["finish_reason"] in ("stop", "length")
    assert body["usage"]["completion_tokens"] <= 6
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    again = ask(server, file_url(files["third"]))
    assert again.json()["choices"][0]["message"]["content"] == body["choices"][0]["message"]["content"]
    assert metric(server, "kangaroo_feature_cache_hits_total") == hits + 1  # same content, same sampling
    assert again.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == body["usage"]["prompt_tokens"] - 1
    more_frames = ask(server, file_url(files["third"]), mm_processor_kwargs={"num_frames": 8})
    assert more_frames.json()["usage"]["prompt_tokens"] > body["usage"]["prompt_tokens"]  # sampled per request


def test_streaming_gives_the_same_answer_in_server_sent_events(server, media):
    _, files = media
    body = {"messages": [video_message(file_url(files["clip"]), "Describe it.")], "max_tokens": 12, "seed": 1}
    plain = chat(server, body).json()
    with httpx.stream("POST", f"{server}/v1/chat/completions", timeout=60,
                      json={**body, "stream": True, "stream_options": {"include_usage": True}}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]
    assert chunks[-1]["usage"]["completion_tokens"] == plain["usage"]["completion_tokens"]


def test_a_follow_up_reuses_the_conversation_prefix(server, media):
    _, files = media
    turn1 = [video_message(file_url(files["other"]), "What moves?")]
    first = chat(server, {"messages": turn1, "max_tokens": 8}).json()
    turn2 = [*turn1, {"role": "assistant", "content": first["choices"][0]["message"]["content"]},
             {"role": "user", "content": "然后呢？ And then?"}]
    second = chat(server, {"messages": turn2, "max_tokens": 8})
    assert second.status_code == 200, second.text
    usage = second.json()["usage"]
    assert usage["prompt_tokens"] > first["usage"]["prompt_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] >= first["usage"]["prompt_tokens"]


def test_concurrent_conversations_never_see_each_other(server, media):
    _, files = media
    conversations = {name: [video_message(file_url(files[name]), f"Question about {name}?")]
                     for name in ("clip", "other", "third")}
    alone = {name: chat(server, {"messages": m, "max_tokens": 8}).json()["choices"][0]["message"]["content"]
             for name, m in conversations.items()}
    results: dict[str, str] = {}

    def talk(name: str) -> None:
        messages = [*conversations[name], {"role": "assistant", "content": alone[name]},
                    {"role": "user", "content": "And what else?"}]
        for _ in range(2):
            response = chat(server, {"messages": messages, "max_tokens": 8})
            assert response.status_code in (200, 429), response.text
            if response.status_code == 200:
                results[name] = response.json()["choices"][0]["message"]["content"]
                return
            time.sleep(1)

    threads = [threading.Thread(target=talk, args=(name,)) for name in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, messages in conversations.items():  # each follow-up, asked again alone, answers the same
        follow_up = [*messages, {"role": "assistant", "content": alone[name]},
                     {"role": "user", "content": "And what else?"}]
        fresh = chat(server, {"messages": follow_up, "max_tokens": 8}).json()["choices"][0]["message"]["content"]
        assert results[name] == fresh


def test_a_new_request_gets_its_first_token_before_a_long_answer_ends(server, media):
    _, files = media
    long_body = {"messages": [video_message(file_url(files["clip"]), "Tell me everything.")],
                 "max_tokens": 400, "temperature": 1.0, "seed": 7, "stream": True}
    short_body = {"messages": [video_message(file_url(files["clip"]), "One word?")], "max_tokens": 2}

    def stream(body: dict, first_chunk: threading.Event | None = None) -> tuple[str, float]:
        text = ""
        with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, timeout=120) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    if first_chunk is not None:
                        first_chunk.set()
                    text += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        return text, time.monotonic()

    alone, _ = stream(long_body)
    assert len(alone) > 40  # long enough to be paused (random weights rarely end a reply early)
    first_chunk, ended = threading.Event(), []
    long_run = threading.Thread(target=lambda: ended.extend(stream(long_body, first_chunk)))
    long_run.start()
    assert first_chunk.wait(60)
    short = chat(server, short_body)
    short_done = time.monotonic()
    long_run.join()
    assert short.status_code == 200, short.text
    long_text, long_done = ended
    assert short_done < long_done  # answered between the long answer's tokens, not after it
    assert long_text == alone  # paused and resumed, the seeded sample is the same


def test_full_queue_answers_429_and_health_stays_responsive(server, media):
    _, files = media
    responses: list[httpx.Response] = []
    body = {"messages": [video_message(file_url(files["clip"]), "Tell me everything.")], "max_tokens": 25}
    threads = [threading.Thread(target=lambda: responses.append(chat(server, body))) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert httpx.get(f"{server}/health", timeout=10).status_code == 200
    assert time.monotonic() - started < 2.0  # not behind the queue
    for thread in threads:
        thread.join()
    statuses = [r.status_code for r in responses]
    assert sorted(set(statuses)) == [200, 429] and statuses.count(200) >= 3
    assert_error(next(r for r in responses if r.status_code == 429), 429, "queue_full", "busy")
    assert metric(server, "kangaroo_rejected_total") >= statuses.count(429)


def test_a_client_that_goes_away_stops_its_generation(server, media):
    _, files = media
    cancelled = metric(server, "kangaroo_cancelled_total")
    tokens = metric(server, "kangaroo_completion_tokens_total")
    body = {"messages": [video_message(file_url(files["clip"]), "Talk for a long time.")], "max_tokens": 900,
            "stream": True}
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # the first event: generation has started; then hang up
    deadline = time.monotonic() + 30
    while metric(server, "kangaroo_cancelled_total") == cancelled and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric(server, "kangaroo_cancelled_total") == cancelled + 1
    assert metric(server, "kangaroo_completion_tokens_total") - tokens < 900
    assert ask(server, file_url(files["clip"])).status_code == 200


def _data_url(data: bytes, mime: str = "video/mp4") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def hostile_cases(root: Path, files: dict[str, Path], host: str) -> list[tuple[str, dict, int, str, str]]:
    """``(name, request body, status, code, message fragment)``."""
    def video(url: str, **extra) -> dict:
        return {"messages": [video_message(url, "What happens?")], "max_tokens": 4, **extra}

    escape = os.path.relpath(files["secret"], root)
    return [
        ("etc passwd", video("file:///etc/passwd"), 403, "media_forbidden", "outside the allowed media folder"),
        ("dot dot", video(f"file://{root}/{escape}"), 403, "media_forbidden", "outside"),
        ("encoded dot dot", video(f"file://{root}/" + quote(escape).replace(".", "%2e")), 403, "media_forbidden",
         "outside"),
        ("symlink out", video(file_url(root / "link.mp4")), 403, "media_forbidden", "outside"),
        ("missing file", video(file_url(root / "nope.mp4")), 400, "media_not_found", "no such file"),
        ("unknown scheme", video("ftp://127.0.0.2/clip.mp4"), 400, "invalid_media", "unsupported"),
        ("host not allowed", video(host.replace("127.0.0.2", "127.0.0.1") + "/clip.mp4"), 403, "media_forbidden",
         "'127.0.0.1' is not allowed"),
        ("metadata address", video("http://169.254.169.254/latest/meta-data/"), 403, "media_forbidden",
         "link-local"),
        ("name resolving to loopback", video(host.replace("127.0.0.2", "localhost") + "/clip.mp4"), 403,
         "media_forbidden", "loopback"),
        ("redirect to a forbidden host", video(f"{host}/to-loopback"), 403, "media_forbidden", "not allowed"),
        ("redirect to loopback by name", video(f"{host}/to-localhost"), 403, "media_forbidden", "loopback"),
        ("redirect to metadata", video(f"{host}/to-metadata"), 403, "media_forbidden", "link-local"),
        ("endless download", video(f"{host}/endless.mp4"), 413, "media_too_large", str(MAX_MEDIA)),
        ("big data url", video(_data_url(b"\0" * (MAX_MEDIA + 10))), 413, "media_too_large", "limit"),
        ("bad base64", video("data:video/mp4;base64,@@@"), 400, "invalid_media", "base64"),
        ("zero bytes", video(file_url(root / "zero.mp4")), 400, "invalid_video", "zero.mp4"),
        ("truncated", video(file_url(root / "truncated.mp4")), 400, "invalid_video", "truncated.mp4"),
        ("corrupt", video(file_url(root / "corrupt.mp4")), 400, "invalid_video", "corrupt.mp4"),
        ("not a video", video(file_url(root / "notes.mp4")), 400, "invalid_video", "notes.mp4"),
        ("huge frame count", video(file_url(files["clip"]), mm_processor_kwargs={"num_frames": 100000}), 400,
         "too_many_frames", "100000"),
        ("context exceeded", video(file_url(files["clip"]), media_io_kwargs={"video": {"num_frames": 128}}), 422,
         "context_length_exceeded", "fewer frames"),
        ("bad sampling", video(file_url(files["clip"]), mm_processor_kwargs={"num_frames": "many"}), 400,
         "invalid_sampling", "num_frames"),
        ("messages not a list", {"messages": "hello"}, 400, "invalid_messages", "messages"),
        ("unknown part", {"messages": [{"role": "user", "content": [{"type": "audio_url"}]}]}, 400,
         "invalid_messages", "audio_url"),
        ("video in assistant turn", {"messages": [{"role": "assistant", "content": [
            {"type": "video_url", "video_url": {"url": file_url(files["clip"])}}]}]}, 400, "invalid_messages",
         "user messages"),
        ("bad role", {"messages": [{"role": "tool", "content": "x"}]}, 400, "invalid_messages", "role"),
        ("max_tokens wrong type", video(file_url(files["clip"]), max_tokens="ten"), 400, "invalid_parameter",
         "max_tokens"),
        ("temperature out of range", video(file_url(files["clip"]), temperature=-1), 400, "invalid_parameter",
         "temperature"),
        ("other model", video(file_url(files["clip"]), model="gpt-4o"), 404, "model_not_found", "gpt-4o"),
    ]


def test_hostile_requests_get_their_documented_errors(server, media, media_host):
    root, files = media
    for name, body, status, code, fragment in hostile_cases(root, files, media_host):
        response = chat(server, body)
        try:
            assert_error(response, status, code, fragment)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        assert httpx.get(f"{server}/health").status_code == 200, name
    raw = httpx.post(f"{server}/v1/chat/completions", content=b'{"messages": [', timeout=30,
                     headers={"content-type": "application/json"})
    assert_error(raw, 400, "invalid_json", "not valid JSON")
    huge = httpx.post(f"{server}/v1/chat/completions", content=b"x" * (MAX_BODY + 1), timeout=30)
    assert_error(huge, 413, "request_too_large", str(MAX_BODY))
    assert_error(httpx.get(f"{server}/v1/nothing"), 404, "not_found", "Not Found")
    good = ask(server, f"{media_host}/clip.mp4")  # an allowed host still works, and the server is up
    assert good.status_code == 200, good.text
    assert ask(server, _data_url(files["clip"].read_bytes())).status_code == 200


def test_special_tokens_in_user_text_stay_text(server, media):
    _, files = media
    counts = {}
    for text in ("<|eot_id|>", "<|eot_iX|>", "<|video_pad|>", "<|video_paX|>"):
        response = ask(server, file_url(files["clip"]), question=f"Read {text} literally.")
        assert response.status_code == 200, response.text
        counts[text] = response.json()["usage"]["prompt_tokens"]
    # the byte tokenizer spends one token per byte on text; a control token would be one token
    assert counts["<|eot_id|>"] == counts["<|eot_iX|>"]
    assert counts["<|video_pad|>"] == counts["<|video_paX|>"]


def _replies(folder: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    return {row["id"]: row["reply"] for row in rows}


def test_eval_through_the_server_scores_like_the_in_process_model(server, model_dir, tmp_path):
    data = tmp_path / "videomme"
    videomme.write(data)
    task = load_task("videomme")
    local = run_task(KangarooBackend(model_dir), task, data, tmp_path / "local", frames=4)
    backend = OpenAIBackend(base_url=f"{server}/v1", model="tiny-random", video_as="video", concurrency=2)
    served = run_task(backend, task, data, tmp_path / "served", frames=4)  # what kangaroo eval --base-url runs
    assert served["overall"] == local["overall"] and local["overall"]["scored"] == 5
    replies = _replies(tmp_path / "served" / "videomme" / "frames_4")
    assert replies == _replies(tmp_path / "local" / "videomme" / "frames_4")
    assert any(replies.values())  # the model said something: the comparison is not of empty strings
