"""Named builders: the only place where configurations become `KangarooForCausalLM` modules.

- `kangaroo_8b_config` / `kangaroo_8b`: the paper's shape (an EVA-CLIP-L-shaped ViT at 448/14 and
  a Llama-3-8B-shaped LLM); build it on the meta device to plan without weights.
- `kangaroo_tiny_config` / `kangaroo_tiny`: small enough for CPU tests and the bundled model.
- `kangaroo_from_components`: a model assembled from a local CLIP/SigLIP vision tower and a local
  causal LM checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedTokenizerBase,
)

from .configuration import KangarooConfig
from .layout import FRAME_SEPARATOR, VIDEO_END, VIDEO_PAD, VIDEO_START
from .modeling import KangarooForCausalLM
from .tokenizer import add_video_tokens, build_byte_tokenizer


def _video_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    ids = tokenizer.convert_tokens_to_ids([VIDEO_START, VIDEO_END, FRAME_SEPARATOR, VIDEO_PAD])
    return dict(zip(("video_start_token_id", "video_end_token_id", "frame_token_id", "video_pad_token_id"),
                    ids, strict=True))


def kangaroo_8b_config(vocab_size: int = 128256 + 8, projector_type: str = "linear", **overrides: Any) -> KangarooConfig:
    """The paper's model: EVA-CLIP-L-shaped ViT (24 layers, 1024 wide, patch 14, 448 px) and a
    Llama-3-8B-shaped LLM (32 layers, 4096 wide, GQA 32/8 heads, 14336 MLP, RoPE theta 500000),
    with a context long enough for 160 frames (22K tokens). ``vocab_size`` covers Llama-3's 128256
    tokens plus the video tokens."""
    vision = dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                  num_attention_heads=16, image_size=448, patch_size=14, hidden_act="gelu",
                  attn_implementation="sdpa")
    text = dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=8, vocab_size=vocab_size, rms_norm_eps=1e-5,
                max_position_embeddings=32768, rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
                bos_token_id=128000, eos_token_id=128009, attn_implementation="sdpa")
    ids = dict(video_start_token_id=vocab_size - 4, video_end_token_id=vocab_size - 3,
               frame_token_id=vocab_size - 2, video_pad_token_id=vocab_size - 1)
    return KangarooConfig(vision_config=vision, text_config=text, projector_type=projector_type,
                          ccam_num_queries=1024, ccam_num_heads=16, **{**ids, **overrides})


def kangaroo_8b(device: str | torch.device = "meta", **overrides: Any) -> KangarooForCausalLM:
    """The 8B model with random (or, on ``meta``, no) weights: for planning and for loading."""
    with torch.device(device):
        return KangarooForCausalLM(kangaroo_8b_config(**overrides))


def kangaroo_tiny_config(
    tokenizer: PreTrainedTokenizerBase | None = None, projector_type: str = "linear", **overrides: Any
) -> KangarooConfig:
    """A few-hundred-thousand-parameter Kangaroo: 112 px frames (64 features, 16 tokens per frame
    pair), a 2-layer ViT and a 4-layer LLM, sized for CPU tests and for the bundled model."""
    tokenizer = tokenizer or build_byte_tokenizer()
    vision = dict(model_type="clip_vision_model", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, image_size=112, patch_size=14, attn_implementation="sdpa")
    text = dict(model_type="llama", hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                max_position_embeddings=32768, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                attn_implementation="sdpa")
    return KangarooConfig(vision_config=vision, text_config=text, projector_type=projector_type,
                          ccam_num_queries=32, ccam_num_heads=4, **{**_video_token_ids(tokenizer), **overrides})


def kangaroo_tiny(
    tokenizer: PreTrainedTokenizerBase | None = None, projector_type: str = "linear", seed: int = 0, **overrides: Any
) -> KangarooForCausalLM:
    """The tiny model with seeded random weights (the same seed gives the same weights)."""
    config = kangaroo_tiny_config(tokenizer, projector_type, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return KangarooForCausalLM(config)


def kangaroo_from_components(
    vision_dir: str | os.PathLike[str],
    llm_dir: str | os.PathLike[str],
    projector_type: str = "linear",
    **overrides: Any,
) -> tuple[KangarooForCausalLM, PreTrainedTokenizerBase]:
    """Assemble a Kangaroo model from local checkpoints: a CLIP or SigLIP vision tower (a full
    CLIP/SigLIP checkpoint works too: its vision half is used) and a transformers causal LM with
    its tokenizer. The video tokens are added to the tokenizer and the LLM's embeddings grow to
    match; the patchify module and projector start fresh. Returns ``(model, tokenizer)``."""
    vision_config = AutoConfig.from_pretrained(vision_dir)
    vision_config = getattr(vision_config, "vision_config", vision_config)  # full CLIP -> vision half
    vision_config._attn_implementation = "sdpa"
    tokenizer = AutoTokenizer.from_pretrained(llm_dir)
    add_video_tokens(tokenizer)
    llm = AutoModelForCausalLM.from_pretrained(llm_dir, attn_implementation="sdpa")
    llm.resize_token_embeddings(len(tokenizer))
    config = KangarooConfig(vision_config=vision_config.to_dict(), text_config=llm.config.to_dict(),
                            projector_type=projector_type, **{**_video_token_ids(tokenizer), **overrides})
    model = KangarooForCausalLM(config)
    tower = AutoModel.from_pretrained(vision_dir)
    if hasattr(tower, "text_model"):  # a full CLIP/SigLIP model: keep its vision half
        tower = _vision_half(tower)
    model.vision_tower.load_state_dict(tower.state_dict())
    model.language_model.load_state_dict(llm.state_dict())
    return model, tokenizer


def _vision_half(model: torch.nn.Module) -> torch.nn.Module:
    """The vision tower inside a full CLIP/SigLIP model, wrapped like a standalone vision model."""
    standalone = AutoModel.from_config(model.config.vision_config)
    standalone.load_state_dict(model.vision_model.state_dict())  # same parameter names in transformers 5
    return standalone
