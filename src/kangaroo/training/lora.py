"""LoRA on the LLM of `KangarooForCausalLM`, through PEFT.

`add_lora` wraps ``model.language_model`` in a `peft.PeftModel` (adapters on the named linear
layers, base weights frozen); the rest of the model is untouched, so the vision tower, patchify
and projector keep whatever `set_trainable` chose. `save_adapter` writes the adapters the PEFT
way (``adapter_config.json`` + ``adapter_model.safetensors``); `merge_lora` folds them into the
base weights and unwraps, so the model saves and loads as a plain `KangarooForCausalLM`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

from torch import nn


def _peft():
    try:
        import peft
    except ImportError as error:  # pragma: no cover - peft is in the train extra
        raise ImportError("LoRA needs peft: pip install 'kangaroo[train]'") from error
    return peft


def has_lora(model: nn.Module) -> bool:
    """Whether ``model.language_model`` is wrapped by PEFT (`add_lora`)."""
    language_model = getattr(model, "language_model", None)
    if language_model is None:
        return False
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(language_model, PeftModel)


def add_lora(
    model: nn.Module, *, r: int, alpha: int, dropout: float = 0.0, target_modules: Sequence[str]
) -> nn.Module:
    """Add LoRA adapters (rank ``r``, scale ``alpha / r``) to the ``target_modules`` of
    ``model.language_model`` (e.g. ``["q_proj", "k_proj", "v_proj", "o_proj"]``); returns
    ``model`` (changed in place). The LLM's base weights are frozen; the adapters train.

    Raises:
        ValueError: ``r < 1``, ``alpha <= 0``, ``dropout`` not in [0, 1), no ``target_modules``,
            no ``language_model``, or adapters already added.
        ImportError: peft is not installed.
    """
    if r < 1 or alpha <= 0 or not 0 <= dropout < 1:
        raise ValueError(f"need r >= 1, alpha > 0, 0 <= dropout < 1; got r={r}, alpha={alpha}, dropout={dropout}")
    if isinstance(target_modules, str) or not target_modules:
        raise ValueError(f"target_modules must be a non-empty list of module names, got {target_modules!r}")
    if getattr(model, "language_model", None) is None:
        raise ValueError(f"{type(model).__name__} has no language_model to adapt")
    if has_lora(model):
        raise ValueError("the language model already has LoRA adapters (merge_lora them first)")
    peft = _peft()
    config = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules))
    with warnings.catch_warnings():  # peft calls a transformers 5 deprecated alias; not the user's concern
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model.language_model = peft.get_peft_model(model.language_model, config)
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold the LoRA adapters into the LLM's weights and remove the PEFT wrapper; returns
    ``model`` (changed in place), a plain `KangarooForCausalLM` again.

    The merged LLM's parameters keep their ``requires_grad`` (base weights stay frozen).

    Raises:
        ValueError: the model has no LoRA adapters.
    """
    if not has_lora(model):
        raise ValueError("the model has no LoRA adapters to merge (add_lora adds them)")
    model.language_model = model.language_model.merge_and_unload()
    return model


def save_adapter(model: nn.Module, directory: str | os.PathLike[str]) -> None:
    """Write the LoRA adapters of ``model`` to ``directory`` the PEFT way (`PeftModel.save_pretrained`):
    ``adapter_config.json`` and ``adapter_model.safetensors``, loadable with `PeftModel.from_pretrained`.

    Raises:
        ValueError: the model has no LoRA adapters.
    """
    if not has_lora(model):
        raise ValueError("the model has no LoRA adapters to save (add_lora adds them)")
    model.language_model.save_pretrained(os.fspath(directory))
