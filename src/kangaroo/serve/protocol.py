"""The OpenAI chat-completions request, checked field by field, and the response bodies.

`parse_chat_request` turns a decoded JSON body into a `ChatRequest`, raising `ApiError` 400 (404
for another model's name) that names the offending field. Content parts: ``text``,
``video_url`` and ``image_url`` (``{"url": ...}``), the latter two in user messages only.
Frame sampling per request: ``mm_processor_kwargs`` (``{"num_frames": 8}``) or
``media_io_kwargs`` (``{"video": {"num_frames": 8}}``), vLLM's names.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from .engine import ApiError, GenerationOptions, Reply

ROLES = ("system", "user", "assistant")
MEDIA_PARTS = {"video_url": "video", "image_url": "image"}


@dataclass
class ChatRequest:
    """A checked request: HF-style ``messages`` with one video/image part per ``media`` entry
    (``(kind, url)``), generation ``options``, sampling ``overrides``, and how to answer."""

    messages: list[dict[str, Any]]
    media: list[tuple[str, str]]
    options: GenerationOptions
    sampling: dict[str, Any]
    stream: bool
    include_usage: bool
    continue_final: bool


def _bad(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, message, code)


def _integer(body: dict, name: str, low: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
        raise _bad(f"'{name}' must be an integer" + (f" >= {low}" if low is not None else "") + f", got {value!r}",
                   "invalid_parameter")
    return value


def _number(body: dict, name: str, low: float, high: float, open_low: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            (value > low if open_low else value >= low) and value <= high):
        raise _bad(f"'{name}' must be a number in {'(' if open_low else '['}{low:g}, {high:g}], got {value!r}",
                   "invalid_parameter")
    return float(value)


def _boolean(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _bad(f"'{name}' must be true or false, got {value!r}", "invalid_parameter")
    return value


def _content(message: dict, index: int, media: list[tuple[str, str]]) -> str | list[dict[str, Any]]:
    role, content = message["role"], message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise _bad(f"messages[{index}].content must be a string or a non-empty list of parts", "invalid_messages")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"messages[{index}].content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _bad(f"{where}: a text part needs a string 'text'", "invalid_messages")
            parts.append({"type": "text", "text": part["text"]})
        elif kind in MEDIA_PARTS:
            if role != "user":
                raise _bad(f"{where}: {kind} parts belong in user messages", "invalid_messages")
            ref = part.get(kind)
            url = ref.get("url") if isinstance(ref, dict) else None
            if not isinstance(url, str) or not url:
                raise _bad(f"{where}: a {kind} part needs {{\"{kind}\": {{\"url\": \"...\"}}}}", "invalid_messages")
            media.append((MEDIA_PARTS[kind], url))
            parts.append({"type": MEDIA_PARTS[kind]})
        else:
            raise _bad(f"{where}: unsupported content part {kind!r}; use text, video_url or image_url",
                       "invalid_messages")
    return parts


def _sampling(body: dict) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    processor_kwargs = body.get("mm_processor_kwargs")
    if processor_kwargs is not None:
        if not isinstance(processor_kwargs, dict):
            raise _bad("'mm_processor_kwargs' must be an object, e.g. {\"num_frames\": 8}", "invalid_sampling")
        overrides.update(processor_kwargs)
    io_kwargs = body.get("media_io_kwargs")
    if io_kwargs is not None:
        video = io_kwargs.get("video", {}) if isinstance(io_kwargs, dict) else None
        if not isinstance(video, dict):
            raise _bad("'media_io_kwargs' must be {\"video\": {\"num_frames\": 8}}", "invalid_sampling")
        overrides.update(video)
    return overrides


def parse_chat_request(body: Any, model_name: str) -> ChatRequest:
    """Check a chat-completions body (see the module docstring); raises `ApiError`."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    model = body.get("model")
    if model is not None and model != model_name:
        raise ApiError(404, f"the model {model!r} does not exist; this server serves {model_name!r}",
                       "model_not_found")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _bad("'messages' must be a non-empty list", "invalid_messages")
    messages, media = [], []
    for i, message in enumerate(raw):
        if not isinstance(message, dict) or message.get("role") not in (*ROLES, "developer"):
            raise _bad(f"messages[{i}] must be an object with a role of {', '.join(ROLES)}", "invalid_messages")
        role = "system" if message["role"] == "developer" else message["role"]
        messages.append({"role": role, "content": _content({**message, "role": role}, i, media)})
    if _integer(body, "n", 1) not in (None, 1):
        raise _bad("only n=1 is supported", "invalid_parameter")
    max_tokens = _integer(body, "max_completion_tokens", 1) or _integer(body, "max_tokens", 1)
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else stop
    if stops is not None and (not isinstance(stops, list | tuple) or len(stops) > 4
                              or not all(isinstance(s, str) and s for s in stops)):
        raise _bad("'stop' must be a string or a list of up to 4 non-empty strings", "invalid_parameter")
    options = GenerationOptions(max_tokens=max_tokens, temperature=_number(body, "temperature", 0, 2) or 0.0,
                                top_p=_number(body, "top_p", 0, 1, open_low=True), seed=_integer(body, "seed"),
                                stop=tuple(stops or ()))
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise _bad("'stream_options' must be an object", "invalid_parameter")
    continue_final = _boolean(body, "continue_final_message", False)
    if _boolean(body, "add_generation_prompt", not continue_final) == continue_final:
        raise _bad("add_generation_prompt must be false exactly when continue_final_message is true",
                   "invalid_parameter")
    return ChatRequest(messages, media, options, _sampling(body), _boolean(body, "stream", False),
                       _boolean(stream_options, "include_usage", False), continue_final)


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(reply: Reply) -> dict[str, Any]:
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.reused_tokens}}


def completion_body(identifier: str, model: str, reply: Reply) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    return {"id": identifier, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason}],
            "usage": usage(reply)}


def chunk_body(identifier: str, model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """A ``chat.completion.chunk`` object with one choice."""
    return {"id": identifier, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
