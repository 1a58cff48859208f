"""An lmms-eval model for kangaroo checkpoints: ``--model kangaroo --model_args pretrained=DIR,max_frames_num=64``.

This module imports lmms-eval (``import kangaroo`` never does): lmms-eval imports it when a run
asks for ``--model kangaroo``, found through the registration in `kangaroo.eval.lmms_eval_plugin`
(an entry point in the ``lmms_eval.models`` group, or ``LMMS_EVAL_PLUGINS=kangaroo.eval.lmms_eval_plugin``).

`Kangaroo` is a "simple" lmms-eval model: each request brings the task's prompt text and a
``doc_to_visual`` that gives the document's video (or images). Every question is answered by
`kangaroo.inference.chat.chat` on one video, greedily, and the answer is cut at the task's
``until`` strings. Multiple-choice tasks scored by log-likelihood are not supported.

Visuals: one video or image path is used as is; one PIL image is saved to a temporary PNG; several
images become a temporary 1 frame-per-second video (kangaroo answers about one video at a time).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

logger = logging.getLogger(__name__)

MODEL_NAME = "kangaroo"
DEFAULT_MAX_NEW_TOKENS = 1024


class Kangaroo(lmms):
    """A saved kangaroo checkpoint under lmms-eval.

    pretrained:     the model directory (written by ``save_pretrained`` with its processor).
    max_frames_num: frames per video: the count of uniform sampling, the cap of fps / dynamic
                    sampling (`FrameSampling.with_frames`); default: the sampling the model was saved with.
    device:         ``cuda``, ``cuda:1``, ``cpu``...; default ``cuda:$LOCAL_RANK`` when CUDA is
                    available, else ``cpu``. Under ``accelerate launch``/``torchrun`` each process
                    takes the GPU of its local rank and answers its own share of the requests.
    dtype:          ``bfloat16``, ``float16``, ``float32`` or ``auto`` (as saved, the default).
    batch_size:     accepted for lmms-eval's CLI; questions are answered one at a time.
    """

    is_simple = True

    def __init__(
        self,
        pretrained: str | None = None,
        max_frames_num: int | str | None = None,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int | str | None = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        from kangaroo.inference.loading import load_chat_model
        from kangaroo.model.pretrained import weights_dtype

        if not pretrained:
            raise ValueError("kangaroo needs model_args pretrained=DIR (a saved kangaroo model directory)")
        ignored = sorted(k for k, v in kwargs.items() if v is not None and k != "max_batch_size")
        if ignored:
            logger.warning("kangaroo ignores the model_args %s", ", ".join(ignored))
        self._rank, self._world_size, local_rank = _process_layout()
        self._device = _pick_device(device, local_rank, self._world_size)
        model, processor, is_random = load_chat_model(pretrained, device=self._device, dtype=weights_dtype(dtype))
        if is_random:
            logger.warning("%s holds random weights: its answers are noise", pretrained)
        if max_frames_num is not None:
            processor = _with_frame_count(processor, int(max_frames_num))
        self.model, self.processor = model, processor
        self.batch_size_per_gpu = int(batch_size or 1)
        self._warned_sampling = False

    @property
    def device(self) -> str:
        """The torch device the model runs on."""
        return self._device

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    # --- lmms-eval's request types --------------------------------------------------------------

    def generate_until(self, requests: list[Instance]) -> list[str]:
        """Answer each request (``context, gen_kwargs, doc_to_visual, doc_id, task, split``), in order."""
        answers = []
        for request in self._progress(requests):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            answer = self.answer(context, gen_kwargs, doc_to_visual(doc))
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), answer)
            answers.append(answer)
        return answers

    def generate_until_multi_round(self, requests: list[Instance]) -> list[list[str]]:
        """Rounds as lmms-eval defines them: round 0 asks ``context``; each later round asks what the
        task's ``doc_to_text(doc, previous_output=..., round_idx=..., previous_round_info=...)``
        returns, until it signals the end. Each round is answered on its own (as lmms-eval's
        reference models do); the reply per request is the list of round answers."""
        replies = []
        for request in self._progress(requests):
            context, gen_kwargs, doc_to_visual, doc_to_text, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            replies.append(self._rounds(doc, context, gen_kwargs, doc_to_visual(doc), doc_to_text))
        return replies

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError(
            "kangaroo's lmms-eval model does not score log-likelihoods: choose a task variant that "
            "generates its answer (output_type: generate_until) instead of a multiple_choice one"
        )

    # --- answering -------------------------------------------------------------------------------

    def answer(self, context: str, gen_kwargs: dict[str, Any] | None, visuals: Any) -> str:
        """The greedy answer to ``context`` about ``visuals``, cut at the first ``until`` string."""
        from kangaroo.inference.chat import chat

        gen_kwargs = dict(gen_kwargs or {})
        self._warn_if_sampling(gen_kwargs)
        max_new_tokens = int(gen_kwargs.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)
        with visual_file(visuals) as video:
            answer, _ = chat(self.model, self.processor, video, context, max_new_tokens=max_new_tokens)
        return truncate_at(answer, stop_strings(gen_kwargs.get("until")))

    def _rounds(self, doc: Any, context: str, gen_kwargs: dict[str, Any], visuals: Any,
                doc_to_text: Callable[..., Any]) -> list[str]:
        outputs: list[str] = []
        info = None
        while True:
            if outputs:
                visuals, context, done, _, info = doc_to_text(
                    doc, previous_output=list(outputs), round_idx=len(outputs), previous_round_info=info
                )
                if done:
                    return outputs
            outputs.append(self.answer(context, gen_kwargs, visuals))

    def _warn_if_sampling(self, gen_kwargs: dict[str, Any]) -> None:
        sampling = gen_kwargs.get("do_sample") or float(gen_kwargs.get("temperature") or 0) > 0
        if sampling and not self._warned_sampling:
            logger.warning("kangaroo evaluates greedily; the task's temperature/do_sample are ignored")
            self._warned_sampling = True

    def _progress(self, requests: Sequence[Instance]) -> Iterator[Instance]:
        from tqdm import tqdm

        yield from tqdm(requests, desc="kangaroo answering", disable=self.rank != 0)


# --- helpers ---------------------------------------------------------------------------------------


def stop_strings(until: str | Sequence[str] | None) -> list[str]:
    """The non-empty stop strings of a task's ``until`` (a string or a list)."""
    if until is None:
        return []
    if isinstance(until, str):
        until = [until]
    if not all(isinstance(stop, str) for stop in until):
        raise ValueError(f"gen_kwargs 'until' must be a string or a list of strings, got {until!r}")
    return [stop for stop in until if stop]


