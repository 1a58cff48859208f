"""Load a saved Kangaroo model: the one way from a local directory to ``(model, processor)``.

A saved model is a directory written by ``model.save_pretrained`` and
``processor.save_pretrained``: ``config.json`` (``model_type: kangaroo``), safetensors weights,
the tokenizer files and ``processor_config.json``. Inference (`kangaroo.inference.loading`),
training (a previous stage, a saved ``model.init``), evaluation, curation's captioner and
``model.chat`` all load through `load_pretrained` (or, for the parts alone, `load_config` and
`load_processor`), so every caller gets the same checks and the same errors. Nothing is
downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .configuration import KangarooConfig
from .quiet import no_progress_bars

if TYPE_CHECKING:
    from kangaroo.processing import KangarooProcessor

    from .modeling import KangarooForCausalLM


class ModelLoadError(ValueError):
    """A model directory is missing, or is not a saved Kangaroo model with its processor."""


def check_model_dir(directory: str | os.PathLike[str]) -> Path:
    """``directory`` as a path, once it is known to hold a Kangaroo ``config.json``.
    Raises `ModelLoadError` naming what is missing or wrong."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"{path}: no such model directory (models load from local directories only)")
    config_file = path / "config.json"
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no config.json; is it a saved Kangaroo model?") from None
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{config_file}: unreadable model config ({exc})") from None
    if model_type != KangarooConfig.model_type:
        raise ModelLoadError(f"{path}: model_type is {model_type!r}, not 'kangaroo'")
    return path


def load_config(directory: str | os.PathLike[str]) -> KangarooConfig:
    """The `KangarooConfig` of a saved model (no weights). Raises `ModelLoadError`."""
    return KangarooConfig.from_pretrained(check_model_dir(directory), local_files_only=True)


def load_processor(directory: str | os.PathLike[str]) -> KangarooProcessor:
    """The `KangarooProcessor` saved beside a model. Raises `ModelLoadError` when it is missing."""
    from kangaroo.processing import KangarooProcessor

    try:
        return KangarooProcessor.from_pretrained(Path(directory).expanduser())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{exc} (save the processor beside the model)") from None


def load_pretrained(
    directory: str | os.PathLike[str], *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[KangarooForCausalLM, KangarooProcessor]:
    """``(model, processor)`` from a saved model directory; the model in eval mode on ``device``.

    dtype: the weights' dtype (default: as saved).
    Raises `ModelLoadError` when the directory is missing, is not a saved Kangaroo model,
    lacks its processor or weights, or when the processor's video-token ids differ from the model's.
    """
    from transformers import AutoModelForCausalLM

    from . import modeling  # noqa: F401 - registers the Kangaroo Auto classes

    path = check_model_dir(directory)
    processor = load_processor(path)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    with no_progress_bars():
        try:
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **kwargs)
        except OSError as exc:  # no weights file, unreadable files
            raise ModelLoadError(f"{path}: cannot load the model ({exc})") from None
    try:
        model.config.check_video_token_ids(processor.video_token_ids)
    except ValueError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None
    return model.to(device).eval(), processor


WEIGHT_DTYPES = ("auto", "float32", "float16", "bfloat16")  # names a user may give for the weights' dtype


def weights_dtype(name: str | None) -> torch.dtype | None:
    """The torch dtype a user names (``bfloat16``, ``torch.float16``, ...); None for ``auto`` or None
    (as saved). Raises ``ValueError`` listing the names for anything else."""
    key = (name or "auto").lower().removeprefix("torch.")
    if key not in WEIGHT_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(WEIGHT_DTYPES)}, got {name!r}")
    return None if key == "auto" else getattr(torch, key)
