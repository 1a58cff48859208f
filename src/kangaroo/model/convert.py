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

How a Video-CCAM release is recognised (``source="video-ccam"``: `find_video_ccam`,
`plan_video_ccam`; docs/checkpoints.md): its ``projector/``,
``llm_adapter/`` and ``visual_encoder_adapter/`` folders, the base LLM and SigLIP in their own
folders, all read as one `WeightFiles` with ``llm/``, ``vision/``, ``projector/``, ... prefixes
(`combine_weights`). The LLM and SigLIP keep their transformers names; the projector's names are an
explicit, assumed table (`VIDEO_CCAM_PROJECTOR_KEYS`); LoRA adapters are merged or kept (`Adapter`).
A single-folder Video-CCAM release (v1.2: one ``config.json`` with ``model_type`` ``videoccam``, merged
weights) is recognised and refused (`UnsupportedCheckpointError`, listing its keys by module): the
names of its merged weights are not public, so no mapping is known.

Anything else is an error that lists every unmapped source key and every unfilled target
(`ConversionError`), so a user with a variant checkpoint can report it. The tokenizer gets the
video tokens (`add_video_tokens`); their new embedding and output rows are the mean of the
existing rows (Kangaroo) or zeros (Video-CCAM). Nothing is read twice into memory: ``.bin`` files are memory-mapped
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
from .weight_files import WeightFiles, WeightFilesError, combine_weights, open_weights, sha256_of

SOURCES = ("kangaroo", "video-ccam")  # what `convert_checkpoint(source=...)` reads
SHARD_BYTES = 2 * 1024**3  # the largest safetensors shard written
ROPE_SCALINGS = ("linear", "dynamic", "yarn")  # transformers rope types `--rope-scaling` may name


class ConversionError(ValueError):
    """A checkpoint that does not map onto the target: lists the unmapped source keys, the target
    parameters left unfilled and the shapes that differ."""


class UnsupportedCheckpointError(ConversionError):
    """A checkpoint kangaroo recognises but cannot convert yet (a Video-CCAM v1.2 release): the
    message says why and lists its keys by module, for the user to report."""


@dataclass
class Target:
    """One tensor of the converted model: where it comes from and how it is built."""

    source: str  # the source key (or a description, for tensors the converter makes)
    shape: tuple[int, ...]  # the shape it will have
    build: Callable[[], torch.Tensor]  # makes the tensor (reads the source then, not before)
    reads: tuple[str, ...] | None = None  # the source keys it reads (None: just ``source``)

    def read_keys(self) -> tuple[str, ...]:
        return (self.source,) if self.reads is None else self.reads


@dataclass
class Adapter:
    """A PEFT LoRA adapter written beside the converted weights (``kangaroo convert`` without
    ``--merge-lora``): ``{folder}/adapter_config.json`` and ``adapter_model.safetensors``."""

    module: str  # the kangaroo module it adapts: "language_model" or "vision_tower"
    config: dict[str, Any]  # adapter_config.json
    targets: dict[str, Target]  # PEFT key (base_model.model.<module path>.lora_A.weight) -> tensor


@dataclass
class ConversionPlan:
    """Everything `convert_checkpoint` writes, decided before any weight is read."""

    config: KangarooConfig
    tokenizer: Any
    processor: dict[str, Any]  # KangarooProcessor keyword arguments besides tokenizer and layout
    targets: dict[str, Target]
    dropped: dict[str, str]  # source key -> why it is not needed
    assumed: dict[str, Any]  # settings no source file states, with the value used
    adapters: dict[str, Adapter] = field(default_factory=dict)  # PEFT adapters kept beside the weights


# ---------------------------------------------------------------------------------------- reading


def _copy(weights: WeightFiles, key: str, shape: tuple[int, ...] | None = None) -> Target:
    """A target that is the source tensor ``key`` (viewed as ``shape`` when given)."""
    source_shape, _ = weights.info(key)
    if shape is not None and math.prod(shape) != math.prod(source_shape):
        shape = source_shape  # reported as a shape mismatch by the check
    final = tuple(shape or source_shape)
    return Target(key, final, lambda: weights.tensor(key).reshape(final))


