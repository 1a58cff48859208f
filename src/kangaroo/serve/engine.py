"""`ChatEngine`: the model behind the HTTP API and the web demo.

One worker thread owns the model and takes jobs from a bounded queue (a full queue refuses new
jobs with 429). For each job it gets every video's visual features (from an in-memory
`MemoryFeatureCache` keyed by content and sampling, else decoded with a time limit, optionally
in a subprocess, and encoded), encodes the conversation with the processor (user text never
becomes control tokens), checks the context length, takes the KV cache of the longest earlier
prompt it extends (`PrefixCache`), prefills the prompt and makes the first token, sending text
pieces to the job's sink as they come. A job whose client went away is cancelled: its reply
stops after the current token.

Started replies are decoded together (`kangaroo.serve.batching`): one forward pass makes the next
token of every one of them, each with its own KV cache, positions and random generator, so a
reply is the same whatever it is batched with. Scheduling puts first tokens first (as vLLM's
scheduler puts prefills first): a decoding turn of `TURN_TOKENS` tokens ends after its current
token when a new job is waiting, so the new job is prefilled and answers its first token at once,
then joins the batch. Replies kept waiting for ``max_pause`` seconds take a whole turn before
further new jobs, so a stream of new requests cannot starve them.

Events a job's sink receives, in order: ``("started", {"prompt_tokens", "timestamps"})``,
``("first_token", seconds since arrival)``, ``("text", piece)`` any number of times, then
``("done", Reply)``; or ``("error", ApiError)`` instead at any point before ``done``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from kangaroo.inference.loading import model_name
from kangaroo.video.sampling import FrameSampling

DEFAULT_MAX_TOKENS = 256
TURN_TOKENS = 16  # tokens a decoding turn makes before waiting jobs get their first token


class ApiError(Exception):
    """An error the API answers with ``{"error": {"message", "type", "code"}}`` and ``status``."""

    TYPES: ClassVar[dict[int, str]] = {400: "invalid_request_error", 403: "permission_error", 404: "not_found_error",
             413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
             503: "service_unavailable_error"}

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.TYPES.get(self.status, "server_error"),
                          "code": self.code}}


@dataclass(frozen=True)
class MediaItem:
    """A video or image of a request, as a local file: ``label`` names it in messages."""

    path: Path
    label: str


@dataclass(frozen=True)
class GenerationOptions:
    """Decoding settings of one request (temperature 0: greedy)."""

    max_tokens: int | None = None
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class Reply:
    """A finished answer: its text, why it ended (``stop`` or ``length``) and token counts."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    reused_tokens: int
    time_to_first_token: float | None


