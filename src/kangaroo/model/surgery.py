"""Model surgery between training stages: change the frame size, the patchify kernel or the temporal
position embedding in place.

Table II trains at 224 px without patchify first, then at 448 px with it; a stage's recipe names
the geometry it wants, and `adapt_model` changes a `KangarooForCausalLM` to it:

- image size: the ViT's position table is interpolated (bicubic, as transformers'
  ``interpolate_pos_encoding``) to the new grid; the class token's position is kept.
- patchify kernel: ``(1, 1, 1)`` is the identity (stages 1-2 have no patchify); a different kernel
  replaces the module with a fresh one initialised "uniform" (averaging), as the refinement stage
  adds it.
- temporal position embedding: switched on or off (it has no weights: a sinusoid of each frame's
  time), for ablations.

All work on the meta device (for planning) and keep the config (and so the layout) in step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .modeling import KangarooForCausalLM
from .patchify import SpatioTemporalPatchify


def adapt_model(model: KangarooForCausalLM, *, image_size: int | None = None,
                patchify_kernel: list[int] | tuple[int, ...] | None = None,
                temporal_embedding: bool | None = None) -> list[str]:
    """Change the frame size, the patchify kernel and whether the temporal position embedding is
    added, of a `KangarooForCausalLM` in place (see the module docstring); returns what changed
    (``[]`` when nothing did). Works on the meta device."""
    changed = []
    if temporal_embedding is not None and temporal_embedding != model.config.use_temporal_embedding:
        from .temporal import TemporalPositionEmbedding

        model.config.use_temporal_embedding = temporal_embedding
        vision_dim = model.config.vision_config.hidden_size
        model.temporal_embedding = (TemporalPositionEmbedding(vision_dim, theta=model.config.tpe_theta)
                                    if temporal_embedding else None)
        changed.append(f"temporal_embedding {'on' if temporal_embedding else 'off'}")
    vision = model.config.vision_config
    if image_size is not None and image_size != vision.image_size:
        set_image_size(model, image_size)
        changed.append(f"image_size {image_size}")
    if patchify_kernel is not None and tuple(patchify_kernel) != tuple(model.config.patchify_kernel):
        set_patchify_kernel(model, tuple(int(k) for k in patchify_kernel))
        changed.append(f"patchify_kernel {tuple(patchify_kernel)}")
    model.config.layout  # noqa: B018 - raises ValueError when size, patch and kernel do not fit together
    return changed


def set_image_size(model: KangarooForCausalLM, image_size: int) -> None:
    """Resize the vision tower to ``image_size`` px frames: the patch-position table is
    interpolated bicubically to the new grid (the class token's position is kept)."""
    vision = model.config.vision_config
    patch = vision.patch_size
    if image_size % patch:
        raise ValueError(f"image_size {image_size} is not a multiple of the ViT patch size {patch}")
    embeddings = model.vision_tower.vision_model.embeddings if hasattr(model.vision_tower, "vision_model") \
        else model.vision_tower.embeddings
    table = embeddings.position_embedding.weight  # (N_pos, C)
    old_patches = embeddings.num_patches
    extra = table.shape[0] - old_patches  # 1 for CLIP's class token, 0 for SigLIP
    old_side, new_side = math.isqrt(old_patches), image_size // patch
    dim = table.shape[1]
    with torch.no_grad():
        grid = table[extra:].reshape(1, old_side, old_side, dim).permute(0, 3, 1, 2)  # (1, C, s, s)
        grid = nn.functional.interpolate(grid.float(), size=(new_side, new_side), mode="bicubic",
                                         align_corners=False)  # (1, C, s', s')
        new_table = torch.cat([table[:extra].float(), grid.permute(0, 2, 3, 1).reshape(-1, dim)])  # (N', C)
    new = nn.Embedding(new_table.shape[0], dim, device=table.device, dtype=table.dtype)
    with torch.no_grad():
        new.weight.copy_(new_table.to(table.dtype))
    new.weight.requires_grad_(table.requires_grad)
    embeddings.position_embedding = new
    embeddings.image_size = image_size
    embeddings.num_patches = new_side * new_side
    if hasattr(embeddings, "num_positions"):
        embeddings.num_positions = new_table.shape[0]
    embeddings.position_ids = torch.arange(new_table.shape[0], device=table.device).expand((1, -1))
    vision.image_size = image_size
    model.vision_tower.config.image_size = image_size


def set_patchify_kernel(model: KangarooForCausalLM, kernel: tuple[int, int, int]) -> None:
    """Replace the patchify module with a fresh ``kernel`` one, initialised as averaging."""
    old = model.patchify
    weight = old.conv.weight
    with torch.device(weight.device):
        new = SpatioTemporalPatchify(old.channels, kernel=kernel)
    new.to(weight.dtype)
    model.patchify = new
    model.config.patchify_kernel = tuple(kernel)
