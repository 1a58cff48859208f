"""`ChatEngine`'s scheduling, driven directly (no HTTP): new requests answer their first token
while a long reply is under way, a stream of new requests cannot starve a started reply, and
concurrent replies are decoded together."""

from __future__ import annotations

import threading
import time

import pytest

from kangaroo.inference.loading import ensure_tiny_random
from kangaroo.serve.engine import TURN_TOKENS, ChatEngine, ChatJob, GenerationOptions, MediaItem
from kangaroo.video.sample import make_sample_video
from kangaroo.video.sampling import FrameSampling


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    make_sample_video(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return ensure_tiny_random(tmp_path_factory.mktemp("model"))


class Events:
    """What one job's sink received, with the time each event arrived."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.reply = None
        self.done = threading.Event()

    def __call__(self, event: tuple) -> None:
        name, value = event
        self.times.setdefault(name, time.monotonic())
        if name in ("done", "error"):
            self.reply = value
            self.done.set()


def job(video, question: str, max_tokens: int, events: Events) -> ChatJob:
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
    return ChatJob(messages, [MediaItem(video, "clip")], FrameSampling(num_frames=4),
                   GenerationOptions(max_tokens=max_tokens, temperature=1.0, seed=4), events)


def test_a_started_reply_goes_on_while_new_requests_keep_coming(model_dir, video):
    engine = ChatEngine(model_dir, max_queue=256, max_pause=0.05)
    engine.load()
    try:
        alone = Events()
        engine.submit(job(video, "Tell me everything.", 120, alone))
        assert alone.done.wait(120)
        assert alone.reply.completion_tokens > 2 * TURN_TOKENS  # long enough to be paused several times
        long = Events()
        engine.submit(job(video, "Tell me everything.", 120, long))
        assert _wait_for(lambda: "first_token" in long.times)
        shorts = [Events() for _ in range(200)]  # a stream that lasts several times the long reply
        for i, events in enumerate(shorts):
            engine.submit(job(video, f"Question {i}?", 2, events))
        assert all(events.done.wait(120) for events in shorts) and long.done.wait(120)
        assert long.reply.text == alone.reply.text  # paused many times, the seeded sample is the same
        assert all(events.reply.completion_tokens <= 2 for events in shorts)
        # the long reply took turns between the new requests instead of waiting for all of them
        assert long.times["done"] < shorts[-1].times["done"]
        # and new requests got their first tokens while it was being written
        assert sum(events.times["first_token"] < long.times["done"] for events in shorts) >= 3
    finally:
        engine.close()


@pytest.mark.parametrize("max_num_seqs", [None, 2])
def test_concurrent_replies_are_decoded_in_one_batch_and_each_is_its_reply_alone(model_dir, video, max_num_seqs):
    engine = ChatEngine(model_dir, max_queue=16, max_num_seqs=max_num_seqs)
    engine.load()
    try:
        questions = [f"Tell me about part {i}." for i in range(6)]
        alone = {}
        for question in questions:
            events = Events()
            engine.submit(job(video, question, 48, events))
            assert events.done.wait(120)
            alone[question] = events.reply.text
        before = dict(engine.metrics.counters)
        together = {question: Events() for question in questions}
        for question, events in together.items():
            engine.submit(job(video, question, 48, events))
        assert all(events.done.wait(120) for events in together.values())
        assert {q: e.reply.text for q, e in together.items()} == alone  # seeded samples, batched or not
        steps = engine.metrics.counters["decode_steps"] - before["decode_steps"]
        rows = engine.metrics.counters["decode_rows"] - before["decode_rows"]
        made = sum(e.reply.completion_tokens for e in together.values())
        assert rows == made - len(questions)  # every token but the prefill's first came from a batched step
        if max_num_seqs is None:
            assert rows / steps >= 3  # several replies per forward pass
        else:
            assert 1.2 <= rows / steps <= max_num_seqs  # never more than the cap
    finally:
        engine.close()


def _wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True
