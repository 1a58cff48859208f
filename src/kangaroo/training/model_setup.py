"""The model a stage trains: where it comes from, and the geometry changes between stages.

- ``model.init``: ``kangaroo_tiny`` (seeded random weights, byte tokenizer), ``kangaroo_8b``
  (the paper's shape; random weights, meta-device planning only: it has no tokenizer),
  ``components`` (``model.vision_dir`` + ``model.llm_dir``, `kangaroo_from_components`) or a
  saved model directory (``config.json`` + ``processor_config.json``).
- ``model.from_stage``: the previous stage's ``final/`` directory replaces ``init``.
- ``model.image_size``: the ViT's position table is interpolated (bicubic, as transformers'
  ``interpolate_pos_encoding``) to the new grid: Table II trains at 224 px first, 448 px later.
- ``model.patchify_kernel``: ``[1, 1, 1]`` is the identity (stages 1-2 have no patchify); a
  different kernel replaces the module with a fresh one initialised "uniform" (averaging), as the
  refinement stage adds it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .recipe import MODEL_BUILDERS, Recipe, RecipeError, final_model_dir

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def describe_model_source(recipe: Recipe, errors: list[str], warnings: list[str]) -> bool:
    """Check that the stage's starting weights exist (a missing previous stage is a warning);
    returns whether its architecture can be built (on the meta device)."""
    m = recipe.model
    previous = recipe.from_stage_dir()
    if previous is not None:
        if final_model_dir(previous) is None:
            warnings.append(
                f"model.from_stage: {previous} has no finished model yet (run that stage first); "
                f"checked against the {m.init} architecture instead"
            )
        else:
            return True
    if m.init in MODEL_BUILDERS:
        return True
    if m.init == "components":  # missing directories are reported by validate_recipe's value checks
        ok = bool(m.vision_dir and m.llm_dir)
        for key in ("vision_dir", "llm_dir"):
            value = getattr(m, key)
            if value and not (Path(value) / "config.json").is_file():
                errors.append(f"model.{key}: {value}: not a local model directory (no config.json)")
                ok = False
        return ok
    path = Path(m.init)
    if not path.is_dir():
        errors.append(f"model.init: {m.init!r} is neither {', '.join(MODEL_BUILDERS)}, components, "
                      "nor an existing model directory")
    elif not (path / "config.json").is_file():
        errors.append(f"model.init: {path}: no config.json; is it a saved Kangaroo model?")
    elif not (path / "processor_config.json").is_file():
        errors.append(f"model.init: {path}: no processor_config.json (save the processor beside the model)")
    else:
        return True
    return False


def _source_config(recipe: Recipe) -> Any:
    """The `KangarooConfig` the stage starts from (before image size / patchify changes)."""
    from kangaroo.model.builders import kangaroo_8b_config, kangaroo_tiny_config
    from kangaroo.model.configuration import KangarooConfig

    previous = recipe.from_stage_dir()
    final = final_model_dir(previous) if previous is not None else None
    if final is not None:
        return KangarooConfig.from_pretrained(final, local_files_only=True)
    m = recipe.model
    if m.init == "kangaroo_tiny":
        return kangaroo_tiny_config(projector_type=m.projector_type)
    if m.init == "kangaroo_8b":
        return kangaroo_8b_config(projector_type=m.projector_type)
    if m.init == "components":
        from transformers import AutoConfig

        vision = AutoConfig.from_pretrained(m.vision_dir, local_files_only=True)
        vision = getattr(vision, "vision_config", vision)
        text = AutoConfig.from_pretrained(m.llm_dir, local_files_only=True)
        n = text.vocab_size
        return KangarooConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                              projector_type=m.projector_type, video_start_token_id=n, video_end_token_id=n + 1,
                              frame_token_id=n + 2, video_pad_token_id=n + 3)
    return KangarooConfig.from_pretrained(m.init, local_files_only=True)


def meta_model(recipe: Recipe) -> nn.Module:
    """The stage's model on the meta device (no weights): for validation and planning."""
    import kangaroo.model.modeling  # noqa: F401 - registers the Auto classes
    from kangaroo.model.modeling import KangarooForCausalLM

    config = _source_config(recipe)
    with torch.device("meta"):
        model = KangarooForCausalLM(config)
    adapt_model(model, image_size=recipe.model.image_size, patchify_kernel=recipe.model.patchify_kernel)
    return model


