"""Which parts of `KangarooForCausalLM` train in each stage (the paper's Table II / Fig. 6).

`set_trainable(model, names)` freezes every parameter, then unfreezes the named children
(``vision_tower``, ``patchify``, ``projector``, ``language_model``). `STAGE_TRAINABLE` holds the
five stages' choices.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

STAGE_TRAINABLE: dict[str, tuple[str, ...]] = {
    # Stage I, 224 px images: align the ViT with a frozen LLM (patchify is not yet used).
    "image_pretraining": ("vision_tower", "projector"),
    # Stage I, 224 px, 8 frames.
    "video_pretraining": ("vision_tower", "projector"),
    # Stage II, 448 px, 16 frames: the patchify module starts ("uniform" init) and trains.
    "pretraining_refinement": ("vision_tower", "patchify", "projector"),
    # Stage III: the full model.
    "instruction_tuning": ("vision_tower", "patchify", "projector", "language_model"),
    # Stage IV, up to 160 frames: the vision encoder is frozen, everything else trains.
    "long_video_tuning": ("patchify", "projector", "language_model"),
}
"""Trainable children per training stage (Table II; the LLM is frozen in stages I and II)."""


def set_trainable(model: nn.Module, trainable: Sequence[str]) -> dict[str, int]:
    """Freeze all parameters of ``model``, then unfreeze those of the named children.

    A ``language_model`` wrapped by PEFT (`kangaroo.training.lora.add_lora`) unfreezes its adapter
    parameters only; its base weights stay frozen.

    Returns:
        ``{"trainable": n, "frozen": m}``: parameter counts (elements; tied weights once).

    Raises:
        ValueError: a name that is not a child of ``model`` (the message lists the valid ones).
    """
    if isinstance(trainable, str):
        raise ValueError(f"trainable must be a sequence of names, got the string {trainable!r}")
    children = dict(model.named_children())
    unknown = [name for name in trainable if name not in children]
    if unknown:
        raise ValueError(f"unknown module names {unknown}; valid names: {sorted(children)}")
    for param in model.parameters():
        param.requires_grad_(False)
    for name in trainable:
        child = children[name]
        for param_name, param in child.named_parameters():
            if _is_peft_model(child) and not _is_adapter_parameter(child, param_name):
                continue
            param.requires_grad_(True)
    return count_parameters(model)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """``{"trainable": n, "frozen": m}``: element counts of ``model``'s parameters (tied ones once)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return {"trainable": trainable, "frozen": frozen}


def _is_peft_model(module: nn.Module) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # peft is a training extra
        return False
    return isinstance(module, PeftModel)


def _is_adapter_parameter(peft_model: nn.Module, name: str) -> bool:
    prefix = getattr(peft_model.base_model, "prefix", "lora_")  # adapter weights carry the tuner prefix
    return prefix in name or "modules_to_save" in name
