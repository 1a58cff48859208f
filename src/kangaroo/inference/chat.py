"""Multi-round chat about one video, with the original Kangaroo's ``chat`` signature.

Turn 1 decodes the video, runs the visual branch and prefills the whole prompt. Later turns reuse
the video's features and the KV cache of the prefix they share with what was already computed
(the conversation so far), so a follow-up question costs only its own tokens and the answer.
The reuse is exact: a greedy answer is the same as recomputing the whole conversation.

``model.chat`` / ``model.stream_chat`` (`KangarooForCausalLM`) only pick the processor
(`chat_processor`) and call `chat` / `ChatStream` here, where all the generation logic lives.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .feature_cache import FeatureCache

if TYPE_CHECKING:
    from kangaroo.processing import KangarooProcessor

DEFAULT_GENERATION = {"max_new_tokens": 512, "do_sample": False}


@dataclass
class ChatHistory:
    """The conversation so far and what later turns reuse; pass it back to `chat`.

    video:          the video the conversation is about.
    messages:       HF-style messages; the first user turn carries the ``{"type": "video"}`` part.
    frame_count:    frames sampled from the video.
    timestamps:     ``(T,)`` seconds of the sampled frames (what the model saw).
    video_features: ``(N, D)`` the video's visual tokens.
    cached_ids:     ``(1, L)`` the tokens whose keys and values ``cache`` holds.
    cache:          the transformers KV cache of ``cached_ids``. The next turn takes it over (and
                    extends it in place), so an older history passed again, to branch the
                    conversation, is recomputed rather than read from a cache that moved on.
    """

    video: str
    messages: list[dict] = field(default_factory=list)
    frame_count: int = 0
    timestamps: torch.Tensor | None = None
    video_features: torch.Tensor | None = None
    cached_ids: torch.Tensor | None = None
    cache: Any = None

    def take_cache(self) -> tuple[Any, torch.Tensor | None]:
        """Hand the KV cache and its ids to the next turn; this history keeps none."""
        cache, ids = self.cache, self.cached_ids
        self.cache = self.cached_ids = None
        return cache, ids

    @property
    def turns(self) -> list[tuple[str, str]]:
        """``(question, answer)`` pairs so far."""
        texts = [_text_of(m["content"]) for m in self.messages]
        return list(zip(texts[0::2], texts[1::2], strict=False))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def feature_key(model: torch.nn.Module, processor: Any, video: str | os.PathLike[str]) -> str:
    """The feature-cache key of ``video`` as ``processor`` samples it for ``model`` (see `FeatureCache.key`)."""
    return FeatureCache.key(video, processor.sampling, model, size=processor.layout.image_size,
                            aspect=processor.aspect)


def video_features(
    model: torch.nn.Module, processor: Any, video: str | os.PathLike[str], feature_cache: FeatureCache | None = None,
    key: str | None = None, **load_kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features (N, D), timestamps (T,))`` for a video file, from ``feature_cache`` when it has them.

    feature_cache: a `FeatureCache` or `MemoryFeatureCache` (same keys: content, sampling, model).
    key:           the video's `feature_key` when the caller has it already.
    load_kwargs:   decoding options for `KangarooProcessor.load_video_frames` (``timeout``, ``isolate``, ...).
    """
    if feature_cache is not None:
        key = key or feature_key(model, processor, video)
        if (hit := feature_cache.get(key)) is not None:
            return hit
    pixel_values, timestamps = processor.load_video_frames(video, **load_kwargs)
    device = next(model.parameters()).device
    with torch.no_grad():
        features = model.get_video_features(pixel_values.to(device), timestamps.to(device), [len(timestamps)])[0]
    if feature_cache is not None:
        feature_cache.put(key, features, timestamps)
    return features, timestamps


def chat_processor(model: torch.nn.Module, tokenizer: Any = None) -> KangarooProcessor:
    """The processor ``model.chat(..., tokenizer=...)`` uses: ``tokenizer`` itself when it is a
    `KangarooProcessor`; around a plain tokenizer, the processor saved beside the model (its
    sampling and preprocessing) with that tokenizer, or a new one with the model's layout when none
    was saved; by default the processor saved beside the model (loaded once, then kept on the model
    as ``model.processor``).

    Raises ``ValueError`` when the tokenizer's video-token ids differ from the model's, and when
    no tokenizer is given for a model that was not loaded from a directory.
    """
    from kangaroo.model.pretrained import load_processor
    from kangaroo.processing import PROCESSOR_CONFIG, KangarooProcessor

    if isinstance(tokenizer, KangarooProcessor):
        return tokenizer
    source = model.config.name_or_path
    if getattr(model, "processor", None) is None and source and (Path(source) / PROCESSOR_CONFIG).is_file():
        model.processor = load_processor(source)
    if tokenizer is not None:
        saved = getattr(model, "processor", None)
        processor = saved.with_tokenizer(tokenizer) if saved is not None else \
            KangarooProcessor(tokenizer, model.config.layout)
        model.config.check_video_token_ids(processor.video_token_ids)
        return processor
    if getattr(model, "processor", None) is None:
        if not source:
            raise ValueError("this model was not loaded from a directory: pass tokenizer= (or a processor)")
        model.processor = load_processor(source)
    return model.processor


def _common_prefix(a: torch.Tensor, b: torch.Tensor) -> int:
    n = min(a.shape[1], b.shape[1])
    different = (a[0, :n] != b[0, :n]).nonzero()
    return int(different[0, 0]) if len(different) else n