def build_model(recipe: Recipe) -> tuple[nn.Module, Any]:
    """``(model, processor)`` the stage starts from, adapted to its image size and patchify kernel,
    in ``model.dtype`` on the CPU. Raises `RecipeError` when the previous stage has not finished."""
    import kangaroo.model.modeling  # noqa: F401
    from kangaroo.model.builders import kangaroo_from_components, kangaroo_tiny
    from kangaroo.model.tokenizer import build_byte_tokenizer
    from kangaroo.processing import KangarooProcessor

    m = recipe.model
    previous = recipe.from_stage_dir()
    if previous is not None:
        final = final_model_dir(previous)
        if final is None:
            raise RecipeError([f"model.from_stage: {previous} has no finished model ({previous}/final); "
                               "run the previous stage first"])
        model, processor = _load_saved(final)
    elif m.init == "kangaroo_tiny":
        tokenizer = build_byte_tokenizer()
        model = kangaroo_tiny(tokenizer, projector_type=m.projector_type, seed=m.seed)
        processor = KangarooProcessor(tokenizer, model.config.layout)
    elif m.init == "kangaroo_8b":
        raise RecipeError(["model.init: kangaroo_8b has random weights and no tokenizer; start from "
                           "init=components (model.vision_dir, model.llm_dir) or a saved model directory"])
    elif m.init == "components":
        model, tokenizer = kangaroo_from_components(m.vision_dir, m.llm_dir, projector_type=m.projector_type)
        processor = KangarooProcessor(tokenizer, model.config.layout)
    else:
        model, processor = _load_saved(Path(m.init))
    changed = adapt_model(model, image_size=m.image_size, patchify_kernel=m.patchify_kernel)
    if changed or processor.layout != model.config.layout:
        processor = KangarooProcessor(processor.tokenizer, model.config.layout, chat_template=processor.chat_template,
                                      aspect=processor.aspect, image_mean=processor.image_mean,
                                      image_std=processor.image_std)
    model.to(DTYPES[m.dtype])
    return model, processor


def _load_saved(directory: Path) -> tuple[nn.Module, Any]:
    from transformers import AutoModelForCausalLM

    from kangaroo.processing import KangarooProcessor

    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "kangaroo":
        raise RecipeError([f"{directory}: model_type is {config.get('model_type')!r}, not 'kangaroo'"])
    model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=torch.float32)
    return model, KangarooProcessor.from_pretrained(directory)


def adapt_model(model: nn.Module, *, image_size: int | None = None,
                patchify_kernel: list[int] | tuple[int, ...] | None = None) -> list[str]:
    """Change the frame size and the patchify kernel of a `KangarooForCausalLM` in place (see the
    module docstring); returns what changed (``[]`` when nothing did). Works on the meta device."""
    changed = []
    vision = model.config.vision_config
    if image_size is not None and image_size != vision.image_size:
        set_image_size(model, image_size)
        changed.append(f"image_size {image_size}")
    if patchify_kernel is not None and tuple(patchify_kernel) != tuple(model.config.patchify_kernel):
        set_patchify_kernel(model, tuple(int(k) for k in patchify_kernel))
        changed.append(f"patchify_kernel {tuple(patchify_kernel)}")
    model.config.layout  # noqa: B018 - raises ValueError when size, patch and kernel do not fit together
    return changed


def set_image_size(model: nn.Module, image_size: int) -> None:
    """Resize the vision tower to ``image_size`` px frames: the patch-position table is
    interpolated bicubically to the new grid (the class token's position is kept)."""
    vision = model.config.vision_config
    patch = vision.patch_size
    if image_size % patch:
        raise ValueError(f"model.image_size {image_size} is not a multiple of the ViT patch size {patch}")
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


def set_patchify_kernel(model: nn.Module, kernel: tuple[int, int, int]) -> None:
    """Replace the patchify module with a fresh ``kernel`` one, initialised as averaging."""
    from kangaroo.model.patchify import SpatioTemporalPatchify

    old = model.patchify
    weight = old.conv.weight
    with torch.device(weight.device):
        new = SpatioTemporalPatchify(old.channels, kernel=kernel)
    new.to(weight.dtype)
    model.patchify = new
    model.config.patchify_kernel = tuple(kernel)