def truncate_at(text: str, stops: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest of ``stops``."""
    cut = min((i for i in (text.find(stop) for stop in stops) if i >= 0), default=len(text))
    return text[:cut]


@contextmanager
def visual_file(visuals: Any) -> Iterator[str]:
    """The path of one video (or image) file showing ``visuals`` (see the module docstring)."""
    items = [] if visuals is None else list(visuals) if isinstance(visuals, list | tuple) else [visuals]
    if not items:
        raise ValueError("kangaroo answers about a video or an image, and this document has none")
    if all(isinstance(item, str | os.PathLike) for item in items):
        if len(items) > 1:
            raise ValueError(f"kangaroo answers about one video at a time; the document gives {len(items)}: "
                             f"{[os.fspath(item) for item in items][:3]}")
        yield os.fspath(items[0])
        return
    images = [_as_rgb(item) for item in items]
    with tempfile.TemporaryDirectory(prefix="kangaroo-lmms-") as folder:
        yield _write_images(Path(folder), images)


def _as_rgb(item: Any) -> Any:
    from PIL import Image

    if not isinstance(item, Image.Image):
        raise ValueError(f"kangaroo takes video or image paths and PIL images, not {type(item).__name__}")
    return item.convert("RGB")


def _write_images(folder: Path, images: list[Any]) -> str:
    """One image as a PNG; several as a 1 fps video, each resized to the first one's (even) size."""
    if len(images) == 1:
        path = folder / "image.png"
        images[0].save(path)
        return str(path)
    import numpy as np

    from kangaroo.video import write_video

    width, height = (max(2, side - side % 2) for side in images[0].size)
    frames = [np.asarray(image.resize((width, height))) for image in images]
    return str(write_video(folder / "images.mp4", frames, 1.0))


def _process_layout() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the launcher's environment (torchrun, accelerate)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _pick_device(device: str | None, local_rank: int, world_size: int) -> str:
    """The device of this process: a plain ``cuda`` becomes ``cuda:LOCAL_RANK`` when several run."""
    import torch

    if device is None:
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and world_size > 1:
        return f"cuda:{local_rank}"
    return device


def _with_frame_count(processor: Any, frames: int) -> Any:
    """A copy of ``processor`` sampling ``frames`` frames per video (`FrameSampling.with_frames`)."""
    if frames < 1:
        raise ValueError(f"max_frames_num must be >= 1, got {frames}")
    return processor.with_sampling(processor.sampling.with_frames(frames))


def _register_legacy(cls: type) -> type:
    """Also register with lmms-eval's older decorator registry when it can be imported."""
    try:
        from lmms_eval.api.registry import register_model
    except ImportError:  # that module needs `evaluate`; the current registry does not use it
        return cls
    return register_model(MODEL_NAME)(cls)


Kangaroo = _register_legacy(Kangaroo)
