"""`OpenAIBackend`: evaluate any OpenAI-compatible chat-completions endpoint that takes images or video.

A model served by vLLM (or any server speaking the same API) is then scored on the same harness,
prompts and frames as a kangaroo checkpoint. Only the standard library talks HTTP; PIL encodes JPEG.

Two ways to send the video (``video_as``):

- ``"frames"`` (default): the harness samples and decodes the frames exactly as for any backend,
  resizes them so the longer side is at most ``max_side`` and sends them, in time order, as base64
  JPEG ``image_url`` parts before the question. The endpoint sees exactly the frames the harness
  sampled.
- ``"video"``: the whole file goes as one base64 ``video_url`` part (vLLM's format). Which frames
  the server samples, and how many, is then the server's business; clip bounds cannot be honoured,
  so a sample with ``start``/``end`` is refused. The timestamps returned for such a sample are where
  the harness's sampler would have put its frames (used only to pick subtitle lines).

Decoding is greedy (``temperature`` 0). Requests run ``concurrency`` at a time; connection errors,
timeouts, 429 and 5xx are retried with exponential backoff (honouring ``Retry-After``); anything
that still fails raises `EndpointError`.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import io
import json
import mimetypes
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kangaroo.eval.samples import EvalSample

from .base import GenerationRequest

VIDEO_AS = ("frames", "video")
MAX_RETRY_AFTER = 300.0  # seconds: a longer Retry-After is capped
MAX_BACKOFF = 30.0
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


class EndpointError(ValueError):
    """The endpoint refused a request, or did not answer it after the retries.

    ``status`` is the HTTP status of the last answer (None when none came back).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    """A failure worth another try: no connection, a timeout, 429 or 5xx."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.retry_after = message, status, retry_after


@dataclass(frozen=True)
class FramesPayload:
    """The sampled frames as JPEG data URLs, in time order."""

    urls: tuple[str, ...]

    def parts(self) -> list[dict[str, Any]]:
        return [{"type": "image_url", "image_url": {"url": url}} for url in self.urls]


@dataclass(frozen=True)
class FilePayload:
    """A whole file sent as one part: ``video_url`` for a video, ``image_url`` for a still image."""

    path: str
    mime: str
    kind: str  # "video_url" | "image_url"

    def parts(self) -> list[dict[str, Any]]:
        data = base64.b64encode(Path(self.path).read_bytes()).decode("ascii")
        return [{"type": self.kind, self.kind: {"url": f"data:{self.mime};base64,{data}"}}]


class OpenAIBackend:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint (see the module docstring).

    base_url:     the API root, e.g. ``http://127.0.0.1:8000/v1``.
    model:        the model name sent with every request.
    api_key:      sent as ``Authorization: Bearer``; None reads ``OPENAI_API_KEY`` (unset: no header).
    video_as:     ``"frames"`` or ``"video"``.
    max_side:     frames are resized so their longer side is at most this (aspect kept).
    jpeg_quality: JPEG quality of the frames (1-100).
    concurrency:  requests in flight at once (also the harness's ``batch_size``).
    timeout:      seconds allowed for one request.
    retries:      further tries after a retryable failure; ``backoff`` is the first wait in seconds.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        video_as: str = "frames",
        max_side: int = 448,
        jpeg_quality: int = 90,
        concurrency: int = 4,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 1.0,
    ) -> None:
        self.base_url = _check_base_url(base_url)
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be the non-empty model name the endpoint serves")
        if video_as not in VIDEO_AS:
            raise ValueError(f"video_as must be one of {', '.join(VIDEO_AS)}, got {video_as!r}")
        _check_int("max_side", max_side, 1)
        _check_int("jpeg_quality", jpeg_quality, 1, 100)
        _check_int("concurrency", concurrency, 1)
        _check_int("retries", retries, 0)
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if not backoff >= 0:
            raise ValueError(f"backoff must be >= 0 seconds, got {backoff}")
        self.model, self.video_as, self.max_side, self.jpeg_quality = model, video_as, max_side, jpeg_quality
        self.concurrency, self.timeout, self.retries, self.backoff = concurrency, float(timeout), retries, backoff
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.name = f"openai:{model}"
        self.batch_size = concurrency

    @property
    def url(self) -> str:
        """Where requests go: ``{base_url}/chat/completions``."""
        return f"{self.base_url}/chat/completions"

    def describe(self) -> dict[str, Any]:
        """The endpoint and settings for the results manifest (never the API key)."""
        return {"backend": "openai", "base_url": self.base_url, "model": self.model, "video_as": self.video_as,
                "max_side": self.max_side, "jpeg_quality": self.jpeg_quality, "temperature": 0}

    # --- video ---------------------------------------------------------------------------------

    def load_video(
        self, sample: EvalSample, num_frames: int, sampling: str, fps: float | None
    ) -> tuple[FramesPayload | FilePayload, np.ndarray]:
        """``(payload, timestamps)``; raises a `kangaroo.video.VideoError` when the video cannot be used."""
        if self.video_as == "video":
            return _whole_file(sample, num_frames, sampling, fps)
        from kangaroo.video import load_video

        clip = load_video(sample.video, num_frames=num_frames, sampling=sampling, fps=fps,
                          size=_decode_size(sample.video, self.max_side), aspect="stretch",
                          **sample.load_kwargs())
        urls = tuple(jpeg_data_url(frame, self.max_side, self.jpeg_quality) for frame in clip.frames)
        return FramesPayload(urls), clip.timestamps

    # --- generation ----------------------------------------------------------------------------

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        """The reply to each request, in order; up to ``concurrency`` requests are in flight."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._generate_one, requests))

    def _generate_one(self, request: GenerationRequest) -> str:
        reply = self._post_with_retries(self.request_body(request))
        return _strip_prefix(reply_text(reply, self.url), request.assistant_prefix)

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body of the chat-completions request for ``request``."""
        if not isinstance(request.video, FramesPayload | FilePayload):
            raise TypeError(f"{self.name}: the request's video must come from this backend's load_video")
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        content = [*request.video.parts(), {"type": "text", "text": request.user}]
        messages.append({"role": "user", "content": content})
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "max_tokens": request.max_new_tokens, "temperature": 0}
        if request.assistant_prefix:
            messages.append({"role": "assistant", "content": request.assistant_prefix})
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    def _post_with_retries(self, body: dict[str, Any]) -> dict[str, Any]:
        return post_with_retries(self.url, body, api_key=self._api_key, timeout=self.timeout,
                                 retries=self.retries, backoff=self.backoff)


# --- requests (shared with other clients of OpenAI-compatible endpoints: curation captioners) --


def chat_completions_url(base_url: str) -> str:
    """``{base_url}/chat/completions`` for an API root like ``http://127.0.0.1:8000/v1`` (a URL that
    already ends in ``/chat/completions`` is accepted too); raises ``ValueError`` for a non-http(s) URL."""
    return f"{_check_base_url(base_url)}/chat/completions"


def post_with_retries(url: str, body: dict[str, Any], *, api_key: str | None = None, timeout: float = 120.0,
                      retries: int = 3, backoff: float = 1.0) -> dict[str, Any]:
    """POST ``body`` as JSON to ``url`` and return the JSON answer.

    Connection errors, timeouts, 429 and 5xx are tried again up to ``retries`` more times, waiting
    ``backoff * 2**attempt`` seconds (at most `MAX_BACKOFF`) or what ``Retry-After`` asks (at most
    `MAX_RETRY_AFTER`). Any other status, an answer that is not JSON, or a failure after the last
    try raises `EndpointError`. ``api_key`` is sent as ``Authorization: Bearer`` (None: no header).
    """
    data = json.dumps(body).encode("utf-8")
    for attempt in range(retries + 1):
        try:
            return _post(url, data, api_key, timeout)
        except _Retryable as exc:
            if attempt == retries:
                tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                raise EndpointError(f"{url}: {exc.message} (gave up after {tries})", exc.status) from None
            if exc.retry_after is not None:
                time.sleep(min(exc.retry_after, MAX_RETRY_AFTER))
            else:
                time.sleep(min(backoff * 2**attempt, MAX_BACKOFF))
    raise AssertionError("unreachable")


def _post(url: str, data: bytes, api_key: str | None, timeout: float) -> dict[str, Any]:
    """One POST; raises `_Retryable` or `EndpointError`."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise _http_failure(exc, url) from None
    except urllib.error.URLError as exc:
        raise _Retryable(f"cannot reach the endpoint ({exc.reason})") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise _Retryable(f"no complete answer within {timeout:g} s ({type(exc).__name__}: {exc})") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise EndpointError(f"{url}: the answer is not JSON: {raw[:200]!r}", 200) from None


