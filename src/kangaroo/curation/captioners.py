"""The two model roles of caption generation, behind one interface, and their backends.

- a frame captioner describes one still frame: ``caption(image, prompt) -> str`` with ``image``
  uint8 RGB ``(H, W, 3)``;
- a summarizer turns text (the frame captions, in a prompt) into text: ``summarize(prompt) -> str``.

Every backend plays both roles where its model can (a text-only LLM cannot caption frames, and
says so). Decoding is greedy unless told otherwise, so a rerun gives the same captions.

Backends:

- `KangarooCaptioner` (``backend: kangaroo``): a saved kangaroo checkpoint, the project's own
  model. A frame is a 1-frame video (timestamp 0), prepared exactly as the processor prepares a
  still image; summaries are text-only generation with the same model.
- `OpenAICaptioner` (``backend: openai``): a model behind an OpenAI-compatible
  ``/chat/completions`` endpoint (vLLM, ...): frames go as base64 JPEG ``image_url`` parts,
  summaries as a plain user message. Requests go through the shared client
  (`kangaroo.inference.openai_client.OpenAIClient`: retries, backoff, ``Retry-After``, concurrency).
- `TransformersCaptioner` (``backend: transformers``): a local transformers model directory: a
  vision-language model (``AutoModelForImageTextToText``) captions frames and summarizes; a
  causal LM (``AutoModelForCausalLM``) only summarizes, through its tokenizer's chat template.

`make_captioner(spec)` builds one from a pipeline YAML mapping such as
``{"backend": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "internlm-xcomposer2"}``.

Each captioner has ``name`` (recorded with every caption it wrote) and ``concurrency`` (how many
calls it serves at once: local models 1, an endpoint its ``concurrency``); calls beyond that wait.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

DEFAULT_MAX_NEW_TOKENS = 512
BACKENDS = ("kangaroo", "openai", "transformers")


class CaptionerError(ValueError):
    """A captioner cannot be built (missing directory, bad settings) or cannot do what it was asked
    (a text-only model asked to caption a frame)."""


@runtime_checkable
class FrameCaptioner(Protocol):
    """Describes one frame. ``name`` identifies the model; ``concurrency`` is how many calls it serves at once."""

    name: str
    concurrency: int

    def caption(self, image: np.ndarray, prompt: str) -> str:
        """A description of ``image`` (uint8 RGB ``(H, W, 3)``) following ``prompt``."""
        ...


@runtime_checkable
class Summarizer(Protocol):
    """Answers a text-only prompt (summarises frame captions into a video caption)."""

    name: str
    concurrency: int

    def summarize(self, prompt: str) -> str:
        """The model's answer to ``prompt``."""
        ...