def _grown_rows(weights: WeightFiles, key: str, rows: int, fill: str = "mean") -> Target:
    """The source matrix ``key`` with rows appended up to ``rows``: each the mean of the source
    rows (``fill="mean"``) or zeros (``"zero"``)."""
    (old, dim), _ = weights.info(key)

    def build() -> torch.Tensor:
        table = weights.tensor(key)
        row = table.float().mean(dim=0, keepdim=True) if fill == "mean" else torch.zeros(1, dim)
        return torch.cat([table, row.to(table.dtype).expand(rows - old, dim)])  # (rows, D)

    return Target(f"{key} + {rows - old} {fill} rows", (rows, dim), build, reads=(key,))


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


def causal_lm_targets(weights: WeightFiles, keys: list[str], prefix: str, vocab_size: int, dropped: dict[str, str],
                      fill: str = "mean") -> dict[str, Target]:
    """Targets under ``language_model.`` for the transformers causal LM whose ``keys`` start with
    ``prefix`` (``model.*``, ``lm_head.weight``): copied, except stored RoPE frequencies (recorded
    in ``dropped``) and the embedding and output tables, grown to ``vocab_size`` rows (`_grown_rows`)."""
    targets = {}
    for key in keys:
        name = key[len(prefix):]
        if name.endswith("rotary_emb.inv_freq"):
            dropped[key] = "RoPE frequencies: recomputed from the config"
        elif name in ("model.embed_tokens.weight", "lm_head.weight") and vocab_size > weights.info(key)[0][0]:
            targets[f"language_model.{name}"] = _grown_rows(weights, key, vocab_size, fill)
        else:
            targets[f"language_model.{name}"] = _copy(weights, key)
    return targets


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
    llm_keys = [k for k in weights if not (k.startswith(prefix) or k in used or re.search(r"(?:^|\.)mm_projector[.]", k))
                and (k.startswith("model.") or k == "lm_head.weight")]
    targets.update(causal_lm_targets(weights, llm_keys, "", text.vocab_size, dropped))

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


# ---------------------------------------------------------------------------------------- Video-CCAM

TIME_TOKENS = ("<time>", "</time>")  # Video-CCAM's special tokens, added to the LLM's tokenizer before kangaroo's
CHAT_TEMPLATES = ("phi3", "chatml", "tokenizer")  # `--chat-template`: Video-CCAM's formats, or the LLM tokenizer's own

# Video-CCAM's projector keys (below the projector checkpoint's common prefix) -> kangaroo's
# `CCAMProjector`. ASSUMED: the projector's modeling file (``modeling_ccam_projector.py``, remote
# code) is not public text here; the names follow the field names of Video-CCAM-7B-v1.2's
# ``projector_config`` (Llama-style ``q_proj``/``o_proj``, ``gate_proj``/``up_proj``/``down_proj``).
# A checkpoint with other names fails listing them (`kangaroo inspect` shows them): extend this table.
VIDEO_CCAM_PROJECTOR_KEYS = {
    "query": "queries",  # (num_query, hidden_size) learned queries (a leading 1 is dropped)
    "self_attn_norm": "self_attn_norm",
    "self_attn.q_proj": "self_attn.query",
    "self_attn.k_proj": "self_attn.key",
    "self_attn.v_proj": "self_attn.value",
    "self_attn.o_proj": "self_attn.out",
    "cross_attn_norm": "cross_attn_norm",
    "visual_norm": "context_norm",  # LayerNorm over the visual tokens (cross_hidden_size)
    "cross_attn.q_proj": "cross_attn.query",
    "cross_attn.k_proj": "cross_attn.key",
    "cross_attn.v_proj": "cross_attn.value",
    "cross_attn.o_proj": "cross_attn.out",
    "mlp_norm": "mlp_norm",
    "mlp.gate_proj": "mlp.gate_proj",  # hidden_act swiglu
    "mlp.up_proj": "mlp.up_proj",
    "mlp.down_proj": "mlp.down_proj",
    "mlp.fc1": "mlp.0",  # hidden_act gelu
    "mlp.fc2": "mlp.2",
    "norm": "out_norm",
    "output_proj": "out_proj",  # hidden_size -> output_size (the LLM's width)
}
_LORA_KEY = re.compile(r"base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight")


