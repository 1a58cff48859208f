"""`OpenAIBackend` against a real HTTP server on loopback that speaks the chat-completions API
(`openai_endpoint`): the frames the harness sampled reach the endpoint, in order and resized,
replies come back in order, assistant prefixes are continued, whole-file mode, and the harness
scores an endpoint end to end. The HTTP client's own behaviour (retries, errors, concurrency) is
tested in ``test_openai_client.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmark_fixtures import tiny_video
from kangaroo.eval.backends.base import GenerationRequest
from kangaroo.eval.backends.openai import OpenAIBackend
from kangaroo.eval.samples import EvalSample
from kangaroo.video import FrameSampling, InvalidSamplingError
from openai_endpoint import KEY, MODEL, FakeEndpoint, serve_endpoint

from video_fixtures import write_indexed

pytestmark = pytest.mark.integration

PREFIX = "Best option:("
FPS = 8.0


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    with serve_endpoint() as state:
        yield state


@pytest.fixture(scope="module")
def indexed_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 frames at 8 fps, 96x64, each frame's colour saying which frame it is."""
    return write_indexed(tmp_path_factory.mktemp("openai") / "indexed.mp4", 16, fps=FPS, size=(96, 64))


def backend(endpoint: FakeEndpoint, **kwargs: Any) -> OpenAIBackend:
    settings = {"base_url": endpoint.url, "model": MODEL, "api_key": KEY, "backoff": 0.01, **kwargs}
    return OpenAIBackend(**settings)


def request(payload: Any, user: str, prefix: str = "", system: str = "") -> GenerationRequest:
    return GenerationRequest(EvalSample(id=user, question=user), payload, system, user, prefix, 8)


def test_frames_sent_are_the_sampled_frames_in_order_and_resized(endpoint: FakeEndpoint, indexed_video: Path):
    endpoint.answers["What is shown?"] = "A square."
    model = backend(endpoint, max_side=48)
    payload, timestamps = model.load_video(EvalSample("s", "q", video=str(indexed_video)), FrameSampling(num_frames=5))
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
    payload, timestamps = model.load_video(sample, FrameSampling(num_frames=4))
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
    payload, _ = model.load_video(EvalSample("s", "q", video=str(tiny_video(tmp_path / "v.mp4"))), FrameSampling(num_frames=2))
    replies = model.generate([request(payload, q) for q in questions])
    assert replies == [f"answer {i}" for i in range(12)]
    assert 1 < endpoint.max_in_flight <= 4, endpoint.max_in_flight


def test_assistant_prefix_is_continued_and_an_echo_is_stripped(endpoint: FakeEndpoint, tmp_path: Path):
    endpoint.answers.update({"plain": "B) two", "echoed": PREFIX + "C) three"})
    model = backend(endpoint)
    payload, _ = model.load_video(EvalSample("s", "q", video=str(tiny_video(tmp_path / "v.mp4"))), FrameSampling(num_frames=2))
    replies = model.generate([request(payload, "plain", PREFIX), request(payload, "echoed", PREFIX)])
    assert replies == ["B) two", "C) three"]
    for seen in endpoint.seen:
        assert seen.body["messages"][-1] == {"role": "assistant", "content": PREFIX}
        assert seen.body["continue_final_message"] is True and seen.body["add_generation_prompt"] is False


def test_video_mode_sends_the_whole_file_and_refuses_bounds(endpoint: FakeEndpoint, indexed_video: Path):
    endpoint.answers["q"] = "a video"
    model = backend(endpoint, video_as="video")
    payload, timestamps = model.load_video(EvalSample("s", "q", video=str(indexed_video)), FrameSampling(num_frames=4))
    assert len(timestamps) == 4 and np.all(np.diff(timestamps) > 0)
    assert model.generate([request(payload, "q")]) == ["a video"]
    (seen,) = endpoint.seen
    assert seen.image_sizes == [] and seen.video_bytes == [indexed_video.read_bytes()]
    bounded = EvalSample("b", "q", video=str(indexed_video), start=0.5, end=1.0)
    with pytest.raises(InvalidSamplingError, match="whole file"):
        model.load_video(bounded, FrameSampling(num_frames=4))


def test_settings_are_validated_and_the_key_stays_private(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    model = OpenAIBackend(base_url="http://h:8000/v1/", model="m")
    assert model.client.api_key == "sk-from-env" and model.name == "openai:m" and model.batch_size == 4
    description = model.describe()
    assert description["base_url"] == "http://h:8000/v1" and description["video_as"] == "frames"
    assert description["max_side"] == 448 and "sk-from-env" not in json.dumps(description)
    bad = [{"base_url": "h:8000"}, {"model": ""}, {"video_as": "gif"}, {"max_side": 0}, {"jpeg_quality": 101},
           {"concurrency": 0}, {"timeout": 0}, {"retries": -1}]
    for override in bad:
        with pytest.raises(ValueError):
            OpenAIBackend(**{"base_url": "http://h/v1", "model": "m", **override})


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
