"""`OpenAIBackend`: evaluate any OpenAI-compatible chat-completions endpoint that takes images or video.

A model served by vLLM (or any server speaking the same API) is then scored on the same harness,
prompts and frames as a kangaroo checkpoint.

Two ways to send the video (``video_as``):

- ``"frames"`` (default): the harness samples and decodes the frames exactly as for any backend,
  resizes them so the longer side is at most ``max_side`` and sends them, in time order, as base64
  JPEG ``image_url`` parts before the question. The endpoint sees exactly the frames the harness
  sampled.
- ``"video"``: the whole file goes as one base64 ``video_url`` part (vLLM's format), with the
  task's frame sampling in ``media_io_kwargs`` (``{"video": {"num_frames": 16}}``, vLLM's name; a
  ``kangaroo serve`` server samples exactly as the harness would). Clip bounds cannot be honoured,
  so a sample with ``start``/``end`` is refused. The timestamps returned for such a sample are where
  the harness's sampler would have put its frames (used only to pick subtitle lines).

Decoding is greedy (``temperature`` 0). Requests go through the shared client
(`kangaroo.inference.openai_client.OpenAIClient`): ``concurrency`` at a time; connection errors,
timeouts, 429 and 5xx are retried with exponential backoff (honouring ``Retry-After``); anything
that still fails raises `kangaroo.inference.openai_client.EndpointError`.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kangaroo.eval.samples import EvalSample
from kangaroo.inference.openai_client import JpegFrames, OpenAIClient, file_data_url, fit_within
from kangaroo.video.sampling import FrameSampling

from .base import GenerationRequest, conversation

VIDEO_AS = ("frames", "video")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


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
    sampling: FrameSampling | None = None  # how the server should sample a video

    def parts(self) -> list[dict[str, Any]]:
        return [{"type": self.kind, self.kind: {"url": file_data_url(self.path, self.mime)}}]


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
        if video_as not in VIDEO_AS:
            raise ValueError(f"video_as must be one of {', '.join(VIDEO_AS)}, got {video_as!r}")
        self.client = OpenAIClient(base_url, model, api_key=api_key, timeout=timeout, retries=retries,
                                   backoff=backoff, concurrency=concurrency)
        self.frames = JpegFrames(max_side, jpeg_quality)
        self.video_as = video_as
        self.name = f"openai:{model}"
        self.batch_size = concurrency

    def describe(self) -> dict[str, Any]:
        """The endpoint and settings for the results manifest (never the API key)."""
        return {"backend": "openai", "base_url": self.client.base_url, "model": self.client.model,
                "video_as": self.video_as, "max_side": self.frames.max_side, "jpeg_quality": self.frames.quality,
                "temperature": 0}

    # --- video ---------------------------------------------------------------------------------

    def load_video(self, sample: EvalSample, sampling: FrameSampling) -> tuple[FramesPayload | FilePayload, np.ndarray]:
        """``(payload, timestamps)``; raises a `kangaroo.video.VideoError` when the video cannot be used."""
        if self.video_as == "video":
            return _whole_file(sample, sampling)
        from kangaroo.video import load_video

        clip = load_video(sample.video, sampling, size=_decode_size(sample.video, self.frames.max_side),
                          aspect="stretch", **sample.load_kwargs())
        urls = tuple(self.frames.data_url(frame) for frame in clip.frames)
        return FramesPayload(urls), clip.timestamps

    # --- generation ----------------------------------------------------------------------------

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        """The reply to each request, in order; up to ``concurrency`` requests are in flight."""
        return self.client.map(self._generate_one, requests)

    def _generate_one(self, request: GenerationRequest) -> str:
        return _strip_prefix(self.client.complete(self.request_body(request)), request.assistant_prefix)

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body of the chat-completions request for ``request``."""
        if not isinstance(request.video, FramesPayload | FilePayload):
            raise TypeError(f"{self.name}: the request's video must come from this backend's load_video")
        messages = conversation(request, list(request.video.parts()))
        extra: dict[str, Any] = {}
        if request.assistant_prefix:
            messages.append({"role": "assistant", "content": request.assistant_prefix})
            extra = {"continue_final_message": True, "add_generation_prompt": False}
        if isinstance(request.video, FilePayload) and request.video.sampling is not None:
            extra["media_io_kwargs"] = {"video": media_io_kwargs(request.video.sampling)}
        return self.client.request_body(messages, max_tokens=request.max_new_tokens, temperature=0, **extra)


# --- helpers -----------------------------------------------------------------------------------


def _decode_size(source: str | None, max_side: int) -> tuple[int, int] | None:
    """``(width, height)`` to decode a video file at so its longer side is ``max_side``; None for
    a smaller video, a still image or a frame folder (`JpegFrames` resizes those)."""
    if source is None or not os.path.isfile(source) or Path(source).suffix.lower() in IMAGE_SUFFIXES:
        return None
    from kangaroo.video import probe

    info = probe(source, scan=False)
    return fit_within(info.display_width, info.display_height, max_side)


def _whole_file(sample: EvalSample, sampling: FrameSampling):
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
        times = sample_times(0.0, info.duration, sampling)
    except ValueError as exc:
        raise InvalidSamplingError(source, str(exc)) from None
    mime = mime if mime.startswith("video/") else "video/mp4"
    return FilePayload(source, mime, "video_url", sampling), np.asarray(times, dtype=np.float64)


def media_io_kwargs(sampling: FrameSampling) -> dict[str, Any]:
    """The request's ``media_io_kwargs["video"]``: vLLM's ``num_frames`` / ``fps`` (+ ``max_frames``)
    where they say it, else the whole `FrameSampling` (which ``kangaroo serve`` reads)."""
    if sampling.sampling == "uniform" and sampling.num_frames is not None and sampling.max_frames is None:
        return {"num_frames": sampling.num_frames}
    if sampling.sampling == "fps":
        return {"fps": sampling.fps, **({"max_frames": sampling.max_frames} if sampling.max_frames else {})}
    return sampling.to_dict()


def _strip_prefix(text: str, prefix: str) -> str:
    """The continuation only: a server that echoes the assistant prefix has it removed."""
    return text[len(prefix):] if prefix and text.startswith(prefix) else text