def check_image(image: Any) -> np.ndarray:
    """``image`` as a C-contiguous uint8 ``(H, W, 3)`` array; raises ``ValueError`` otherwise."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise ValueError(f"a frame must be uint8 RGB (H, W, 3), got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)


def _model_dir(model_dir: Any, backend: str) -> Path:
    if not isinstance(model_dir, str | os.PathLike):
        raise CaptionerError(f"{backend}: model_dir must be a local directory path, got {model_dir!r}")
    directory = Path(model_dir).expanduser()
    if not directory.is_dir():
        raise CaptionerError(f"{backend}: {directory}: no such model directory "
                             "(models load from local directories only)")
    if not (directory / "config.json").is_file():
        raise CaptionerError(f"{backend}: {directory}: no config.json; is it a saved model directory?")
    return directory


def _config(directory: Path, backend: str) -> dict[str, Any]:
    import json

    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaptionerError(f"{backend}: {directory / 'config.json'}: unreadable model config ({exc})") from None
    if not isinstance(config, dict):
        raise CaptionerError(f"{backend}: {directory / 'config.json'}: not a model config")
    return config


def _check_tokens(max_new_tokens: Any, name: str = "max_new_tokens") -> int:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise CaptionerError(f"{name} must be an integer >= 1, got {max_new_tokens!r}")
    return max_new_tokens


# --- kangaroo ------------------------------------------------------------------------------------


class KangarooCaptioner:
    """A saved kangaroo checkpoint (model + processor) as frame captioner and summarizer.

    model_dir:      a directory written by ``save_pretrained`` (see `kangaroo.model.pretrained`), or
                    ``tiny-random`` for the random-weights tiny model (its captions are noise: it
                    runs the whole path offline, for trying a pipeline out).
    device, dtype:  where and how the weights live (default CPU, as saved).
    max_new_tokens: the longest caption or summary, in tokens. Decoding is greedy.

    The directory is checked at once; the weights load on first use (a pipeline builds its steps
    once to check them before any worker runs). A frame is resized and normalised exactly as the
    processor does a still image (so the caption equals ``chat`` on that frame saved as a PNG) and
    has timestamp 0.
    """

    concurrency = 1

    def __init__(self, model_dir: str | os.PathLike[str], device: str = "cpu", dtype: Any = None,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> None:
        if os.fspath(model_dir) in ("tiny-random", "random", "bundled"):
            from kangaroo.inference.loading import resolve_model_dir

            model_dir = resolve_model_dir(None if os.fspath(model_dir) == "bundled" else "random")
        directory = _model_dir(model_dir, "kangaroo")
        model_type = _config(directory, "kangaroo").get("model_type")
        if model_type != "kangaroo":
            raise CaptionerError(f"kangaroo: {directory}: model_type is {model_type!r}, not 'kangaroo' "
                                 "(use backend: transformers for other local models)")
        self.max_new_tokens = _check_tokens(max_new_tokens)
        self.model_dir, self.device, self.dtype = os.fspath(directory), device, dtype
        from kangaroo.inference.loading import model_name

        self.name = f"kangaroo:{model_name(directory)}"
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def _load(self) -> tuple[Any, Any]:
        from kangaroo.model.pretrained import ModelLoadError, load_pretrained

        with self._lock:
            if self._loaded is None:
                try:
                    self._loaded = load_pretrained(self.model_dir, device=self.device, dtype=self.dtype)
                except ModelLoadError as exc:
                    raise CaptionerError(f"kangaroo: {exc}") from None
        return self._loaded

    @property
    def model(self) -> Any:
        """The `KangarooForCausalLM` (loaded on first use)."""
        return self._load()[0]

    @property
    def processor(self) -> Any:
        """The `KangarooProcessor` (loaded on first use)."""
        return self._load()[1]

    def frame_pixels(self, image: np.ndarray) -> tuple[Any, Any]:
        """``(pixel_values (1, 3, S, S), timestamps (1,))`` of a frame, as the processor prepares
        a still image (`KangarooProcessor.image_pixel_values`)."""
        return self.processor.image_pixel_values(check_image(image))

    def caption(self, image: np.ndarray, prompt: str) -> str:
        pixel_values, timestamps = self.frame_pixels(image)
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
        return self._generate(messages, (pixel_values, timestamps))

    def caption_frames(self, images: list[np.ndarray], prompt: str) -> list[str]:
        """Captions of several frames with one batched generation (the same as one at a time)."""
        import torch

        from kangaroo.inference.generation import greedy_answers

        model, processor = self._load()
        device = next(model.parameters()).device
        pixels = [self.frame_pixels(image) for image in images]
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
        prompt_ids = processor.encode(messages, [1])[0].tolist()
        with self._lock, torch.no_grad():
            features = model.get_video_features(torch.cat([p for p, _ in pixels]).to(device),  # (n, 3, S, S)
                                                torch.cat([t for _, t in pixels]).to(device), [1] * len(pixels))
            return greedy_answers(model, processor, [prompt_ids] * len(pixels), torch.cat(list(features)),
                                  self.max_new_tokens)

    def summarize(self, prompt: str) -> str:
        return self._generate([{"role": "user", "content": prompt}], None)

    def _generate(self, messages: list[dict[str, Any]], video: tuple[Any, Any] | None) -> str:
        import torch

        from kangaroo.inference.generation import greedy_answers

        model, processor = self._load()
        device = next(model.parameters()).device
        prompt = processor.encode(messages, [1] if video is not None else [])[0].tolist()
        with self._lock, torch.no_grad():
            features = None
            if video is not None:
                pixel_values, timestamps = video
                features = model.get_video_features(pixel_values.to(device), timestamps.to(device), [1])[0]  # (N, D)
            return greedy_answers(model, processor, [prompt], features, self.max_new_tokens)[0]


# --- OpenAI-compatible endpoint ------------------------------------------------------------------


class OpenAICaptioner:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    base_url:     the API root, e.g. ``http://127.0.0.1:8000/v1``.
    model:        the model name sent with every request.
    api_key:      sent as ``Authorization: Bearer``; None reads ``OPENAI_API_KEY`` (unset: no header).
    timeout:      seconds allowed for one request.
    retries:      further tries after a connection error, timeout, 429 or 5xx; ``backoff`` is the
                  first wait in seconds (doubling, ``Retry-After`` honoured). A request that still
                  fails raises `kangaroo.inference.openai_client.EndpointError`.
    concurrency:  requests in flight at once from this captioner (more calls wait their turn).
    max_tokens:   the longest caption or summary, in tokens.
    temperature:  0 (greedy) unless told otherwise.
    max_side, jpeg_quality: frames are resized so their longer side is at most ``max_side`` and
                  sent as JPEG of this quality.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0,
                 retries: int = 3, concurrency: int = 4, *, backoff: float = 1.0,
                 max_tokens: int = DEFAULT_MAX_NEW_TOKENS, temperature: float = 0.0, max_side: int = 448,
                 jpeg_quality: int = 90) -> None:
        from kangaroo.inference.openai_client import JpegFrames, OpenAIClient

        try:
            self.max_tokens = _check_tokens(max_tokens, "max_tokens")
            if not temperature >= 0:
                raise ValueError(f"temperature must be >= 0, got {temperature}")
            self.client = OpenAIClient(base_url, model, api_key=api_key, timeout=timeout, retries=retries,
                                       backoff=backoff, concurrency=concurrency)
            self.frames = JpegFrames(max_side, jpeg_quality)
        except ValueError as exc:
            raise CaptionerError(f"openai: {exc}") from None
        self.temperature = float(temperature)
        self.concurrency = concurrency
        self.name = f"openai:{model}"

    def caption(self, image: np.ndarray, prompt: str) -> str:
        content = [self.frames.part(check_image(image)), {"type": "text", "text": prompt}]
        return self._complete([{"role": "user", "content": content}])

    def summarize(self, prompt: str) -> str:
        return self._complete([{"role": "user", "content": prompt}])

    def request_body(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The JSON body of a chat-completions request for ``messages``."""
        return self.client.request_body(messages, max_tokens=self.max_tokens, temperature=self.temperature)

    def _complete(self, messages: list[dict[str, Any]]) -> str:
        return self.client.complete(self.request_body(messages)).strip()


