"""Convert a released checkpoint into a kangaroo model folder (`kangaroo convert`).

`convert_checkpoint(src, out, source="kangaroo")` reads the released Kangaroo checkpoint (one
``pytorch_model.bin`` or safetensors shards, with its ``config.json`` and tokenizer), maps every
key onto `KangarooForCausalLM` (the `kangaroo_8b` architecture: the EVA02 tower of
`kangaroo.model.eva`, a Llama LLM), and writes a folder that `load_pretrained` and plain
transformers (`kangaroo.model.hub_code`) load: safetensors shards and their index, ``config.json``,
the tokenizer with the video tokens, ``processor_config.json`` (the source's preprocessing) and
``conversion.json`` (the source files' sha256, the key map, what was dropped or added, and which
settings were assumed because no public file states them).

How the released Kangaroo keys are recognised (`plan_kangaroo`):

- the vision tower: the prefix before ``patch_embed.proj.weight``; EVA-CLIP's names below it
  (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.{i}.*``). Its stored RoPE tables
  (``rope.freqs_cos`` / ``freqs_sin``, also under every block's ``attn.rope``) are checked equal to
  the regenerated ones and dropped; EVA-CLIP's pooling ``norm`` / ``head`` / ``fc_norm`` are
  dropped (the LLM reads hidden states).
- the projector: ``mm_projector.{i}.*`` (``mlp{N}x_gelu``: one layer is linear, more are an MLP).
- the patchify conv: the one 5-D weight ``(C, 1, kt, kh, kw)`` outside the tower, whatever its
  name (the name is not public), and the bias beside it.
- the LLM: ``model.*`` and ``lm_head.weight`` (a transformers ``LlamaForCausalLM``).

Anything else is an error that lists every unmapped source key and every unfilled target
(`ConversionError`), so a user with a variant checkpoint can report it. The tokenizer gets the
video tokens (`add_video_tokens`); their new embedding and output rows are the mean of the
existing rows. Nothing is read twice into memory: ``.bin`` files are memory-mapped
(`kangaroo.model.weight_files`) and shards are written one at a time.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .configuration import KangarooConfig, video_token_id_fields
from .eva import eva_rope_tables
from .weight_files import WeightFiles, open_weights, sha256_of

SOURCES = ("kangaroo",)  # what `convert_checkpoint(source=...)` reads
SHARD_BYTES = 2 * 1024**3  # the largest safetensors shard written
ROPE_SCALINGS = ("linear", "dynamic", "yarn")  # transformers rope types `--rope-scaling` may name


class ConversionError(ValueError):
    """A checkpoint that does not map onto the target: lists the unmapped source keys, the target
    parameters left unfilled and the shapes that differ."""


@dataclass
class Target:
    """One tensor of the converted model: where it comes from and how it is built."""

    source: str  # the source key (or a description, for tensors the converter makes)
    shape: tuple[int, ...]  # the shape it will have
    build: Callable[[], torch.Tensor]  # makes the tensor (reads the source then, not before)


@dataclass
class ConversionPlan:
    """Everything `convert_checkpoint` writes, decided before any weight is read."""

    config: KangarooConfig
    tokenizer: Any
    processor: dict[str, Any]  # KangarooProcessor keyword arguments besides tokenizer and layout
    targets: dict[str, Target]
    dropped: dict[str, str]  # source key -> why it is not needed
    assumed: dict[str, Any]  # settings no source file states, with the value used
    source_files: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- reading


def _copy(weights: WeightFiles, key: str, shape: tuple[int, ...] | None = None) -> Target:
    """A target that is the source tensor ``key`` (viewed as ``shape`` when given)."""
    source_shape, _ = weights.info(key)
    if shape is not None and math.prod(shape) != math.prod(source_shape):
        shape = source_shape  # reported as a shape mismatch by the check
    final = tuple(shape or source_shape)
    return Target(key, final, lambda: weights.tensor(key).reshape(final))


def _grown_rows(weights: WeightFiles, key: str, rows: int) -> Target:
    """The source matrix ``key`` with rows appended up to ``rows``, each the mean of the source rows."""
    (old, dim), _ = weights.info(key)

    def build() -> torch.Tensor:
        table = weights.tensor(key)
        extra = table.float().mean(dim=0, keepdim=True).to(table.dtype).expand(rows - old, dim)  # (new, D)
        return torch.cat([table, extra])  # (rows, D)

    return Target(f"{key} + {rows - old} mean rows", (rows, dim), build)


def _tower_prefix(weights: WeightFiles) -> str:
    keys = [k for k in weights if k.endswith("patch_embed.proj.weight")]
    if len(keys) != 1:
        raise ConversionError(
            f"expected one EVA-CLIP vision tower (a key ending in 'patch_embed.proj.weight'), found {len(keys)}: {keys}"
        )
    return keys[0].removesuffix("patch_embed.proj.weight")


def eva_clip_targets(weights: WeightFiles, prefix: str, config: Any, dropped: dict[str, str]) -> dict[str, Target]:
    """Targets under ``vision_tower.`` for the EVA-CLIP tower whose keys start with ``prefix``
    (config: the target `EvaVisionConfig`). Stored RoPE tables are compared with the regenerated
    ones (`ConversionError` when they differ) and recorded in ``dropped`` with the pooling head."""
    targets = {
        "embeddings.patch_embedding.weight": _copy(weights, prefix + "patch_embed.proj.weight"),
        "embeddings.patch_embedding.bias": _copy(weights, prefix + "patch_embed.proj.bias"),
        "embeddings.class_embedding": _copy(weights, prefix + "cls_token", (config.hidden_size,)),
    }
    rows = (config.image_size // config.patch_size) ** 2 + 1
    targets["embeddings.position_embedding.weight"] = _copy(weights, prefix + "pos_embed", (rows, config.hidden_size))
    block = re.compile(re.escape(prefix) + r"blocks\.(\d+)\.(.+)")
    grid = config.image_size // config.patch_size
    tables = None
    for key in weights:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if rest.endswith(("rope.freqs_cos", "rope.freqs_sin")):
            if tables is None:
                tables = eva_rope_tables(config.hidden_size // config.num_attention_heads, grid,
                                         config.rope_pretrain_grid, config.rope_theta, config.rope_interpolate)
            stored = weights.tensor(key)
            regenerated = tables[0] if rest.endswith("cos") else tables[1]
            if stored.shape != regenerated.shape or not torch.allclose(
                    stored.float(), regenerated.to(stored.dtype).float(), atol=1e-6, rtol=0):
                raise ConversionError(
                    f"{key}: the stored RoPE table {tuple(stored.shape)} differs from the one regenerated for "
                    f"{config.num_attention_heads} heads, a {grid}x{grid} grid and pre-training grid "
                    f"{config.rope_pretrain_grid}: a different head count or RoPE setting (pass --vision-heads?)"
                )
            dropped[key] = "RoPE table: equal to the one regenerated from the config"
        elif rest.split(".")[0] in ("norm", "head", "fc_norm"):
            dropped[key] = "EVA-CLIP's pooling head (CLIP embedding); the LLM reads the tower's hidden states"
        elif match := block.fullmatch(key):
            targets[f"encoder.layers.{match[1]}.{match[2]}"] = _copy(weights, key)
    return {f"vision_tower.{name}": target for name, target in targets.items()}


# ---------------------------------------------------------------------------------------- Kangaroo

_LLAMA_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                 "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling",
                 "rope_parameters", "attention_bias", "mlp_bias", "bos_token_id", "eos_token_id", "pad_token_id")


def rope_scaling_parameters(text_config: Any, scaling: str | None, factor: float | None) -> None:
    """Set RoPE scaling on an LLM config in place: ``scaling`` is one of `ROPE_SCALINGS` (None
    leaves it off, so answers match the release) and ``factor`` how much longer the context gets;
    ``max_position_embeddings`` grows by ``factor``. Raises ``ValueError`` for unknown names or a
    factor that is not above 1."""
    if scaling is None:
        return
    if scaling not in ROPE_SCALINGS:
        raise ValueError(f"rope scaling must be one of {', '.join(ROPE_SCALINGS)}, got {scaling!r}")
    if factor is None or not factor > 1:
        raise ValueError(f"rope scaling {scaling!r} needs a factor above 1, got {factor}")
    original = text_config.max_position_embeddings
    theta = text_config.rope_parameters["rope_theta"]
    parameters = {"rope_type": scaling, "factor": float(factor), "rope_theta": theta}
    if scaling == "yarn":
        parameters["original_max_position_embeddings"] = original
    text_config.rope_parameters = parameters
    text_config.max_position_embeddings = int(original * factor)


def plan_kangaroo(
    src: Path,
    weights: WeightFiles,
    *,
    vision_heads: int | None = None,
    vision_feature_layer: int | None = None,
    rope_scaling: str | None = None,
    rope_factor: float | None = None,
) -> ConversionPlan:
    """The conversion of a released Kangaroo checkpoint (module docstring). ``vision_heads``
    (default: head width 64) and ``vision_feature_layer`` (default: the source config's
    ``mm_vision_select_layer``, else -2) are settings the weights may not state (the head count
    is read from the stored RoPE table when there is one)."""
    from transformers import AutoTokenizer, LlamaConfig

    from .eva import EvaVisionConfig
    from .tokenizer import add_video_tokens, llama3_chat_template

    source_config = _read_json(src / "config.json")
    assumed: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    prefix = _tower_prefix(weights)

    # vision tower: shapes from the weights
    width, _, patch, _ = weights.info(prefix + "patch_embed.proj.weight")[0]
    positions = math.prod(weights.info(prefix + "pos_embed")[0]) // width
    depth = 1 + max(int(m[1]) for k in weights if (m := re.fullmatch(re.escape(prefix) + r"blocks\.(\d+)\..+", k)))
    mlp = weights.info(prefix + "blocks.0.mlp.w1.weight")[0][0]
    rope_table = prefix + "rope.freqs_cos"
    if vision_heads is None and rope_table in weights:  # the stored RoPE table is (P, head width)
        vision_heads = width // weights.info(rope_table)[0][-1]
    elif vision_heads is None:
        vision_heads = width // 64
        assumed["vision_heads"] = f"{vision_heads} (EVA02-CLIP head width 64; no RoPE table stored)"
    vision = EvaVisionConfig(hidden_size=width, intermediate_size=mlp, num_hidden_layers=depth,
                             num_attention_heads=vision_heads, patch_size=patch,
                             image_size=math.isqrt(positions - 1) * patch, layer_norm_eps=1e-6)
    targets = eva_clip_targets(weights, prefix, vision, dropped)

    # projector: mm_projector.{i} linear layers (mlp{N}x_gelu), or one plain linear mm_projector
    layers = sorted((k.removesuffix(".weight") for k in weights
                     if re.search(r"(?:^|\.)mm_projector(?:\.\d+)?\.weight$", k)),
                    key=lambda k: int(k.rsplit(".", 1)[1]) if k[-1].isdigit() else -1)
    if len(layers) <= 1:
        projector_type, names = "linear", ["projector.linear"]
    else:
        projector_type, names = "mlp", [f"projector.layers.{2 * i}" for i in range(len(layers))]
    for name, key in zip(names, layers, strict=False):
        targets[f"{name}.weight"] = _copy(weights, key + ".weight")
        if key + ".bias" in weights:
            targets[f"{name}.bias"] = _copy(weights, key + ".bias")

    # patchify: the one depthwise 3D conv outside the tower
    convs = [k for k, (shape, _) in weights.items()
             if not k.startswith(prefix) and len(shape) == 5 and shape[0] == width and shape[1] == 1]
    kernel = (2, 2, 2)
    if len(convs) == 1:
        kernel = tuple(weights.info(convs[0])[0][2:])
        targets["patchify.conv.weight"] = _copy(weights, convs[0])
        if convs[0].removesuffix("weight") + "bias" in weights:
            targets["patchify.conv.bias"] = _copy(weights, convs[0].removesuffix("weight") + "bias")

    # tokenizer: the source's, plus the video tokens
    try:
        tokenizer = AutoTokenizer.from_pretrained(src, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{src}: cannot load the tokenizer ({exc})") from None
    ids = add_video_tokens(tokenizer)
    tokenizer.chat_template = llama3_chat_template()
    assumed["chat_template"] = "Llama-3 (the released template is not public)"

    # LLM: transformers LlamaForCausalLM keys
    tied = "lm_head.weight" not in weights
    text = LlamaConfig(**{k: source_config[k] for k in _LLAMA_FIELDS if k in source_config},
                       tie_word_embeddings=tied)
    rope_scaling_parameters(text, rope_scaling, rope_factor)
    embed = "model.embed_tokens.weight"
    source_vocab = weights.info(embed)[0][0] if embed in weights else 0
    text.vocab_size = max(source_vocab, len(tokenizer))
    used = {target.source for target in targets.values()}
    for key in weights:
        if key.startswith(prefix) or key in used or re.search(r"(?:^|\.)mm_projector[.]", key):
            continue
        if key.startswith("model.") and key.endswith("rotary_emb.inv_freq"):
            dropped[key] = "RoPE frequencies: recomputed from the config"
        elif key in (embed, "lm_head.weight") and text.vocab_size > source_vocab:
            name = "language_model.model.embed_tokens.weight" if key == embed else "language_model.lm_head.weight"
            targets[name] = _grown_rows(weights, key, text.vocab_size)
        elif key.startswith("model.") or key == "lm_head.weight":
            targets[f"language_model.{key}"] = _copy(weights, key)

    if vision_feature_layer is None:
        vision_feature_layer = int(source_config.get("mm_vision_select_layer", -2))
        if "mm_vision_select_layer" not in source_config:
            assumed["vision_feature_layer"] = "-2 (the source config does not say)"
    config = KangarooConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                            vision_feature_layer=vision_feature_layer, patchify_kernel=kernel,
                            projector_type=projector_type, projector_depth=max(len(layers), 2),
                            tie_word_embeddings=tied, **video_token_id_fields(ids))
    config.text_config._attn_implementation = "sdpa"
    processor = {"aspect": "crop", "image_mean": (0.48145466, 0.4578275, 0.40821073),
                 "image_std": (0.26862954, 0.26130258, 0.27577711)}
    assumed["preprocessing"] = "EVA-CLIP's: resize the short side (bicubic), centre crop, OpenAI CLIP mean/std"
    return ConversionPlan(config, tokenizer, processor, targets, dropped, assumed)


# ---------------------------------------------------------------------------------------- checking


def check_plan(plan: ConversionPlan, weights: WeightFiles) -> None:
    """Raise `ConversionError` unless every source key is used or dropped, every parameter and
    buffer of the target model is filled, and every shape matches, listing all problems at once."""
    from .modeling import KangarooForCausalLM

    with torch.device("meta"):
        model = KangarooForCausalLM(plan.config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if plan.config.tie_word_embeddings:
        expected.pop("language_model.lm_head.weight", None)
    used = {t.source.split(" + ")[0] for k, t in plan.targets.items() if k in expected} | set(plan.dropped)
    unmapped = [k for k in weights if k not in used]  # includes keys whose target does not exist
    missing = [k for k in expected if k not in plan.targets]
    wrong = [f"{k}: source {plan.targets[k].source} {plan.targets[k].shape}, target {expected[k]}"
             for k in plan.targets if k in expected and plan.targets[k].shape != expected[k]]
    problems = []
    if unmapped:
        problems.append(f"{len(unmapped)} source keys not mapped: {', '.join(unmapped)}")
    if missing:
        problems.append(f"{len(missing)} target parameters not filled: {', '.join(missing)}")
    if wrong:
        problems.append(f"{len(wrong)} shapes differ: {'; '.join(wrong)}")
    if problems:
        raise ConversionError("the checkpoint does not map onto the kangaroo model (please report this with "
                              "`kangaroo inspect` output):\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------------------------------- writing


def convert_checkpoint(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    source: str = "kangaroo",
    shard_bytes: int = SHARD_BYTES,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> Path:
    """Convert the checkpoint folder ``src`` (``source``: one of `SOURCES`) into a kangaroo model
    folder ``out`` (written atomically) and return ``out``. ``options`` go to the source's planner
    (`plan_kangaroo`). Raises `ConversionError` (unmapped or missing keys, shapes),
    `kangaroo.model.weight_files.WeightFilesError` (unreadable files) or ``ValueError``."""
    from safetensors.torch import save_file

    from kangaroo.io import atomic_directory, atomic_write_json
    from kangaroo.processing import KangarooProcessor

    from .hub_code import AUTO_MAP, write_hub_code

    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: kangaroo converts {', '.join(SOURCES)}")
    src_path = Path(src).expanduser()
    if not src_path.is_dir():
        raise ConversionError(f"{src_path}: no such checkpoint folder")
    weights = open_weights(src_path)
    plan = plan_kangaroo(src_path, weights, **options)
    check_plan(plan, weights)
    note = progress or (lambda message: None)

    shards: list[list[str]] = [[]]
    size = 0
    for name, target in plan.targets.items():
        nbytes = math.prod(target.shape) * _itemsize(weights, target)
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes

    with atomic_directory(out) as tmp:
        weight_map = {}
        for index, names in enumerate(shards, start=1):
            file_name = f"model-{index:05d}-of-{len(shards):05d}.safetensors"
            note(f"writing {file_name} ({len(names)} tensors)")
            tensors = {name: plan.targets[name].build().contiguous() for name in names}
            save_file(tensors, tmp / file_name, metadata={"format": "pt"})
            del tensors
            weight_map.update(dict.fromkeys(names, file_name))
        atomic_write_json(tmp / "model.safetensors.index.json", {"metadata": {}, "weight_map": weight_map})
        plan.config.auto_map = dict(AUTO_MAP)
        plan.config.architectures = ["KangarooForCausalLM"]
        plan.config.dtype = _itemdtype(weights)
        plan.config.save_pretrained(tmp)
        write_hub_code(tmp)
        processor = KangarooProcessor(plan.tokenizer, plan.config.layout, **plan.processor)
        processor.save_pretrained(tmp)
        note("hashing the source files")
        atomic_write_json(tmp / "conversion.json", {
            "source": source,
            "source_files": [{"name": str(p.relative_to(src_path)), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
                             for p in weights.files],
            "key_map": {name: target.source for name, target in plan.targets.items()},
            "dropped": plan.dropped,
            "assumed": plan.assumed,
        })
    return Path(out)


def _itemsize(weights: WeightFiles, target: Target) -> int:
    key = target.source.split(" + ")[0]
    return getattr(torch, weights.info(key)[1]).itemsize if key in weights else 4


def _itemdtype(weights: WeightFiles) -> str:
    """The dtype most of the source's tensors have (``bfloat16`` for the released checkpoints)."""
    counts: dict[str, int] = {}
    for _, (shape, dtype) in weights.items():
        counts[dtype] = counts.get(dtype, 0) + math.prod(shape)
    return max(counts, key=counts.get)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConversionError(f"{path}: missing (a released checkpoint has its config.json)") from None
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{path}: unreadable ({exc})") from None