@dataclass
class VideoCCAMSource:
    """Where the parts of a Video-CCAM checkpoint are (see `find_video_ccam`)."""

    src: Path  # the release folder: projector/ and the adapters
    llm: Path  # the base LLM (config.json, weights, tokenizer)
    vision: Path  # the SigLIP visual encoder (config.json, weights)
    adapters: dict[str, Path]  # "llm_adapter" / "vision_adapter" -> PEFT folder, when present


def find_video_ccam(src: Path, llm: str | os.PathLike[str] | None = None,
                    vision: str | os.PathLike[str] | None = None) -> VideoCCAMSource:
    """The parts of a Video-CCAM checkpoint, as its own loader finds them: ``src/projector``,
    ``src/llm_adapter`` and ``src/visual_encoder_adapter`` (optional), the LLM at ``llm``
    (default: ``src`` itself) and SigLIP at ``vision`` (default: ``src/visual_encoder``).
    Raises `ConversionError` naming what is missing."""
    src = Path(src)
    if not (src / "projector").is_dir():
        raise ConversionError(f"{src}: no projector/ folder (a Video-CCAM release holds projector/, llm_adapter/ "
                              "and visual_encoder_adapter/)")
    llm_dir = Path(llm).expanduser() if llm is not None else src
    vision_dir = Path(vision).expanduser() if vision is not None else src / "visual_encoder"
    if not (llm_dir / "config.json").is_file():
        raise ConversionError(f"{llm_dir}: no LLM (config.json) here; pass --llm with the base LLM's folder "
                              "(Video-CCAM-4B: Phi-3-mini-4k-instruct, 9B: Yi-1.5-9B-Chat, 14B: Phi-3-medium-4k-instruct)")
    if not (vision_dir / "config.json").is_file():
        raise ConversionError(f"{vision_dir}: no visual encoder (config.json) here; pass --vision with the SigLIP "
                              "folder (siglip-so400m-patch14-384)")
    adapters = {name: src / folder for name, folder in (("llm_adapter", "llm_adapter"),
                                                          ("vision_adapter", "visual_encoder_adapter"))
                if (src / folder / "adapter_config.json").is_file()}
    return VideoCCAMSource(src, llm_dir, vision_dir, adapters)