# --- local transformers model --------------------------------------------------------------------


class TransformersCaptioner:
    """A local transformers model directory.

    A vision-language model (its ``model_type`` has an ``AutoModelForImageTextToText`` class, e.g.
    LLaVA, Qwen2-VL, InternVL) is loaded with its ``AutoProcessor`` and both captions frames and
    summarizes. Any other model is loaded with ``AutoModelForCausalLM`` and its tokenizer, and
    only summarizes: `caption` raises `CaptionerError`. Prompts go through the chat template
    saved with the tokenizer or processor (a directory without one is refused). Greedy decoding.
    The config and tokenizer (or processor) load at once, the weights on first use.
    """

    concurrency = 1

    def __init__(self, model_dir: str | os.PathLike[str], device: str = "cpu", dtype: Any = None,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> None:
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        from kangaroo.model.quiet import no_progress_bars

        directory = _model_dir(model_dir, "transformers")
        self.max_new_tokens = _check_tokens(max_new_tokens)
        self.model_type = _config(directory, "transformers").get("model_type")
        self.is_vision = self.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        with no_progress_bars():
            try:
                if self.is_vision:
                    from transformers import AutoProcessor

                    self.processor = AutoProcessor.from_pretrained(directory, local_files_only=True)
                    self.tokenizer = self.processor.tokenizer
                else:
                    from transformers import AutoTokenizer

                    self.processor = None
                    self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            except (OSError, ValueError, KeyError) as exc:
                raise CaptionerError(f"transformers: {directory}: cannot load the "
                                     f"{'processor' if self.is_vision else 'tokenizer'} ({exc})") from None
        if getattr(self.processor or self.tokenizer, "chat_template", None) is None:
            raise CaptionerError(f"transformers: {directory}: no chat template saved with the "
                                 f"{'processor' if self.is_vision else 'tokenizer'}; prompts need one")
        self.model_dir, self.device, self.dtype = os.fspath(directory), device, dtype
        from kangaroo.inference.loading import model_name

        self.name = f"transformers:{model_name(directory)}"
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The transformers model (loaded on first use)."""
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
        return self._model

    def _load_model(self) -> Any:
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

        from kangaroo.model.quiet import no_progress_bars

        auto = AutoModelForImageTextToText if self.is_vision else AutoModelForCausalLM
        kwargs = {"dtype": self.dtype} if self.dtype is not None else {}
        with no_progress_bars():
            try:
                model = auto.from_pretrained(self.model_dir, local_files_only=True, **kwargs)
            except (OSError, ValueError) as exc:
                raise CaptionerError(f"transformers: {self.model_dir}: cannot load the model ({exc})") from None
        return model.to(self.device).eval()

    def caption(self, image: np.ndarray, prompt: str) -> str:
        if not self.is_vision:
            raise CaptionerError(
                f"{self.name}: {self.model_dir} is a text-only model (model_type {self.model_type!r}): it cannot "
                "caption frames; use it as a summarizer, and a vision-language model as the frame captioner")
        from PIL import Image

        frame = Image.fromarray(check_image(image), "RGB")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=[text], images=[frame], return_tensors="pt")
        return self._generate(dict(inputs))

    def summarize(self, prompt: str) -> str:
        if self.is_vision:
            messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            inputs = dict(self.processor(text=[text], return_tensors="pt"))
        else:
            text = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                      add_generation_prompt=True, tokenize=False)
            # the template writes the special tokens itself (a BOS among them)
            inputs = dict(self.tokenizer(text, add_special_tokens=False, return_tensors="pt"))
        return self._generate(inputs)

    def _generate(self, inputs: dict[str, Any]) -> str:
        import torch

        model = self.model
        device = next(model.parameters()).device
        inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        dtype = next(model.parameters()).dtype
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with self._lock, torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                         temperature=None, top_p=None, top_k=None, pad_token_id=pad)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


# --- factory -------------------------------------------------------------------------------------

_OPTIONS = {
    "kangaroo": ("model_dir", "device", "dtype", "max_new_tokens"),
    "transformers": ("model_dir", "device", "dtype", "max_new_tokens"),
    "openai": ("base_url", "model", "api_key", "api_key_env", "timeout", "retries", "concurrency", "backoff",
               "max_tokens", "temperature", "max_side", "jpeg_quality"),
}
_REQUIRED = {"kangaroo": ("model_dir",), "transformers": ("model_dir",), "openai": ("base_url", "model")}


def make_captioner(spec: Mapping[str, Any]) -> KangarooCaptioner | OpenAICaptioner | TransformersCaptioner:
    """A captioner from a mapping (a pipeline YAML entry)::

        {"backend": "kangaroo", "model_dir": "runs/stage5/final"}
        {"backend": "transformers", "model_dir": "/models/Qwen2-7B-Instruct", "dtype": "bfloat16"}
        {"backend": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "internlm-xcomposer2",
         "api_key_env": "CAPTION_API_KEY"}

    ``dtype`` is a torch dtype name; ``api_key_env`` names the environment variable holding the
    API key (keys do not belong in pipeline files); ``name`` replaces the captioner's recorded name.
    Raises `CaptionerError` for an unknown backend or option, a missing one, or a missing directory.
    """
    if not isinstance(spec, Mapping):
        raise CaptionerError(f"a captioner spec must be a mapping with a 'backend' key, got {spec!r}")
    options = dict(spec)
    backend = options.pop("backend", None)
    if backend not in BACKENDS:
        raise CaptionerError(f"captioner backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    name = options.pop("name", None)
    unknown = sorted(set(options) - set(_OPTIONS[backend]))
    if unknown:
        raise CaptionerError(f"{backend} captioner: unknown option(s) {unknown}; "
                             f"known: {', '.join(('name', *_OPTIONS[backend]))}")
    missing = [key for key in _REQUIRED[backend] if options.get(key) in (None, "")]
    if missing:
        raise CaptionerError(f"{backend} captioner: missing {', '.join(missing)}")
    if isinstance(options.get("dtype"), str):
        from kangaroo.model.pretrained import weights_dtype  # imports torch: only when a dtype is named

        try:
            options["dtype"] = weights_dtype(options["dtype"])
        except ValueError as exc:
            raise CaptionerError(str(exc)) from None
    captioner: KangarooCaptioner | OpenAICaptioner | TransformersCaptioner
    if backend == "openai":
        env = options.pop("api_key_env", None)
        if env is not None:
            if options.get("api_key") is not None:
                raise CaptionerError("openai captioner: give api_key or api_key_env, not both")
            if not os.environ.get(env):
                raise CaptionerError(f"openai captioner: the environment variable {env} (api_key_env) is not set")
            options["api_key"] = os.environ[env]
        captioner = OpenAICaptioner(**options)
    elif backend == "kangaroo":
        captioner = KangarooCaptioner(**options)
    else:
        captioner = TransformersCaptioner(**options)
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise CaptionerError(f"captioner name must be a non-empty string, got {name!r}")
        captioner.name = name
    return captioner