def _prepare_turn(model, processor, video, query, history, feature_cache):
    """The turn's history (new or extended), its ``input_ids`` ``(1, L)`` and a cache holding a prefix."""
    if history is None or history.video != os.fspath(video):
        features, timestamps = video_features(model, processor, video, feature_cache)
        history = ChatHistory(os.fspath(video), [], len(timestamps), timestamps, features)
        content: Any = [{"type": "video"}, {"type": "text", "text": query}]
    else:
        content = query
    messages = [*history.messages, {"role": "user", "content": content}]
    input_ids = processor.encode(messages, [history.frame_count]).to(history.video_features.device)
    cache, cached_ids = history.take_cache()
    if cache is not None:
        reuse_prefix(cache, cached_ids, input_ids)
    return replace(history, messages=messages), input_ids, cache


def reuse_prefix(cache: Any, cached_ids: torch.Tensor, input_ids: torch.Tensor) -> int:
    """Crop ``cache`` (the KV cache of ``cached_ids`` ``(1, C)``) in place to the prefix it shares with
    ``input_ids`` ``(1, L)``, keeping at least one token of ``input_ids`` to prefill; returns the
    number of tokens the cache keeps."""
    keep = min(_common_prefix(cached_ids, input_ids), input_ids.shape[1] - 1, cache.get_seq_length())
    cache.crop(keep - cache.get_seq_length())  # drop what the new prompt does not share
    return keep


def stop_ids(processor: Any) -> list[int]:
    """The token ids that end a reply: end-of-text and end-of-turn."""
    tokenizer = processor.tokenizer
    ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|eot_id|>")}
    return sorted(i for i in ids if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id)


def generate_reply(
    model: torch.nn.Module, processor: Any, input_ids: torch.Tensor, video_features: torch.Tensor | None,
    cache: Any = None, **generate_kwargs: Any,
) -> tuple[list[int], torch.Tensor, Any]:
    """Generate the reply to a prompt: ``(reply token ids without the final stop tokens, sequences
    (1, L + new), KV cache)``. What chat turns and the server share.

    input_ids:      ``(1, L)`` the whole prompt; ``cache`` may hold a prefix of it (`reuse_prefix`).
    video_features: ``(N, D)`` features for the ``<|video_pad|>`` tokens of ``input_ids`` past the prefix
                    ``cache`` holds (unused when there are none).
    Greedy by default; video tokens are never generated; stops at end-of-turn / end-of-text.
    """
    # video tokens are never generated: one would ask the model for features it does not have
    kwargs = {**DEFAULT_GENERATION, "eos_token_id": stop_ids(processor),
              "suppress_tokens": sorted(processor.video_token_ids.values()), **generate_kwargs}
    if not kwargs.get("do_sample"):
        kwargs.update(temperature=None, top_p=None, top_k=None)
    output = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        cache=cache,
        video_features=video_features,
        return_dict_in_generate=True,
        pad_token_id=processor.tokenizer.pad_token_id,
        **kwargs,
    )
    sequences = output.sequences
    new_tokens = sequences[0, input_ids.shape[1] :].tolist()
    stops = set(kwargs["eos_token_id"])
    while new_tokens and new_tokens[-1] in stops:
        new_tokens.pop()
    return new_tokens, sequences, output.cache


def _generate(model, processor, history, input_ids, cache, **generate_kwargs):
    new_tokens, sequences, cache = generate_reply(model, processor, input_ids, history.video_features, cache,
                                                  **generate_kwargs)
    answer = processor.decode(new_tokens).strip()
    messages = [*history.messages, {"role": "assistant", "content": answer}]
    return answer, replace(history, messages=messages, cache=cache,
                           cached_ids=sequences[:, : cache.get_seq_length()])


def chat(
    model: torch.nn.Module,
    processor: Any,
    video: str | os.PathLike[str],
    query: str,
    history: ChatHistory | None = None,
    feature_cache: FeatureCache | None = None,
    **generate_kwargs: Any,
) -> tuple[str, ChatHistory]:
    """Answer ``query`` about ``video``; pass the returned history back for the next turn.

    A history about another video starts a new conversation. ``generate_kwargs`` go to
    ``model.generate`` (greedy by default; ``do_sample=True, temperature=..., top_p=...`` samples).
    """
    history, input_ids, cache = _prepare_turn(model, processor, video, query, history, feature_cache)
    with torch.no_grad():
        return _generate(model, processor, history, input_ids, cache, **generate_kwargs)


class ChatStream:
    """Iterate to receive the answer's text as it is generated; then ``answer`` and ``history``
    hold the whole answer and the history for the next turn. `cancel` stops generation early
    (the history then holds the answer so far)."""

    def __init__(self, model, processor, video, query, history=None, feature_cache=None, **generate_kwargs):
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        history, input_ids, cache = _prepare_turn(model, processor, video, query, history, feature_cache)
        self._streamer = TextIteratorStreamer(processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._cancelled = threading.Event()
        self.answer: str | None = None
        self.history: ChatHistory | None = None
        self._error: BaseException | None = None
        cancelled = self._cancelled

        class StopWhenCancelled(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool)

        stopping = StoppingCriteriaList([*generate_kwargs.pop("stopping_criteria", []), StopWhenCancelled()])

        def run() -> None:
            try:
                with torch.no_grad():
                    self.answer, self.history = _generate(
                        model, processor, history, input_ids, cache, streamer=self._streamer,
                        stopping_criteria=stopping, **generate_kwargs,
                    )
            except BaseException as exc:  # surfaced to the reader in __iter__
                self._error = exc
                self._streamer.end()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop after the token being generated; iteration then ends and ``history`` is final."""
        self._cancelled.set()

    def __iter__(self) -> Iterator[str]:
        for piece in self._streamer:
            if piece:
                yield piece
        self._thread.join()
        if self._error is not None:
            raise self._error
