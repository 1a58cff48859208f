"""Plan a run before loading weights: tokens, context, parameters, memory and prefill FLOPs.

`plan(config, num_frames)` answers, for one video of ``T`` frames at ``S x S`` pixels and a text
budget of ``text_tokens``, what the model will see and cost in one generation prefill. Symbols:

    F = batch * T frames          P = (S / patch)^2 ViT patches per frame
    n = ViT sequence per frame (P, plus a class token for CLIP)
    C, Iv, Lv = ViT width, MLP size, layers      c = min(F, 64) frames per ViT chunk
    L = context length = layout.prompt_tokens(T) + text_tokens
    D, I, Ll = LLM width, MLP size, layers       H, Hkv, hd = query heads, KV heads, head size
    Nv = visual tokens per video (layout.visual_tokens(T))     b = dtype bytes

Parameters are counted on a model built on the meta device (no memory), once per config.

Memory (bytes):

    weights     = params * b
    kv_cache    = 2 * Ll * Hkv * hd * L * b * batch             (keys and values of every layer)
    vision_act  = (2 F n C + (Lv + 1) c n C + c n (C + 2 Iv)) * b
    llm_act     = batch * (L (3 D + max(3 I, 4 H hd)) + Nv D) * b
    activations = max(vision_act, llm_act)
    total       = weights + kv_cache + activations

Assumptions behind the activation terms (inference, no autograd graph, SDPA or flash attention,
which never materialises the ``L x L`` scores, a causal mask that is not materialised either):

- ``vision_act``: `KangarooForCausalLM.encode_frames` runs the tower on chunks of ``c`` frames with
  every hidden state kept (``(Lv + 1) c n C``) plus one MLP's transients (normed input, fc1 output
  and its activation: ``c n (C + 2 Iv)``); the features of all frames exist at most twice over
  (the chunks' selected layers, their concatenation, the TPE sum: bounded by ``2 F n C``).
- ``llm_act``: the caller's input embeddings (``L D``) and video features (``Nv D``) stay alive
  while each decoder layer holds its residual and normed input (``2 L D``) plus the larger of the
  MLP step (``act(gate)``, ``up`` and their product: ``3 L I``) and the attention step (queries,
  rotated queries, SDPA output and its re-layout: ``4 L H hd``). Logits are computed at the last
  position only (``generate`` passes ``logits_to_keep=1``): ``V`` floats, not counted.
- The two phases run one after the other, so their peaks do not add. Patchify and projector
  tensors are smaller than the ViT phase's and are not counted. The sum with the KV cache is an
  upper bound: the cache fills during the LLM phase.

Prefill FLOPs (a multiply-add is 2 FLOPs; norms, activations and softmax are not counted):

    vision    = 2 (N_vit - N_pos) F n + 4 Lv F n^2 C      (all frames; the position table is a lookup)
    projector = batch * (2 N_patchify Nin + 2 N_proj Nv)  (linear; Nin = groups * tokens_per_group)
              = batch * (2 N_patchify Nin + 2 (N_proj - N_kv) Q + 2 N_kv Nin + 4 Q^2 C + 4 Q Nin C)  (ccam)
    llm       = batch * (2 (N_llm - N_embed - N_head) L + 2 N_head + 2 Ll L^2 H hd)

where ``N_kv = 2 (C^2 + C)`` are the CCAM cross-attention key/value weights, applied to every
input token, ``N_head`` the output-embedding weights (applied at the last position only) and
``2 Ll L^2 H hd`` the causal half of ``QK^T`` and ``AV`` (``4 Ll L^2 H hd`` without the mask).

`max_frames_for_memory` searches the largest ``T`` whose ``total`` fits a budget; it looks at
memory only, not at the LLM's ``max_position_embeddings`` (the plan reports both).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .builders import UnknownModelError, find_model_builder, model_names
from .configuration import KangarooConfig
from .modeling import KangarooForCausalLM

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
VISION_CHUNK = 64  # frames per vision-tower call: KangarooForCausalLM.encode_frames's default chunk


@dataclass(frozen=True)
class ParameterCounts:
    """Parameter counts of one configuration, by part, and the sizes the FLOP formulas need."""

    vision: int  # vision tower
    patchify: int  # 3D depthwise patchify
    projector: int  # linear or ccam projector
    llm: int  # language model, embeddings and output head included (tied ones once)
    vision_positions: int  # rows of the ViT's position table: n, the ViT sequence per frame
    vision_position_params: int  # weights of that table (a lookup, no FLOPs)
    llm_embedding: int  # input embedding weights
    llm_head: int  # output embedding weights (the same tensor as the input one when tied)
    llm_head_tied: bool


@dataclass(frozen=True)
class Plan:
    """What one prefill of ``batch_size`` videos of ``num_frames`` frames sees and costs (module docstring)."""

    num_frames: int
    image_size: int
    text_tokens: int
    batch_size: int
    dtype_bytes: int
    features_per_frame: int  # ViT patches per frame (class token excluded)
    visual_tokens_per_frame: float  # after patchify (linear: tokens_per_group / temporal_patch)
    frame_groups: int  # groups of temporal_patch frames
    visual_tokens: int  # <|video_pad|> tokens of one video
    video_prompt_tokens: int  # visual tokens plus video markers and frame separators
    context_length: int  # video_prompt_tokens + text_tokens
    max_position_embeddings: int  # the LLM's configured context limit
    params_vision: int
    params_projector: int  # patchify + projector
    params_llm: int
    params_total: int
    weight_bytes: int
    kv_cache_bytes: int
    vision_activation_bytes: int
    llm_activation_bytes: int
    activation_bytes: int  # max of the two phases
    total_bytes: int  # weights + KV cache + activations
    flops_vision: int
    flops_projector: int
    flops_llm: int
    flops_total: int

    def to_dict(self) -> dict[str, int | float]:
        """The plan as a flat JSON-ready dict."""
        return asdict(self)


_COUNTS: dict[str, ParameterCounts] = {}


def parameter_counts(config: KangarooConfig) -> ParameterCounts:
    """Count parameters on a meta-device model (no weight memory); cached per configuration."""
    key = config.to_json_string(use_diff=False)
    if key not in _COUNTS:
        with torch.device("meta"):
            model = KangarooForCausalLM(config)
        positions = [p for name, p in model.vision_tower.named_parameters() if "position_embedding" in name]
        embedding = model.language_model.get_input_embeddings().weight
        head = model.language_model.get_output_embeddings().weight
        _COUNTS[key] = ParameterCounts(
            vision=_numel(model.vision_tower),
            patchify=_numel(model.patchify),
            projector=_numel(model.projector),
            llm=_numel(model.language_model),
            vision_positions=positions[0].shape[0] if positions else config.layout.features_per_frame,
            vision_position_params=sum(p.numel() for p in positions),
            llm_embedding=embedding.numel(),
            llm_head=head.numel(),
            llm_head_tied=head is embedding,
        )
    return _COUNTS[key]


def _numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def with_image_size(config: KangarooConfig, image_size: int | None) -> KangarooConfig:
    """``config`` with the vision tower at ``image_size`` pixels (a copy; ``None`` keeps it).

    Raises:
        ValueError: ``image_size`` is not a multiple of ``patch_size * spatial_patch``.
    """
    if image_size is None or image_size == config.vision_config.image_size:
        return config
    if image_size < 1:
        raise ValueError(f"image size must be positive, got {image_size}")
    patch = config.vision_config.patch_size
    if image_size % patch:
        raise ValueError(f"image size {image_size} is not a multiple of the ViT patch size {patch}")
    resized = copy.deepcopy(config)
    resized.vision_config.image_size = image_size
    resized.layout  # noqa: B018 - validates the size against the patch and the patchify kernel
    return resized


def plan(
    config: KangarooConfig,
    num_frames: int,
    image_size: int | None = None,
    text_tokens: int = 512,
    dtype_bytes: int = 2,
    batch_size: int = 1,
) -> Plan:
    """Tokens, context, parameters, memory and prefill FLOPs for ``batch_size`` videos of
    ``num_frames`` frames at ``image_size`` (default: the vision config's) plus ``text_tokens``
    text tokens each, with weights and activations of ``dtype_bytes`` bytes (module docstring).

    Raises:
        ValueError: a count is below 1 (``text_tokens`` below 0), or ``image_size`` does not fit
            the patch size and patchify kernel.
    """
    if num_frames < 1 or batch_size < 1 or dtype_bytes < 1 or text_tokens < 0:
        raise ValueError(
            f"need num_frames, batch_size, dtype_bytes >= 1 and text_tokens >= 0, got {num_frames}, "
            f"{batch_size}, {dtype_bytes}, {text_tokens}"
        )
    config = with_image_size(config, image_size)
    layout, vision, text = config.layout, config.vision_config, config.text_config
    counts = parameter_counts(config)

    groups = layout.num_groups(num_frames)
    visual = layout.visual_tokens(num_frames)
    video_prompt = layout.prompt_tokens(num_frames)
    context = video_prompt + text_tokens
    per_frame = (layout.num_queries / num_frames if layout.projector_type == "ccam"
                 else layout.tokens_per_group / layout.temporal_patch)

    # LLM shapes
    width, mlp, layers = text.hidden_size, text.intermediate_size, text.num_hidden_layers
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or width // heads
    # ViT shapes
    frames, seq = batch_size * num_frames, counts.vision_positions
    v_width, v_mlp, v_layers = vision.hidden_size, vision.intermediate_size, vision.num_hidden_layers
    chunk = min(frames, VISION_CHUNK)

    params_total = counts.vision + counts.patchify + counts.projector + counts.llm
    weight_bytes = params_total * dtype_bytes
    kv_cache_bytes = 2 * layers * kv_heads * head_dim * context * dtype_bytes * batch_size
    vision_act = (2 * frames * seq * v_width + (v_layers + 1) * chunk * seq * v_width
                  + chunk * seq * (v_width + 2 * v_mlp)) * dtype_bytes
    llm_act = batch_size * (context * (3 * width + max(3 * mlp, 4 * heads * head_dim))
                            + visual * width) * dtype_bytes
    activations = max(vision_act, llm_act)

    flops_vision = (2 * (counts.vision - counts.vision_position_params) * frames * seq
                    + 4 * v_layers * frames * seq**2 * v_width)
    projector_inputs = groups * layout.tokens_per_group
    flops_projector = 2 * counts.patchify * projector_inputs
    if layout.projector_type == "ccam":
        queries, kv_weights = layout.num_queries, 2 * (v_width**2 + v_width)
        flops_projector += (2 * (counts.projector - kv_weights) * queries + 2 * kv_weights * projector_inputs
                            + 4 * queries**2 * v_width + 4 * queries * projector_inputs * v_width)
    else:
        flops_projector += 2 * counts.projector * visual
    flops_projector *= batch_size
    body = counts.llm - counts.llm_embedding - (0 if counts.llm_head_tied else counts.llm_head)
    flops_llm = batch_size * (2 * body * context + 2 * counts.llm_head + 2 * layers * context**2 * heads * head_dim)

    return Plan(
        num_frames=num_frames,
        image_size=layout.image_size,
        text_tokens=text_tokens,
        batch_size=batch_size,
        dtype_bytes=dtype_bytes,
        features_per_frame=layout.features_per_frame,
        visual_tokens_per_frame=per_frame,
        frame_groups=groups,
        visual_tokens=visual,
        video_prompt_tokens=video_prompt,
        context_length=context,
        max_position_embeddings=text.max_position_embeddings,
        params_vision=counts.vision,
        params_projector=counts.patchify + counts.projector,
        params_llm=counts.llm,
        params_total=params_total,
        weight_bytes=weight_bytes,
        kv_cache_bytes=kv_cache_bytes,
        vision_activation_bytes=vision_act,
        llm_activation_bytes=llm_act,
        activation_bytes=activations,
        total_bytes=weight_bytes + kv_cache_bytes + activations,
        flops_vision=flops_vision,
        flops_projector=flops_projector,
        flops_llm=flops_llm,
        flops_total=flops_vision + flops_projector + flops_llm,
    )


def max_frames_for_memory(
    config: KangarooConfig,
    memory_bytes: float,
    image_size: int | None = None,
    text_tokens: int = 512,
    dtype_bytes: int = 2,
    batch_size: int = 1,
) -> int:
    """The largest frame count whose `plan` ``total_bytes`` fits in ``memory_bytes``; 0 when even
    one frame does not fit. Memory grows with the frame count, so a doubling then binary search
    finds it in a few dozen plans."""

    if not math.isfinite(memory_bytes):
        raise ValueError(f"the memory budget must be finite, got {memory_bytes}")

    def fits(frames: int) -> bool:
        return plan(config, frames, image_size, text_tokens, dtype_bytes, batch_size).total_bytes <= memory_bytes

    if not fits(1):
        return 0
    low, high = 1, 2  # fits(low) holds; find a high that does not
    while fits(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def resolve_model_config(name_or_dir: str) -> KangarooConfig:
    """The configuration of a named model (`kangaroo.model.builders.MODEL_BUILDERS`: ``kangaroo_8b``
    / ``8b``, ``kangaroo_tiny`` / ``tiny``) or of a saved model directory (`load_config`).

    Raises:
        ValueError: neither a known name nor a directory with a kangaroo ``config.json``
            (`UnknownModelError`, `ModelLoadError`).
    """
    from .pretrained import load_config

    builder = find_model_builder(name_or_dir)
    if builder is not None:
        return builder.config()
    if Path(name_or_dir).expanduser().is_dir():
        return load_config(name_or_dir)
    raise UnknownModelError(
        f"unknown model {name_or_dir!r}: use one of {model_names()} or a local model directory"
    )
