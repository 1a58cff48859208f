"""AdamW with layer-wise LR decay on the ViT, and the cosine schedule of the paper.

Paper (section V-A, Table II): AdamW, weight decay 0.05, cosine schedule down to a minimum
learning rate of 1e-6, warm-up steps per stage, layer-wise learning-rate decay 0.9 on the vision
encoder.

Parameter groups (`build_optimizer`), one per ``(lr_scale, weight_decay)`` pair:

- **LR scale.** In a vision tower of ``n`` encoder layers, layer ``i`` (0-based) gets
  ``vision_lr_decay ** (n - i)``; the stem (``embeddings`` and CLIP's ``pre_layrnorm``, which
  runs before layer 0) gets ``vision_lr_decay ** (n + 1)``; ``post_layernorm`` and a SigLIP
  ``head`` get 1. Everything else (patchify, projector, LLM, LoRA adapters) gets 1.
- **No weight decay** for biases and other 0/1-d parameters, norm weights (any module whose class
  name contains ``Norm``: LayerNorm, RMSNorm, ...), embeddings (``nn.Embedding`` tables, the ViT
  stem: patch, position and class embeddings) and learned token vectors (CCAM ``queries``,
  SigLIP ``head.probe``). All other parameters get ``weight_decay``.

Each group stores ``lr_scale``; its ``lr`` is ``lr * lr_scale``. `cosine_with_warmup` multiplies
each group's initial lr by the same factor, so the layer-wise ratios hold at every step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Parameter names (last component) of learned token vectors: embeddings, not weights.
_TOKEN_PARAMETER_NAMES = frozenset({"class_embedding", "queries", "probe", "cls_token", "pos_embed"})


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float = 0.05,
    betas: tuple[float, float] = (0.9, 0.999),
    vision_lr_decay: float = 0.9,
) -> torch.optim.AdamW:
    """AdamW over the parameters of ``model`` that require grad, grouped by LR scale and decay.

    See the module docstring for the groups. ``model`` is a `KangarooForCausalLM` or any module;
    a ``vision_tower`` child, when it has trainable parameters, must have the transformers 5
    CLIP/SigLIP layout (``embeddings``, ``encoder.layers``, optional ``pre_layrnorm``,
    ``post_layernorm``, ``head``; the transformers 4 ``vision_model.`` nesting works too).

    Raises:
        ValueError: ``lr <= 0``, ``weight_decay < 0``, ``vision_lr_decay`` not in (0, 1], no
            trainable parameters, or a vision tower of unknown layout.
    """
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if not 0 < vision_lr_decay <= 1:
        raise ValueError(f"vision_lr_decay must be in (0, 1], got {vision_lr_decay}")
    scales = _vision_lr_scales(model, vision_lr_decay)
    groups: dict[tuple[float, float], dict] = {}
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if id(param) in seen:
                continue  # tied weights: one entry
            seen.add(id(param))
            full_name = f"{module_name}.{param_name}" if module_name else param_name
            scale = scales.get(id(param), 1.0)
            decay = 0.0 if _is_no_decay(module, param_name, param, full_name) else weight_decay
            group = groups.setdefault(
                (scale, decay), {"params": [], "lr": lr * scale, "weight_decay": decay, "lr_scale": scale}
            )
            group["params"].append(param)
    if not groups:
        raise ValueError("the model has no parameters with requires_grad=True: nothing to optimise")
    return torch.optim.AdamW(list(groups.values()), lr=lr, betas=betas, weight_decay=weight_decay)


def _is_no_decay(module: nn.Module, param_name: str, param: nn.Parameter, full_name: str) -> bool:
    if param.ndim < 2 or param_name == "bias":
        return True
    if isinstance(module, nn.Embedding) or "Norm" in type(module).__name__:
        return True
    if param_name in _TOKEN_PARAMETER_NAMES:
        return True
    # the ViT stem: patch embedding (a conv), position and class embeddings
    return ".embeddings." in f".{full_name}" and "vision_tower" in full_name


def _vision_lr_scales(model: nn.Module, decay: float) -> dict[int, float]:
    """``id(param) -> lr scale`` for every parameter of ``model.vision_tower`` (empty without one)."""
    tower = getattr(model, "vision_tower", None)
    if tower is None or not any(p.requires_grad for p in tower.parameters()):
        return {}
    root = tower
    if not hasattr(root, "encoder") and hasattr(root, "vision_model"):  # transformers 4 nesting
        root = root.vision_model
    layers = getattr(getattr(root, "encoder", None), "layers", None)
    embeddings = getattr(root, "embeddings", None)
    if not isinstance(layers, nn.ModuleList) or embeddings is None:
        raise ValueError(
            f"unknown vision tower layout ({type(tower).__name__}): layer-wise LR decay expects a "
            "transformers CLIP/SigLIP vision model with `embeddings` and `encoder.layers`"
        )
    n = len(layers)
    scales: dict[int, float] = {}
    parts: list[tuple[nn.Module | None, float]] = [(embeddings, decay ** (n + 1))]
    parts.append((getattr(root, "pre_layrnorm", None), decay ** (n + 1)))  # CLIP: before layer 0
    parts += [(layer, decay ** (n - i)) for i, layer in enumerate(layers)]
    parts += [(getattr(root, "post_layernorm", None), 1.0), (getattr(root, "head", None), 1.0)]
    for part, scale in parts:
        if part is not None:
            scales.update({id(p): scale for p in part.parameters()})
    unknown = [name for name, p in tower.named_parameters() if id(p) not in scales]
    if unknown:
        raise ValueError(
            f"unknown vision tower layout ({type(tower).__name__}): no layer-wise LR for {unknown[:5]}"
            f"{' ...' if len(unknown) > 5 else ''} (known parts: embeddings, pre_layrnorm, "
            "encoder.layers, post_layernorm, head)"
        )
    return scales


class WarmupCosine:
    """LR factor at ``step``: linear 0 -> 1 over ``warmup_steps``, cosine 1 -> ``floor`` at
    ``total_steps``, ``floor`` after. A class (not a closure) so `LambdaLR` saves its fields."""

    def __init__(self, warmup_steps: int, total_steps: int, floor: float) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.floor = floor

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / self.warmup_steps
        if step >= self.total_steps:
            return self.floor
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine_with_warmup(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, min_lr: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to each group's peak over ``warmup_steps``, then cosine down to the
    group's minimum at ``total_steps``, constant after.

    Step ``s`` (the scheduler's count, 0 before the first ``scheduler.step()``) gives the lr of
    optimizer step ``s``: ``peak * s / warmup_steps`` during warm-up (0 at step 0), ``peak`` at
    ``warmup_steps``, the minimum at ``total_steps`` and after.

    ``min_lr`` is absolute for a group of ``lr_scale`` 1 (the paper's 1e-6); a group with
    ``lr_scale`` (from `build_optimizer`) ends at ``min_lr * lr_scale``, so layer-wise ratios hold
    to the end. Groups without ``lr_scale`` count as 1. The peak is the group's ``initial_lr``
    (or ``lr`` before any scheduler).

    Raises:
        ValueError: ``warmup_steps < 0``, ``total_steps <= warmup_steps``, ``min_lr < 0``, or a
            group whose minimum exceeds its peak.
    """
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError(
            f"need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, total_steps={total_steps}"
        )
    if min_lr < 0:
        raise ValueError(f"min_lr must be >= 0, got {min_lr}")
    lambdas = []
    for group in optimizer.param_groups:
        peak = float(group.get("initial_lr", group["lr"]))
        floor_lr = min_lr * float(group.get("lr_scale", 1.0))
        if peak <= 0:
            raise ValueError(f"a group has peak lr {peak}: the schedule needs a positive peak")
        if floor_lr > peak:
            raise ValueError(f"a group's minimum lr {floor_lr} exceeds its peak lr {peak}")
        lambdas.append(WarmupCosine(warmup_steps, total_steps, floor_lr / peak))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