# --- helpers -----------------------------------------------------------------------------------


def _check_base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise ValueError(f"base_url must be a string like http://127.0.0.1:8000/v1, got {base_url!r}")
    url = base_url.strip().rstrip("/")
    url = url.removesuffix("/chat/completions")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"base_url must be an http(s) URL like http://127.0.0.1:8000/v1, got {base_url!r}")
    return url


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")


def _decode_size(source: str | None, max_side: int) -> tuple[int, int] | None:
    """``(width, height)`` to decode a video file at so its longer side is ``max_side``; None for
    a smaller video, a still image or a frame folder (`jpeg_data_url` resizes those)."""
    if source is None or not os.path.isfile(source) or Path(source).suffix.lower() in IMAGE_SUFFIXES:
        return None
    from kangaroo.video import probe

    info = probe(source, scan=False)
    return _fit(info.display_width, info.display_height, max_side)


def _fit(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """The size with the longer side ``max_side`` and the same aspect; None when already small enough."""
    longest = max(width, height)
    if longest <= max_side:
        return None
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def jpeg_data_url(frame: np.ndarray, max_side: int, quality: int) -> str:
    """A ``data:image/jpeg;base64,...`` URL of an RGB uint8 ``(H, W, 3)`` frame, resized to ``max_side``."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame), "RGB")
    size = _fit(image.width, image.height, max_side)
    if size is not None:
        image = image.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _whole_file(sample: EvalSample, num_frames: int, sampling: str, fps: float | None):
    """``video_as="video"``: the file as one part, and where the harness would have sampled it."""
    from kangaroo.video import InvalidSamplingError, VideoNotFoundError, probe, sample_times

    source = sample.video
    if source is None or not os.path.exists(source):
        raise VideoNotFoundError(str(source), "no such file")
    if sample.start is not None or sample.end is not None:
        raise InvalidSamplingError(source, f"video_as='video' sends the whole file, so the clip bounds "
                                           f"start={sample.start}, end={sample.end} cannot be honoured; "
                                           "use video_as='frames' for this task")
    if os.path.isdir(source):
        raise InvalidSamplingError(source, "video_as='video' needs a video file, not a folder of frames; "
                                           "use video_as='frames'")
    mime = mimetypes.guess_type(source)[0] or "application/octet-stream"
    if Path(source).suffix.lower() in IMAGE_SUFFIXES:
        return FilePayload(source, mime, "image_url"), np.zeros(1)
    info = probe(source, scan=False)
    if not info.duration > 0:
        info = probe(source, scan=True)
    try:
        times = sample_times(0.0, info.duration, sampling=sampling, num_frames=num_frames, fps=fps)
    except ValueError as exc:
        raise InvalidSamplingError(source, str(exc)) from None
    mime = mime if mime.startswith("video/") else "video/mp4"
    return FilePayload(source, mime, "video_url"), np.asarray(times, dtype=np.float64)


def _http_failure(exc: urllib.error.HTTPError, url: str) -> Exception:
    """`_Retryable` for 429 and 5xx; `EndpointError` for any other status."""
    message = _server_message(exc)
    status = exc.code
    if status == 429 or status >= 500:
        return _Retryable(f"HTTP {status}: {message}", status, _retry_after(exc.headers.get("Retry-After")))
    if status in (401, 403):
        return EndpointError(f"{url}: HTTP {status}: {message}; check the API key "
                             "(api_key=..., or the OPENAI_API_KEY environment variable)", status)
    return EndpointError(f"{url}: HTTP {status}: {message}", status)


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The server's error message: OpenAI's ``{"error": {"message": ...}}``, vLLM's ``{"message": ...}``,
    or the body's text."""
    try:
        raw = exc.read()
    except (OSError, http.client.HTTPException):
        raw = b""
    text = raw.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:500] or str(exc.reason)
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    return text[:500] or str(exc.reason)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def reply_text(reply: dict[str, Any], url: str) -> str:
    """``choices[0].message.content`` (parts joined; None becomes "")."""
    try:
        content = reply["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EndpointError(f"{url}: unexpected answer (no choices[0].message): {str(reply)[:300]}", 200) from None
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


_jpeg_data_url = jpeg_data_url  # the names used before they were public
_reply_text = reply_text


def _strip_prefix(text: str, prefix: str) -> str:
    """The continuation only: a server that echoes the assistant prefix has it removed."""
    return text[len(prefix):] if prefix and text.startswith(prefix) else text