@dataclass
class ChatJob:
    """One request for the engine.

    messages:      HF-style messages; a ``{"type": "video"}`` or ``{"type": "image"}`` part per entry
                   of ``media``, in order.
    sampling:      the `FrameSampling` of every video of the request.
    continue_final: the last message is an assistant message whose text the reply continues.
    sink:          receives the events (module docstring); called from the worker thread.
    """

    messages: list[dict[str, Any]]
    media: list[MediaItem]
    sampling: FrameSampling
    options: GenerationOptions
    sink: Callable[[tuple[str, Any]], None]
    continue_final: bool = False
    arrived: float = field(default_factory=time.monotonic)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Stop this job (the client went away): skipped if queued, stopped after the current token if running."""
        self.cancelled.set()


class ChatEngine:
    """The model, its caches and the worker that answers `ChatJob` s (module docstring).

    model_dir:        a saved Kangaroo model (None: the default of `load_chat_model`).
    sampling:         default frame sampling (None: the processor's, i.e. as the model was saved).
    max_frames:       the most frames a request may ask for per video (400 above).
    max_model_len:    the context in tokens (None: the LLM's ``max_position_embeddings``; 422 above).
    max_queue:        jobs waiting beside the running one, queued or started (429 beyond); also the
                      most replies decoded in one batch, less one.
    max_pause:        seconds started replies may wait while new jobs get their first token; then
                      they take a whole decoding turn before them (module docstring).
    max_num_seqs:     the most replies decoded together (vLLM's name; None: every started one); a
                      new job waits in the queue while the batch is full. 1: one reply at a time.
    reuse:            keep visual features and KV prefixes across requests (False: recompute all).
    decode_timeout:   seconds allowed to decode one video; ``isolate`` decodes in a subprocess.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        dtype: Any = None,
        sampling: FrameSampling | None = None,
        max_frames: int = 128,
        max_model_len: int | None = None,
        max_queue: int = 16,
        max_pause: float = 0.5,
        max_num_seqs: int | None = None,
        reuse: bool = True,
        feature_entries: int = 64,
        prefix_entries: int = 8,
        decode_timeout: float = 60.0,
        isolate: bool = False,
        served_model_name: str | None = None,
    ) -> None:
        from kangaroo.inference.feature_cache import MemoryFeatureCache
        from kangaroo.inference.prefix_cache import PrefixCache

        from .metrics import ServerMetrics

        if (max_frames < 1 or max_queue < 0 or max_pause < 0 or (max_model_len is not None and max_model_len < 2)
                or (max_num_seqs is not None and max_num_seqs < 1)):
            raise ValueError("max_frames must be >= 1, max_queue >= 0, max_pause >= 0, max_model_len >= 2, "
                             "max_num_seqs >= 1")
        self.model_dir = None if model_dir is None else os.fspath(model_dir)
        self.device, self.dtype = device, dtype
        self.default_sampling = sampling
        self.max_frames = max_frames
        self.max_pause = max_pause
        self.max_num_seqs = max_num_seqs
        self._max_model_len = max_model_len
        self.reuse = reuse
        self.decode_timeout, self.isolate = decode_timeout, isolate
        self.model_name = served_model_name or model_name(self.model_dir)
        self.features = MemoryFeatureCache(feature_entries)
        self.prefixes = PrefixCache(prefix_entries)
        self.metrics = ServerMetrics()
        self.model: Any = None
        self.processor: Any = None
        self.is_random = False
        self.load_error: str | None = None
        self._ready = threading.Event()
        self._queue: queue.Queue[ChatJob | None] = queue.Queue(maxsize=max_queue + 1)
        self._started: list[_Generation] = []  # past their first token, decoded together
        self._waiting_since = 0.0  # when the started replies last made a token
        self._prefilling = 0
        self._worker: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def load(self) -> None:
        """Load the model (the default-model resolution of `load_chat_model`) and start the worker.
        Raises `kangaroo.model.pretrained.ModelLoadError` (kept in ``load_error`` too)."""
        from kangaroo.inference.loading import load_chat_model

        try:
            self.model, self.processor, self.is_random = load_chat_model(self.model_dir, self.device, self.dtype)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            raise
        if self.default_sampling is not None:
            self.processor = self.processor.with_sampling(self.default_sampling)
        self.default_sampling = self.processor.sampling
        self._worker = threading.Thread(target=self._work, name="kangaroo-engine", daemon=True)
        self._worker.start()
        self._ready.set()

    def close(self) -> None:
        """Stop the worker after its current step (queued and paused jobs are not answered)."""
        if self._worker is not None:
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job.sink(("error", _SHUTTING_DOWN))
            self._queue.put(None)
            self._worker.join(timeout=30)

    @property
    def max_model_len(self) -> int:
        if self._max_model_len is not None:
            return self._max_model_len
        return int(self.model.config.text_config.max_position_embeddings)

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for their first token."""
        return self._queue.qsize()

    @property
    def running(self) -> int:
        """Jobs the model is answering: the one being prefilled and the started ones."""
        return self._prefilling + len(self._started)

    # -- requests --------------------------------------------------------------------------------
    def sampling_for(self, overrides: dict[str, Any] | None) -> FrameSampling:
        """The server's sampling with a request's ``num_frames`` / ``fps`` / ``max_frames`` (or any
        `FrameSampling` field); raises `ApiError` 400 for a bad or too large request."""
        from kangaroo.video import FrameSamplingError

        base = self.default_sampling or FrameSampling()
        if not overrides:
            sampling = base
        else:
            fields = {f.name for f in dataclasses.fields(FrameSampling)}
            unknown = sorted(set(overrides) - fields)
            if unknown:
                raise ApiError(400, f"unknown frame-sampling options {unknown}; use num_frames, fps or max_frames",
                               "invalid_sampling")
            values = dict(overrides)
            if "fps" in values:
                values.setdefault("sampling", "fps")
            if "num_frames" in values:
                values.setdefault("sampling", "uniform")
            try:  # a new rule takes only the request's fields; max_frames alone caps the server's rule
                sampling = (FrameSampling.from_dict(values) if "sampling" in values
                            else dataclasses.replace(base, **values))
            except (FrameSamplingError, TypeError, ValueError) as exc:
                raise ApiError(400, f"frame sampling: {exc}", "invalid_sampling") from None
        counts = [n for n in (sampling.num_frames if sampling.sampling == "uniform" else None, sampling.max_frames)
                  if n is not None]
        if sampling.sampling == "dynamic":
            counts.append(sampling.rule_for(float("inf")).most_frames)
        most = min(counts, default=None)
        if most is None or most > self.max_frames:
            asked = "no frame limit" if most is None else f"{most} frames"
            raise ApiError(400, f"the request asks for {asked} per video; this server allows at most "
                                f"{self.max_frames} (--max-frames): give num_frames or max_frames", "too_many_frames")
        return sampling

    def submit(self, job: ChatJob) -> None:
        """Queue ``job``; raises `ApiError` 503 before the model is loaded, 429 when the queue is full."""
        if not self.ready:
            raise ApiError(503, "the model is still loading" if self.load_error is None
                           else f"the model failed to load: {self.load_error}", "model_not_ready")
        try:
            if self._queue.qsize() + len(self._started) >= self._queue.maxsize:  # started jobs count as waiting
                raise queue.Full
            self._queue.put_nowait(job)
        except queue.Full:
            self.metrics.add("rejected")
            raise ApiError(429, f"the server is busy: {self._queue.maxsize} requests are waiting; retry later",
                           "queue_full") from None

    # -- the worker ------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            if self._started:
                starved = time.monotonic() - self._waiting_since >= self.max_pause
                full = self.max_num_seqs is not None and len(self._started) >= self.max_num_seqs
                if self._queue.empty() or starved or full:
                    try:
                        self._decode_turn(yield_to_new=not (starved or full))
                    except Exception:  # a bug must not stop the worker; the clients get a 500 without a traceback
                        import logging

                        logging.getLogger(__name__).exception("decoding failed")
                        self._drop_started(ApiError(500, "internal error while decoding", "internal_error"))
                    continue
            job = self._queue.get()  # only waits when nothing is started
            if job is None:
                break
            self._prefilling = 1
            try:
                self._admit(job)
            finally:
                self._prefilling = 0
        self._drop_started(_SHUTTING_DOWN)

    def _drop_started(self, error: ApiError) -> None:
        for generation in self._started:
            generation.job.sink(("error", error))
        self._started.clear()

    def _admit(self, job: ChatJob) -> None:
        """Start a new job: prefill its prompt and make its first token; it then joins the started ones."""
        if job.cancelled.is_set():
            self.metrics.add("cancelled")
            job.sink(("error", ApiError(499, "the client went away", "cancelled")))
            return
        try:
            generation = self._start(job)
            if not self._prefill(generation):
                if not self._started:
                    self._waiting_since = time.monotonic()
                self._started.append(generation)
                return
            job.sink(("done", self._finish(generation)))
        except ApiError as exc:
            job.sink(("error", exc))
        except Exception as exc:  # a bug must not stop the worker; the client gets a 500 without a traceback
            import logging

            logging.getLogger(__name__).exception("a request failed")
            job.sink(("error", ApiError(500, f"internal error: {type(exc).__name__}", "internal_error")))

    def _video_features(self, processor: Any, job: ChatJob) -> tuple[list[Any], list[str], list[Any]]:
        """Per media item: features ``(N_i, D)``, feature-cache keys, timestamps ``(T_i,)``."""
        from kangaroo.inference.chat import feature_key, video_features
        from kangaroo.video import VideoError, VideoTimeoutError

        features, keys, timestamps = [], [], []
        for item in job.media:
            try:
                key = feature_key(self.model, processor, item.path)
                hit = self.reuse and self.features.get(key) is not None
                f, t = video_features(self.model, processor, item.path, self.features if self.reuse else None,
                                      key=key, timeout=self.decode_timeout, isolate=self.isolate)
            except VideoTimeoutError:
                raise ApiError(400, f"decoding {item.label} took longer than {self.decode_timeout:g} s",
                               "video_timeout") from None
            except VideoError as exc:
                raise ApiError(400, f"cannot read {item.label}: {exc.cause}", "invalid_video") from None
            except OSError as exc:
                raise ApiError(400, f"cannot read {item.label}: {exc.strerror or exc}", "invalid_video") from None
            self.metrics.add("feature_cache_hits" if hit else "feature_cache_misses")
            features.append(f)
            keys.append(key)
            timestamps.append(t)
        return features, keys, timestamps

    def _input_ids(self, processor: Any, job: ChatJob, frame_counts: list[int]) -> Any:
        import torch

        try:
            if not job.continue_final:
                return processor.encode(job.messages, frame_counts)
            *head, last = job.messages
            if last.get("role") != "assistant" or not head:
                raise ValueError("continue_final_message needs a final assistant message after a user message")
            ids = processor.encode(head, frame_counts)  # (1, L)
            prefix = processor.encode_text(_text_of(last["content"]))
            return torch.cat([ids, torch.tensor([prefix], dtype=torch.long)], dim=1)  # (1, L + P)
        except ValueError as exc:
            raise ApiError(400, str(exc), "invalid_messages") from None

    def _start(self, job: ChatJob) -> _Generation:
        """Everything before the first token: features, prompt, context check, KV prefix."""
        import torch

        from kangaroo.model.layout import VIDEO_PAD

        processor = self.processor.with_sampling(job.sampling)
        features, keys, timestamps = self._video_features(processor, job)
        input_ids = self._input_ids(processor, job, [len(t) for t in timestamps])  # (1, L)
        prompt_tokens = int(input_ids.shape[1])
        limit = self.max_model_len
        if prompt_tokens >= limit:
            frames = sum(len(t) for t in timestamps)
            raise ApiError(422, f"the prompt takes {prompt_tokens} tokens ({frames} video frames) but the model's "
                                f"context is {limit} tokens: ask for fewer frames (num_frames) or send a shorter "
                                "conversation", "context_length_exceeded")
        job.sink(("started", {"prompt_tokens": prompt_tokens, "timestamps": [t.tolist() for t in timestamps]}))

        cache, kept = self.prefixes.take(tuple(keys), input_ids) if self.reuse else (None, 0)
        device = next(self.model.parameters()).device
        pad = processor.video_token_ids[VIDEO_PAD]
        all_features = torch.cat(features).to(device) if features else None  # (sum N, D)
        if all_features is not None:
            all_features = all_features[int((input_ids[0, :kept] == pad).sum()) :]  # those past the cached prefix
        text = _ReplyText(job.options.stop, lambda piece: job.sink(("text", piece)))
        generator = None
        if job.options.temperature > 0:  # the reply's own draws, whatever it is batched with
            generator = torch.Generator(device)
            if job.options.seed is not None:
                generator.manual_seed(job.options.seed)
            else:
                generator.seed()
        return _Generation(job, processor, tuple(keys), prompt_tokens, kept,
                           max_new=min(job.options.max_tokens or DEFAULT_MAX_TOKENS, limit - prompt_tokens),
                           ids=input_ids[0].tolist(), cache=cache, features=all_features, text=text,
                           stream=_TokenStream(processor.tokenizer, text), generator=generator)

    def _prefill(self, generation: _Generation) -> bool:
        """Run the prompt past the cached prefix and make the first token; True when the reply ended."""
        import torch
        from transformers import DynamicCache

        device = next(self.model.parameters()).device
        if generation.cache is None:
            generation.cache = DynamicCache()
        new = torch.tensor([generation.ids[generation.kept :]], device=device)  # (1, L - kept)
        with torch.no_grad():
            logits = self.model(input_ids=new, video_features=generation.features, cache=generation.cache,
                                use_cache=True, logits_to_keep=1).logits[0, -1]  # (V,)
        generation.features = None  # every video token is in the cache now
        return self._accept(generation, self._pick(generation, logits))

    def _decode_turn(self, yield_to_new: bool) -> None:
        """Up to `TURN_TOKENS` tokens of every started reply, one forward pass per token for all; with
        ``yield_to_new`` the turn ends after its current token when a new job is waiting. A reply that
        ends leaves the batch at once and is answered."""
        import torch

        from .batching import CacheBatch

        started = self._started
        batch = CacheBatch([g.cache for g in started])
        for g in started:
            g.cache = None  # the batch holds it now
        for _ in range(TURN_TOKENS):
            with torch.no_grad():
                logits = batch.step(self.model, [g.ids[-1] for g in started])  # (B, V)
            self.metrics.add("decode_steps")
            self.metrics.add("decode_rows", len(started))
            ended = [self._accept(g, self._pick(g, logits[row])) for row, g in enumerate(started)]
            if any(ended):
                done = [g for g, end in zip(started, ended, strict=True) if end]
                for row in (row for row, end in enumerate(ended) if end):
                    started[row].cache = batch.row_cache(row)
                going = [row for row, end in enumerate(ended) if not end]
                if going:
                    batch.keep(going)
                started[:] = [started[row] for row in going]
                for g in done:
                    self._answer(g)
            if not started or (yield_to_new and not self._queue.empty()):
                break
        for row, g in enumerate(started):
            g.cache = batch.row_cache(row)
        self._waiting_since = time.monotonic()

    def _pick(self, generation: _Generation, logits: Any) -> int:
        from .batching import next_token

        options = generation.job.options
        if generation.suppressed.device != logits.device:  # once per reply, not at every token
            generation.suppressed = generation.suppressed.to(logits.device)
        return next_token(logits, generation.suppressed, options.temperature, options.top_p,
                          generation.generator)

    def _accept(self, generation: _Generation, token: int) -> bool:
        """Add ``token`` to the reply (stream its text); True when the reply ends with it."""
        job = generation.job
        if generation.first_token is None:
            generation.first_token = time.monotonic() - job.arrived
            job.sink(("first_token", generation.first_token))
        generation.ids.append(token)
        stop = token in generation.stop_ids
        if not stop:
            generation.tokens.append(token)
            generation.stream.add(token)
        generated = len(generation.ids) - generation.prompt_tokens
        return stop or generated >= generation.max_new or generation.text.stopped or job.cancelled.is_set()

    def _answer(self, generation: _Generation) -> None:
        try:
            generation.job.sink(("done", self._finish(generation)))
        except ApiError as exc:
            generation.job.sink(("error", exc))

    def _finish(self, generation: _Generation) -> Reply:
        job, processor = generation.job, generation.processor
        if self.reuse:
            import torch

            length = generation.cache.get_seq_length()
            self.prefixes.put(generation.keys, torch.tensor([generation.ids[:length]]), generation.cache)
        completion_tokens = len(generation.ids) - generation.prompt_tokens
        if job.cancelled.is_set():
            self.metrics.add("cancelled")
            raise ApiError(499, "the client went away", "cancelled")
        generation.stream.flush()
        generation.text.finish()
        answer = _cut_at_stop(processor.decode(generation.tokens).strip(), job.options.stop)
        stopped = (generation.text.stopped or len(generation.tokens) < completion_tokens
                   or completion_tokens < generation.max_new)
        latency = time.monotonic() - job.arrived
        ttft = generation.first_token if generation.first_token is not None else latency
        for name, value in (("prompt_tokens", generation.prompt_tokens), ("completion_tokens", completion_tokens),
                            ("prefix_tokens_reused", generation.kept)):
            self.metrics.add(name, value)
        self.metrics.observe(latency=latency, time_to_first_token=ttft)
        return Reply(answer, "stop" if stopped else "length", generation.prompt_tokens, completion_tokens,
                     generation.kept, ttft)


_SHUTTING_DOWN = ApiError(503, "the server is shutting down", "shutting_down")


@dataclass
class _Generation:
    """A started job between the tokens of its reply.

    ids:       the prompt's token ids and the reply's so far; ``cache`` (None while a decoding batch
               holds it) has all but the last. ``kept``: the prompt tokens it had from the prefix store.
    features:  the visual features still to be prefilled ``(N, D)`` (until the prefill).
    tokens:    the reply's token ids so far, without stop tokens.
    generator: the reply's own random generator (None: greedy).
    """

    job: ChatJob
    processor: Any
    keys: tuple[str, ...]
    prompt_tokens: int
    kept: int
    max_new: int
    ids: list[int]
    cache: Any
    features: Any
    text: _ReplyText
    stream: _TokenStream
    generator: Any
    tokens: list[int] = field(default_factory=list)
    first_token: float | None = None

    @functools.cached_property
    def stop_ids(self) -> frozenset[int]:
        from kangaroo.inference.chat import stop_ids

        return frozenset(stop_ids(self.processor))

    @functools.cached_property
    def suppressed(self) -> Any:
        """``(K,)`` token ids never generated: the video tokens (the model has no features for them)."""
        import torch

        return torch.tensor(sorted(self.processor.video_token_ids.values()))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """``text`` up to the first of ``stops`` it contains."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:cut]


class _ReplyText:
    """Streamed text, sent on without leading whitespace and cut at the first stop string (text that
    could still become a stop string is held back until it cannot)."""

    def __init__(self, stops: tuple[str, ...], send: Callable[[str], None]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.send = send
        self.buffer = ""
        self.sent = 0
        self.stopped = False

    def add(self, piece: str) -> None:
        if self.stopped:
            return
        self.buffer += piece
        if not self.sent:
            self.buffer = self.buffer.lstrip()
        cut = _cut_at_stop(self.buffer, self.stops)
        if len(cut) < len(self.buffer):
            self.buffer, self.stopped = cut, True
            self._send(len(cut))
        else:
            self._send(len(self.buffer) - self.hold)

    def finish(self) -> None:
        self._send(len(self.buffer.rstrip()))

    def _send(self, upto: int) -> None:
        if upto > self.sent:
            self.send(self.buffer[self.sent : upto])
            self.sent = upto


class _TokenStream:
    """Hands a reply's text to a `_ReplyText` as its tokens come: text that ends inside a character
    (byte-level tokens) waits for the rest. Only the tokens since the last whitespace are decoded
    again at each token (as transformers' `TextStreamer` does), so a long reply costs linear time."""

    def __init__(self, tokenizer: Any, text: _ReplyText) -> None:
        self.tokenizer, self.text = tokenizer, text
        self.ids: list[int] = []
        self.shown = ""

    def add(self, token: int) -> None:
        self.ids.append(token)
        self._show(final=False)

    def flush(self) -> None:
        self._show(final=True)

    def _show(self, final: bool) -> None:
        decoded = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if not final and decoded.endswith("\ufffd"):
            return
        if decoded.startswith(self.shown):
            self.text.add(decoded[len(self.shown) :])
        self.shown = decoded
        if decoded[-1:].isspace():  # a word ended: the next tokens decode on their own
            self.ids, self.shown = [], ""
