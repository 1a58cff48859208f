"""`OpenAIClient`: a client of one OpenAI-compatible ``/chat/completions`` endpoint (vLLM, ...).

Used by every part of kangaroo that asks such an endpoint: the eval backend
(`kangaroo.eval.backends.openai.OpenAIBackend`) and the curation captioners
(`kangaroo.curation.captioners.OpenAICaptioner`). Only the standard library talks HTTP; PIL encodes
JPEG (`JpegFrames`).

- Retries: connection errors, timeouts, 429 and 5xx are tried again up to ``retries`` more times,
  waiting ``backoff * 2**attempt`` seconds (at most `MAX_BACKOFF`) or what ``Retry-After`` asks
  (seconds or an HTTP date, at most `MAX_RETRY_AFTER`). Any other status, an answer that is not
  JSON, or a failure after the last try raises `EndpointError` with the server's own message.
- Concurrency: at most ``concurrency`` requests are in flight from one client, whatever the number
  of threads calling it; `OpenAIClient.map` runs a function over items with that many threads.
- Reply text: ``choices[0].message.content``, list parts joined, ``None`` as ``""``.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import io
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

MAX_RETRY_AFTER = 300.0  # seconds: a longer Retry-After is capped
MAX_BACKOFF = 30.0

T = TypeVar("T")
R = TypeVar("R")


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


class OpenAIClient:
    """Chat-completions requests to one endpoint (see the module docstring).

    base_url:    the API root, e.g. ``http://127.0.0.1:8000/v1`` (a URL ending in
                 ``/chat/completions`` is accepted too).
    model:       the model name sent with every request.
    api_key:     sent as ``Authorization: Bearer``; None reads ``OPENAI_API_KEY`` (unset: no header).
    timeout:     seconds allowed for one request.
    retries:     further tries after a retryable failure; ``backoff`` is the first wait in seconds.
    concurrency: requests in flight at once from this client (more calls wait their turn).

    Raises ``ValueError`` for a bad setting.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 1.0,
        concurrency: int = 4,
    ) -> None:
        self.base_url = _check_base_url(base_url)
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be the non-empty model name the endpoint serves")
        _check_int("retries", retries, 0)
        _check_int("concurrency", concurrency, 1)
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if not backoff >= 0:
            raise ValueError(f"backoff must be >= 0 seconds, got {backoff}")
        self.model, self.timeout, self.retries, self.backoff = model, float(timeout), retries, float(backoff)
        self.concurrency = concurrency
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._slots = threading.BoundedSemaphore(concurrency)

    def __repr__(self) -> str:  # never the API key
        return f"OpenAIClient({self.url!r}, model={self.model!r})"

    @property
    def url(self) -> str:
        """Where requests go: ``{base_url}/chat/completions``."""
        return f"{self.base_url}/chat/completions"

    def request_body(
        self, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float = 0.0, **extra: Any
    ) -> dict[str, Any]:
        """The JSON body of a chat-completions request (``extra`` adds fields, e.g. vLLM's
        ``continue_final_message``)."""
        return {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                **extra}

    def complete(self, body: dict[str, Any]) -> str:
        """POST ``body`` (with the retries) and return the reply's text; raises `EndpointError`."""
        with self._slots:
            reply = self._post_with_retries(json.dumps(body).encode("utf-8"))
        return _reply_text(reply, self.url)

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[function(item) for item in items]`` on up to ``concurrency`` threads, in order."""
        items = list(items)
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(function, items))

    def _post_with_retries(self, data: bytes) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                return self._post(data)
            except _Retryable as exc:
                if attempt == self.retries:
                    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                    raise EndpointError(f"{self.url}: {exc.message} (gave up after {tries})", exc.status) from None
                if exc.retry_after is not None:
                    time.sleep(min(exc.retry_after, MAX_RETRY_AFTER))
                else:
                    time.sleep(min(self.backoff * 2**attempt, MAX_BACKOFF))
        raise AssertionError("unreachable")

    def _post(self, data: bytes) -> dict[str, Any]:
        """One POST; raises `_Retryable` or `EndpointError`."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _http_failure(exc, self.url) from None
        except urllib.error.URLError as exc:
            raise _Retryable(f"cannot reach the endpoint ({exc.reason})") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise _Retryable(f"no complete answer within {self.timeout:g} s ({type(exc).__name__}: {exc})") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise EndpointError(f"{self.url}: the answer is not JSON: {raw[:200]!r}", 200) from None


# --- images as data URLs -------------------------------------------------------------------------


@dataclass(frozen=True)
class JpegFrames:
    """How frames travel: resized so the longer side is at most ``max_side`` (aspect kept), as
    base64 JPEG of ``quality`` (1-100) in ``image_url`` parts. Raises ``ValueError`` for bad settings."""

    max_side: int = 448
    quality: int = 90

    def __post_init__(self) -> None:
        _check_int("max_side", self.max_side, 1)
        _check_int("jpeg_quality", self.quality, 1, 100)

    def data_url(self, frame: np.ndarray) -> str:
        """A ``data:image/jpeg;base64,...`` URL of an RGB uint8 ``(H, W, 3)`` frame."""
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(frame), "RGB")
        size = fit_within(image.width, image.height, self.max_side)
        if size is not None:
            image = image.resize(size, Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=self.quality)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    def part(self, frame: np.ndarray) -> dict[str, Any]:
        """The frame as an ``image_url`` content part."""
        return {"type": "image_url", "image_url": {"url": self.data_url(frame)}}


def file_data_url(path: str | os.PathLike[str], mime: str) -> str:
    """A ``data:{mime};base64,...`` URL of a whole file (a video or image sent as it is)."""
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """``(width, height)`` scaled so the longer side is ``max_side`` (aspect kept); None when
    already small enough."""
    longest = max(width, height)
    if longest <= max_side:
        return None
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")


# --- answers -------------------------------------------------------------------------------------


def _check_base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise ValueError(f"base_url must be a string like http://127.0.0.1:8000/v1, got {base_url!r}")
    url = base_url.strip().rstrip("/")
    url = url.removesuffix("/chat/completions")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"base_url must be an http(s) URL like http://127.0.0.1:8000/v1, got {base_url!r}")
    return url


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


def _reply_text(reply: dict[str, Any], url: str) -> str:
    """``choices[0].message.content`` (parts joined; None becomes "")."""
    try:
        content = reply["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EndpointError(f"{url}: unexpected answer (no choices[0].message): {str(reply)[:300]}", 200) from None
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


__all__ = ["MAX_BACKOFF", "MAX_RETRY_AFTER", "EndpointError", "JpegFrames", "OpenAIClient",
           "file_data_url", "fit_within"]