def video_ccam_v12_config(folder: Path) -> dict[str, Any] | None:
    """The ``config.json`` of ``folder`` when it is a single-folder Video-CCAM release (v1.2:
    ``model_type`` ``videoccam``, or a CCAM ``projector_config`` with ``num_query`` beside a
    ``text_config``), else None."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    projector = config.get("projector_config")
    ccam = isinstance(projector, dict) and "num_query" in projector and isinstance(config.get("text_config"), dict)
    return config if config.get("model_type") == "videoccam" or ccam else None


def video_ccam_v12_reason(config: dict[str, Any]) -> str:
    """Why a single-folder Video-CCAM release (`video_ccam_v12_config`) is not converted."""
    text = config.get("text_config") or {}
    llm = text.get("model_type") or ", ".join(text.get("architectures") or ["an unnamed LLM"])
    return (f"a single-folder Video-CCAM release (Video-CCAM v1.2: model_type {config.get('model_type')!r}, "
            f"LLM {llm}, a CCAM projector_config, merged weights), which kangaroo convert does not support yet: "
            "the names of its merged weights are not public, so no mapping is known. Please report its keys "
            "(kangaroo inspect SRC --keys --json) so that a converter can be written")


def refuse_video_ccam_v12(folder: Path) -> None:
    """Raise `UnsupportedCheckpointError` when ``folder`` is a single-folder Video-CCAM release
    (`video_ccam_v12_config`), listing its keys grouped by module as `kangaroo inspect` groups them
    (`kangaroo.model.inspection.describe_weights`; only the file headers are read)."""
    from .inspection import describe_weights

    config = video_ccam_v12_config(folder)
    if config is None:
        return
    try:
        modules = describe_weights(open_weights(folder))["modules"]
        listing = [f"{m['module']}: {m['tensors']} tensor{'s' * (m['tensors'] != 1)}"
                   + (f", {m['layers']} layers" if m["layers"] else "") for m in modules]
    except WeightFilesError as exc:
        listing = [f"(its weights cannot be listed: {exc})"]
    raise UnsupportedCheckpointError(f"{folder}: {video_ccam_v12_reason(config)}. Its keys, by module:\n  "
                                     + "\n  ".join(listing))


def open_video_ccam(source: VideoCCAMSource) -> WeightFiles:
    """All tensors of a Video-CCAM checkpoint as one `WeightFiles`, keys prefixed by their part:
    ``llm/``, ``vision/``, ``projector/``, ``llm_adapter/``, ``vision_adapter/``."""
    parts = {"llm": source.llm, "vision": source.vision, "projector": source.src / "projector", **source.adapters}
    return combine_weights({name: open_weights(path) for name, path in parts.items()})


def lora_scale(config: dict[str, Any]) -> float:
    """The factor of ``B @ A`` in a PEFT LoRA ``adapter_config.json``: ``lora_alpha / r``
    (``/ sqrt(r)`` with ``use_rslora``). Raises `ConversionError` for adapters it cannot merge
    (not LoRA, DoRA, per-module ranks or alphas, ``fan_in_fan_out``)."""
    unsupported = [name for name, bad in (
        ("peft_type", config.get("peft_type", "LORA") != "LORA"), ("use_dora", bool(config.get("use_dora"))),
        ("rank_pattern", bool(config.get("rank_pattern"))), ("alpha_pattern", bool(config.get("alpha_pattern"))),
        ("fan_in_fan_out", bool(config.get("fan_in_fan_out")))) if bad]
    if unsupported:
        raise ConversionError(f"the adapter uses {', '.join(unsupported)}, which kangaroo convert does not handle")
    r, alpha = int(config["r"]), float(config["lora_alpha"])
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def _lora_pairs(weights: WeightFiles, part: str) -> dict[str, tuple[str, str]]:
    """``{module path: (lora_A key, lora_B key)}`` of the adapter ``part`` (a `combine_weights` prefix)."""
    found: dict[str, dict[str, str]] = {}
    for key in weights:
        if key.startswith(part + "/") and (match := _LORA_KEY.fullmatch(key[len(part) + 1:])):
            found.setdefault(match[1], {})[match[2]] = key
    return {module: (pair["A"], pair["B"]) for module, pair in found.items() if set(pair) == {"A", "B"}}


def _merged(weights: WeightFiles, key: str, a: str, b: str, scale: float) -> Target:
    """``key`` + ``scale * B @ A`` (computed in float32, stored in the base weight's dtype)."""
    shape, _ = weights.info(key)

    def build() -> torch.Tensor:
        base = weights.tensor(key)
        delta = weights.tensor(b).float() @ weights.tensor(a).float() * scale  # (out, r) @ (r, in)
        return (base.float() + delta).to(base.dtype)

    return Target(f"{key} + {scale:g} * {b} @ {a}", tuple(shape), build, reads=(key, a, b))


def plan_video_ccam(
    source: VideoCCAMSource,
    weights: WeightFiles,
    *,
    merge_lora: bool = False,
    chat_template: str | None = None,
    vision_feature_layer: int = -2,
    rope_scaling: str | None = None,
    rope_factor: float | None = None,
) -> ConversionPlan:
    """The conversion of a Video-CCAM checkpoint (`open_video_ccam`'s weights) onto a ccam-projector
    `KangarooForCausalLM` without TPE, patchify or video markers (Video-CCAM puts its visual tokens
    bare where ``<video>`` was). ``merge_lora`` folds the adapters into the weights; otherwise they
    are kept as PEFT adapters (`ConversionPlan.adapters`). ``chat_template``: one of
    `CHAT_TEMPLATES` (default from the tokenizer: Phi-3's tokens -> ``phi3``, a Qwen2 LLM ->
    ``tokenizer``, ChatML tokens -> ``chatml``). ``vision_feature_layer``: Video-CCAM's
    ``visual_select_layer`` (-2)."""
    from .builders import kangaroo_components_config
    from .tokenizer import turn_chat_template

    assumed: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    targets: dict[str, Target] = {}
    adapters: dict[str, Adapter] = {}

    # projector: VIDEO_CCAM_PROJECTOR_KEYS, below whatever prefix the projector's checkpoint has
    projector_config = _read_json(source.src / "projector" / "config.json")
    projector: dict[str, Target] = {}
    for key in weights:
        if key.startswith("projector/") and (name := video_ccam_projector_name(key.removeprefix("projector/"))):
            projector[f"projector.{name}"] = _copy(weights, key)
    query_shape = weights.info(projector["projector.queries"].source)[0] if "projector.queries" in projector else ()
    num_queries, hidden = (query_shape[-2], query_shape[-1]) if len(query_shape) >= 2 else (1024, None)
    if "projector.queries" in projector:
        projector["projector.queries"] = _copy(weights, projector["projector.queries"].source, (num_queries, hidden))
    swiglu = "projector.mlp.gate_proj.weight" in projector
    fc = projector.get("projector.mlp.up_proj.weight" if swiglu else "projector.mlp.0.weight")
    intermediate = fc.shape[0] if fc is not None else None
    heads = projector_config.get("num_heads", projector_config.get("num_attention_heads"))
    if heads is None:
        heads = 16
        assumed["ccam_num_heads"] = "16 (the projector config does not say; Video-CCAM-7B-v1.2's value)"
    targets.update(projector)
    assumed["projector_keys"] = ("Video-CCAM's projector key names are not public; the converter assumed "
                                 "VIDEO_CCAM_PROJECTOR_KEYS (kangaroo/model/convert.py)")
    assumed["ccam_mask"] = "query i sees frames t < ceil((i + 1) * T / Q) (kangaroo's CCAM rule; the release's is not public)"
    assumed["ccam_block"] = "pre-LayerNorm: causal self-attention, masked cross-attention, MLP, LayerNorm + linear out"

    # tokenizer and config: the LLM's, with <time> </time> and kangaroo's video tokens appended
    try:
        config, tokenizer = kangaroo_components_config(
            source.vision, source.llm, "ccam", extra_tokens=TIME_TOKENS, use_temporal_embedding=False,
            patchify_kernel=(1, 1, 1), video_markers=False, vision_feature_layer=vision_feature_layer,
            ccam_num_queries=num_queries, ccam_num_heads=int(heads), ccam_hidden_size=hidden,
            ccam_mlp="swiglu" if swiglu else "gelu", ccam_intermediate_size=intermediate)
    except (OSError, ValueError) as exc:
        raise ConversionError(f"cannot build the model from {source.llm} and {source.vision}: {exc}") from None
    text = config.text_config
    config.tie_word_embeddings = bool(getattr(text, "tie_word_embeddings", False))
    rope_scaling_parameters(text, rope_scaling, rope_factor)
    style = chat_template or _chat_style(tokenizer, text.model_type)
    if style not in CHAT_TEMPLATES:
        raise ValueError(f"chat template must be one of {', '.join(CHAT_TEMPLATES)}, got {style!r}")
    if style != "tokenizer":
        bos = tokenizer.bos_token_id is not None and tokenizer("a")["input_ids"][:1] == [tokenizer.bos_token_id]
        tokenizer.chat_template = turn_chat_template(style, bos)
    elif tokenizer.chat_template is None:
        raise ConversionError(f"{source.llm}: the tokenizer has no chat template; pass --chat-template phi3 or chatml")
    if chat_template is None:
        assumed["chat_template"] = f"{style} (from the LLM's tokenizer)"

    # vision tower: SigLIP's vision_model.* (a transformers 5 SiglipVisionModel has no such level);
    # a full SigLIP's text tower is not used
    vision_lora = {path.removeprefix("vision_model."): pair for path, pair in _lora_pairs(weights, "vision_adapter").items()}
    llm_lora = _lora_pairs(weights, "llm_adapter")
    for key in weights:
        if not key.startswith("vision/"):
            continue
        rest = key.removeprefix("vision/")
        if rest.startswith("text_model.") or rest in ("logit_scale", "logit_bias"):
            dropped[key] = "SigLIP's text tower: Video-CCAM uses the visual encoder only"
        else:
            targets[f"vision_tower.{rest.removeprefix('vision_model.')}"] = _copy(weights, key)

    # patchify: none in Video-CCAM; kangaroo's (1, 1, 1) patchify is the identity
    width = config.vision_config.hidden_size
    targets["patchify.conv.weight"] = Target("identity (Video-CCAM has no patchify)", (width, 1, 1, 1, 1),
                                             lambda: torch.ones(width, 1, 1, 1, 1), reads=())
    targets["patchify.conv.bias"] = Target("identity (Video-CCAM has no patchify)", (width,),
                                           lambda: torch.zeros(width), reads=())

    # LLM: a transformers causal LM; rows for <time>, </time> and the video tokens are zeros
    llm_keys = [k for k in weights if k.startswith("llm/")]
    targets.update(causal_lm_targets(weights, llm_keys, "llm/", text.vocab_size, dropped, fill="zero"))
    if text.vocab_size > weights.info("llm/model.embed_tokens.weight")[0][0]:
        assumed["new_token_rows"] = ("zeros (Video-CCAM zeroes its new input rows; its output rows are drawn at "
                                     "random at every load, so their logits cannot match)")

    # LoRA adapters: merged into the targets, or kept as PEFT adapters
    for name, module, pairs in (("llm_adapter", "language_model", llm_lora),
                                ("vision_adapter", "vision_tower", vision_lora)):
        if name not in source.adapters:
            continue
        adapter_config = _read_json(source.adapters[name] / "adapter_config.json")
        scale = lora_scale(adapter_config)
        adapter_targets: dict[str, Target] = {}
        for path, (a, b) in pairs.items():
            base = f"{module}.{path}.weight"
            if merge_lora and base in targets:
                if targets[base].reads is not None:
                    raise ConversionError(f"cannot merge the LoRA of {path} into {targets[base].source}")
                targets[base] = _merged(weights, targets[base].source, a, b, scale)
            elif not merge_lora:
                adapter_targets[f"base_model.model.{path}.lora_A.weight"] = _copy(weights, a)
                adapter_targets[f"base_model.model.{path}.lora_B.weight"] = _copy(weights, b)
        if not merge_lora:
            kept = {k: v for k, v in adapter_config.items() if k not in ("base_model_name_or_path", "revision")}
            adapters[name] = Adapter(module, {**kept, "inference_mode": True}, adapter_targets)

    size = config.vision_config.image_size
    preprocessing = _read_json_if(source.vision / "preprocessor_config.json")
    mean = tuple(preprocessing.get("image_mean", (0.5, 0.5, 0.5)))
    std = tuple(preprocessing.get("image_std", (0.5, 0.5, 0.5)))
    from kangaroo.video.sampling import FrameSampling

    processor = {"aspect": "stretch", "image_mean": mean, "image_std": std,
                 "sampling": FrameSampling(num_frames=32)}
    assumed["preprocessing"] = (f"SigLIP's: resize to {size}x{size} (no crop), mean {mean}, std {std}; "
                                "32 frames uniformly (Video-CCAM's README), at kangaroo's uniform times")
    return ConversionPlan(config, tokenizer, processor, targets, dropped, assumed, adapters)


def video_ccam_projector_name(key: str) -> str | None:
    """kangaroo's name (below ``projector.``) for a Video-CCAM projector key, or None: the key's
    module path, after dropping leading components, is looked up in `VIDEO_CCAM_PROJECTOR_KEYS`."""
    parts = key.split(".")
    for start in range(len(parts)):
        rest = ".".join(parts[start:])
        if rest in VIDEO_CCAM_PROJECTOR_KEYS:  # a bare parameter (the queries)
            return VIDEO_CCAM_PROJECTOR_KEYS[rest]
        module, _, leaf = rest.rpartition(".")
        if module in VIDEO_CCAM_PROJECTOR_KEYS:
            return f"{VIDEO_CCAM_PROJECTOR_KEYS[module]}.{leaf}"
    return None


def _chat_style(tokenizer: Any, model_type: str) -> str:
    vocabulary = tokenizer.get_vocab()
    if "<|user|>" in vocabulary and "<|end|>" in vocabulary:
        return "phi3"
    if model_type == "qwen2" and tokenizer.chat_template is not None:
        return "tokenizer"
    if "<|im_start|>" in vocabulary:
        return "chatml"
    raise ConversionError("cannot tell the chat format from the LLM's tokenizer; pass --chat-template "
                          f"({', '.join(CHAT_TEMPLATES)})")


def _adapter_problems(adapter: Adapter, expected: dict[str, tuple[int, ...]]) -> list[str]:
    """What is wrong with a kept adapter: modules the model lacks, ranks that do not fit the weights."""
    problems = []
    for key, target in adapter.targets.items():
        match = _LORA_KEY.fullmatch(key)
        base = expected.get(f"{adapter.module}.{match[1]}.weight") if match else None
        if base is None:
            problems.append(f"{key}: no such layer in {adapter.module}")
        elif target.shape[1 if match[2] == "A" else 0] != base[1 if match[2] == "A" else 0]:
            problems.append(f"{key}: {target.shape} does not fit the weight {base}")
    return problems


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
    used = {r for k, t in plan.targets.items() if k in expected for r in t.read_keys()} | set(plan.dropped)
    used |= {r for adapter in plan.adapters.values() for t in adapter.targets.values() for r in t.read_keys()}
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
    for name, adapter in plan.adapters.items():
        problems += [f"{name}: {p}" for p in _adapter_problems(adapter, expected)]
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
    (`plan_kangaroo`; for ``video-ccam``, ``llm`` and ``vision`` go to `find_video_ccam`, the rest
    to `plan_video_ccam`). Raises `ConversionError` (unmapped or missing keys, shapes;
    `UnsupportedCheckpointError` for a Video-CCAM v1.2 folder, whatever ``source``),
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
    refuse_video_ccam_v12(src_path)
    if source == "video-ccam":
        parts = find_video_ccam(src_path, options.pop("llm", None), options.pop("vision", None))
        weights = open_video_ccam(parts)
        plan = plan_video_ccam(parts, weights, **options)
    else:
        weights = open_weights(src_path)
        plan = plan_kangaroo(src_path, weights, **options)
    check_plan(plan, weights)
    dtype = _itemdtype(weights)
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
            tensors = {name: _built(plan.targets[name], dtype) for name in names}
            save_file(tensors, tmp / file_name, metadata={"format": "pt"})
            del tensors
            weight_map.update(dict.fromkeys(names, file_name))
        atomic_write_json(tmp / "model.safetensors.index.json", {"metadata": {}, "weight_map": weight_map})
        for folder, adapter in plan.adapters.items():
            note(f"writing {folder}/ ({len(adapter.targets)} tensors)")
            (tmp / folder).mkdir()
            save_file({key: _built(target, dtype) for key, target in adapter.targets.items()},
                      tmp / folder / "adapter_model.safetensors", metadata={"format": "pt"})
            atomic_write_json(tmp / folder / "adapter_config.json", adapter.config)
        plan.config.auto_map = dict(AUTO_MAP)
        plan.config.architectures = ["KangarooForCausalLM"]
        plan.config.dtype = dtype
        plan.config.save_pretrained(tmp)
        write_hub_code(tmp)
        processor = KangarooProcessor(plan.tokenizer, plan.config.layout, **plan.processor)
        processor.save_pretrained(tmp)
        note("hashing the source files")
        atomic_write_json(tmp / "conversion.json", {
            "source": source,
            "source_files": [{"name": _file_name(p, src_path), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
                             for p in weights.files],
            "key_map": {name: target.source for name, target in plan.targets.items()},
            "adapters": {folder: {"module": adapter.module, "key_map": {k: t.source for k, t in adapter.targets.items()}}
                         for folder, adapter in plan.adapters.items()},
            "dropped": plan.dropped,
            "assumed": plan.assumed,
        })
    return Path(out)


def _built(target: Target, dtype: str) -> torch.Tensor:
    """The target's tensor; a tensor made without reading the source gets the checkpoint's dtype."""
    tensor = target.build().contiguous()
    return tensor if target.read_keys() else tensor.to(getattr(torch, dtype))


def _file_name(path: Path, src: Path) -> str:
    """``path`` relative to the source folder, or absolute when outside it (a separate LLM)."""
    return str(path.relative_to(src)) if path.is_relative_to(src) else str(path.resolve())


def _itemsize(weights: WeightFiles, target: Target) -> int:
    keys = [k for k in target.read_keys() if k in weights]
    return getattr(torch, weights.info(keys[0])[1]).itemsize if keys else 4


def _itemdtype(weights: WeightFiles) -> str:
    """The dtype most of the source's tensors have (``bfloat16`` for the released checkpoints)."""
    counts: dict[str, int] = {}
    for _, (shape, dtype) in weights.items():
        counts[dtype] = counts.get(dtype, 0) + math.prod(shape)
    return max(counts, key=counts.get)


def _read_json_if(path: Path) -> dict[str, Any]:
    """``path``'s JSON, or ``{}`` when there is no such file."""
    return _read_json(path) if path.is_file() else {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConversionError(f"{path}: missing (a released checkpoint has its config.json)") from None
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{path}: unreadable ({exc})") from None
