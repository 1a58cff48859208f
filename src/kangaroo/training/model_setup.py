"""The model a stage trains: where it comes from, and the geometry it trains at.

- ``model.init``: a named builder (`kangaroo.model.builders.MODEL_BUILDERS`: ``kangaroo_tiny``,
  seeded random weights with its byte tokenizer; ``kangaroo_8b``, the paper's shape, for
  meta-device planning only: it has no tokenizer), ``components`` (``model.vision_dir`` +
  ``model.llm_dir``, `kangaroo_from_components`) or a saved model directory (`load_pretrained`).
- ``model.from_stage``: the previous stage's ``final/`` directory replaces ``init``.
- ``model.image_size`` / ``model.patchify_kernel`` / ``model.temporal_embedding``: applied by
  `kangaroo.model.surgery.adapt_model`
  (Table II trains at 224 px without patchify first, 448 px with it later).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .recipe import Recipe, RecipeError, final_model_dir

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def describe_model_source(recipe: Recipe, errors: list[str], warnings: list[str]) -> bool:
    """Check that the stage's starting weights exist (a missing previous stage is a warning);
    returns whether its architecture can be built (on the meta device)."""
    from kangaroo.model.builders import find_model_builder, model_names
    from kangaroo.model.pretrained import ModelLoadError, check_model_dir

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
    if find_model_builder(m.init) is not None:
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
        errors.append(f"model.init: {m.init!r} is neither a named model ({model_names()}), components, "
                      "nor an existing model directory")
        return False
    try:
        check_model_dir(path)
    except ModelLoadError as exc:
        errors.append(f"model.init: {exc}")
        return False
    if not (path / "processor_config.json").is_file():
        errors.append(f"model.init: {path}: no processor_config.json (save the processor beside the model)")
        return False
    return True


def _source_config(recipe: Recipe) -> Any:
    """The `KangarooConfig` the stage starts from (before image size / patchify changes)."""
    from kangaroo.model.builders import find_model_builder, kangaroo_components_config
    from kangaroo.model.pretrained import load_config

    previous = recipe.from_stage_dir()
    final = final_model_dir(previous) if previous is not None else None
    if final is not None:
        return load_config(final)
    m = recipe.model
    if (builder := find_model_builder(m.init)) is not None:
        return builder.config(projector_type=m.projector_type)
    if m.init == "components":
        return kangaroo_components_config(m.vision_dir, m.llm_dir, projector_type=m.projector_type)[0]
    return load_config(m.init)


def meta_model(recipe: Recipe) -> nn.Module:
    """The stage's model on the meta device (no weights): for validation and planning."""
    from kangaroo.model.modeling import KangarooForCausalLM
    from kangaroo.model.surgery import adapt_model

    config = _source_config(recipe)
    with torch.device("meta"):
        model = KangarooForCausalLM(config)
    adapt_model(model, image_size=recipe.model.image_size, patchify_kernel=recipe.model.patchify_kernel,
                temporal_embedding=recipe.model.temporal_embedding)
    return model


def build_model(recipe: Recipe) -> tuple[nn.Module, Any]:
    """``(model, processor)`` the stage starts from, adapted to its image size and patchify kernel,
    in ``model.dtype`` on the CPU. Raises `RecipeError` when the previous stage has not finished,
    when ``model.init`` names a builder without a tokenizer, or a directory that does not load."""
    from kangaroo.model.builders import find_model_builder, kangaroo_from_components
    from kangaroo.model.pretrained import ModelLoadError, load_pretrained
    from kangaroo.model.surgery import adapt_model
    from kangaroo.processing import KangarooProcessor

    m = recipe.model
    previous = recipe.from_stage_dir()
    builder = find_model_builder(m.init)
    if previous is not None:
        final = final_model_dir(previous)
        if final is None:
            raise RecipeError([f"model.from_stage: {previous} has no finished model ({previous}/final); "
                               "run the previous stage first"])
        source: Path | None = final
    elif builder is not None or m.init == "components":
        source = None
    else:
        source = Path(m.init)
    if source is not None:
        try:  # float32 master weights; model.dtype is applied below
            model, processor = load_pretrained(source, dtype=torch.float32)
        except ModelLoadError as exc:
            raise RecipeError([str(exc)]) from None
    elif builder is not None:
        if builder.tokenizer is None:
            raise RecipeError([f"model.init: {builder.name} has random weights and no tokenizer; start from "
                               "init=components (model.vision_dir, model.llm_dir) or a saved model directory"])
        tokenizer = builder.tokenizer()
        model = builder.build(tokenizer, projector_type=m.projector_type, seed=m.seed)
        processor = KangarooProcessor(tokenizer, model.config.layout)
    else:
        model, tokenizer = kangaroo_from_components(m.vision_dir, m.llm_dir, projector_type=m.projector_type)
        processor = KangarooProcessor(tokenizer, model.config.layout)
    changed = adapt_model(model, image_size=m.image_size, patchify_kernel=m.patchify_kernel,
                          temporal_embedding=m.temporal_embedding)
    if changed or processor.layout != model.config.layout:
        processor = KangarooProcessor(processor.tokenizer, model.config.layout, chat_template=processor.chat_template,
                                      aspect=processor.aspect, image_mean=processor.image_mean,
                                      image_std=processor.image_std)
    model.to(DTYPES[m.dtype])
    return model, processor
