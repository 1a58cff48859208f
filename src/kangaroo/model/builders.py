"""Named builders: the only place where configurations become `KangarooForCausalLM` modules.

As torchtune's ``_model_builders.py``: each architecture is a config function and a builder with
one signature, ``builder(tokenizer=None, *, projector_type="linear", seed=0, device=..., **overrides)``,
and `MODEL_BUILDERS` looks them up by name (`model_builder("kangaroo_tiny")`, aliases ``tiny``,
``8b``; an unknown name raises `UnknownModelError` listing the names).

- `kangaroo_8b_config` / `kangaroo_8b`: the paper's shape (the EVA02-CLIP-L/14 tower at 448 px,
  `kangaroo.model.eva`, and a Llama-3-8B-shaped LLM); built on the meta device by default, to plan
  without weights. `kangaroo convert` loads the released weights into this architecture.
- `kangaroo_tiny_config` / `kangaroo_tiny`: small enough for CPU tests (byte-level tokenizer).
- `kangaroo_mini_config` / `kangaroo_mini`: the bundled model's shape: the world's BPE tokenizer
  (`build_world_tokenizer`), a 128 px ViT with 16 px patches (the world's frames without padding
  waste), a 4-layer LLM; trained by ``recipes/bundled/``.
- `kangaroo_components_config` / `kangaroo_from_components`: a model assembled from a local
  CLIP/SigLIP vision tower and a local causal LM checkpoint with its tokenizer.

Video-token ids are read from the tokenizer (`kangaroo.model.tokenizer.video_token_ids`); a builder
without a tokenizer (``kangaroo_8b``) uses the ids `add_video_tokens` gives Llama-3's vocabulary.
Saved models load with `kangaroo.model.pretrained.load_pretrained`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from .configuration import KangarooConfig, video_token_id_fields
from .modeling import KangarooForCausalLM
from .tokenizer import add_video_tokens, appended_video_token_ids, build_byte_tokenizer, video_token_ids

LLAMA3_VOCAB_SIZE = 128256  # Llama-3's tokenizer: 128,000 BPE tokens + 256 reserved special tokens
LLAMA3_BOS, LLAMA3_EOT = 128000, 128009  # <|begin_of_text|>, <|eot_id|>


class UnknownModelError(ValueError):
    """A model name that is not in `MODEL_BUILDERS`."""


def _padded(vocab_size: int, multiple: int = 8) -> int:
    return math.ceil(vocab_size / multiple) * multiple


def kangaroo_8b_config(
    tokenizer: PreTrainedTokenizerBase | None = None, projector_type: str = "linear", **overrides: Any
) -> KangarooConfig:
    """The paper's model: the EVA02-CLIP-L/14 ViT (24 layers, 1024 wide, 16 heads, SwiGLU 2730,
    2D RoPE, patch 14, 448 px) and a
    Llama-3-8B-shaped LLM (32 layers, 4096 wide, GQA 32/8 heads, 14336 MLP, RoPE theta 500000),
    with a context long enough for 160 frames (22K tokens).

    ``tokenizer``: a Llama-3 tokenizer with the video tokens (`add_video_tokens`); its ids and
    size are used. Without one, the config describes Llama-3's 128,256 tokens plus the video tokens
    appended by `add_video_tokens` (ids 128256-128260), padded to 128,264 rows.
    """
    if tokenizer is None:
        ids, bos, eos = appended_video_token_ids(LLAMA3_VOCAB_SIZE), LLAMA3_BOS, LLAMA3_EOT
        vocab_size = _padded(LLAMA3_VOCAB_SIZE + len(ids))
    else:
        ids, vocab_size = video_token_ids(tokenizer), _padded(len(tokenizer))
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    vision = dict(model_type="eva02_vision_model", hidden_size=1024, intermediate_size=2730, num_hidden_layers=24,
                  num_attention_heads=16, image_size=448, patch_size=14, layer_norm_eps=1e-6)
    text = dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=8, vocab_size=vocab_size, rms_norm_eps=1e-5,
                max_position_embeddings=32768, rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
                bos_token_id=bos, eos_token_id=eos, attn_implementation="sdpa")
    return KangarooConfig(vision_config=vision, text_config=text, projector_type=projector_type,
                          ccam_num_queries=1024, ccam_num_heads=16, **{**video_token_id_fields(ids), **overrides})


def kangaroo_tiny_config(
    tokenizer: PreTrainedTokenizerBase | None = None, projector_type: str = "linear", **overrides: Any
) -> KangarooConfig:
    """A few-hundred-thousand-parameter Kangaroo: 112 px frames (64 features, 16 tokens per frame
    pair), a 2-layer ViT and a 4-layer LLM, sized for CPU tests and for the bundled model.
    ``tokenizer`` defaults to `build_byte_tokenizer()`; the vocabulary is exactly its size."""
    tokenizer = build_byte_tokenizer() if tokenizer is None else tokenizer
    vision = dict(model_type="clip_vision_model", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, image_size=112, patch_size=14, attn_implementation="sdpa")
    text = dict(model_type="llama", hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                max_position_embeddings=32768, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                attn_implementation="sdpa")
    ids = video_token_ids(tokenizer)
    return KangarooConfig(vision_config=vision, text_config=text, projector_type=projector_type,
                          ccam_num_queries=32, ccam_num_heads=4, **{**video_token_id_fields(ids), **overrides})


def _seeded(config: KangarooConfig, seed: int, device: str | torch.device) -> KangarooForCausalLM:
    """``KangarooForCausalLM(config)`` with weights drawn from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        return KangarooForCausalLM(config)


def kangaroo_8b(
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    projector_type: str = "linear",
    seed: int = 0,
    device: str | torch.device = "meta",
    **overrides: Any,
) -> KangarooForCausalLM:
    """The 8B model with random (or, on ``meta``, no) weights: for planning and for loading."""
    return _seeded(kangaroo_8b_config(tokenizer, projector_type, **overrides), seed, device)


def kangaroo_tiny(
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    projector_type: str = "linear",
    seed: int = 0,
    device: str | torch.device = "cpu",
    **overrides: Any,
) -> KangarooForCausalLM:
    """The tiny model with seeded random weights (the same seed gives the same weights)."""
    return _seeded(kangaroo_tiny_config(tokenizer, projector_type, **overrides), seed, device)


WORLD_TOKENIZER_DIR = Path(__file__).with_name("world_tokenizer")  # shipped with the package


def build_world_tokenizer() -> PreTrainedTokenizerBase:
    """The bundled model's tokenizer: a 2,048-token byte-level BPE trained on the synthetic world's
    English and Chinese text (`kangaroo.synth.corpus.world_texts`, see `train_world_tokenizer`), with
    the byte tokenizer's special tokens, ids and chat template."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(WORLD_TOKENIZER_DIR, local_files_only=True)


def train_world_tokenizer() -> PreTrainedTokenizerBase:
    """Retrain the shipped world tokenizer from the world's text (deterministic; about 10 s)."""
    from kangaroo.synth.corpus import world_texts

    from .tokenizer_training import train_bpe_tokenizer

    texts = world_texts(WORLD_TOKENIZER_TASKS, lettered_choices=True)  # its replies of that time
    return train_bpe_tokenizer(texts, vocab_size=WORLD_VOCAB_SIZE, min_frequency=2)


WORLD_VOCAB_SIZE = 2048
# the families whose text the shipped tokenizer was trained on (fixed, so that it stays reproducible
# when families are added; "look" came later and uses only words these already have)
WORLD_TOKENIZER_TASKS = ("caption_short", "caption_detailed", "mcq_direction", "mcq_count", "mcq_order",
                         "mcq_colour_change", "mcq_appear", "mcq_end", "open_qa", "multi_round", "grounding",
                         "image_caption")


def kangaroo_mini_config(
    tokenizer: PreTrainedTokenizerBase | None = None, projector_type: str = "mlp", **overrides: Any
) -> KangarooConfig:
    """The bundled model (about 2M parameters): 128 px frames in 16 px patches (8 x 8 features, 16
    tokens per frame pair), a 3-layer x 96 ViT, an MLP projector and a 4-layer x 128 LLM over the
    world tokenizer (`build_world_tokenizer`, the default)."""
    tokenizer = build_world_tokenizer() if tokenizer is None else tokenizer
    vision = dict(model_type="clip_vision_model", hidden_size=96, intermediate_size=192, num_hidden_layers=3,
                  num_attention_heads=4, image_size=128, patch_size=16, attn_implementation="sdpa")
    text = dict(model_type="llama", hidden_size=128, intermediate_size=512, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, vocab_size=_padded(len(tokenizer)),
                max_position_embeddings=32768, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                attn_implementation="sdpa")
    ids = video_token_ids(tokenizer)
    return KangarooConfig(vision_config=vision, text_config=text, projector_type=projector_type,
                          ccam_num_queries=32, ccam_num_heads=4, **{**video_token_id_fields(ids), **overrides})


def kangaroo_mini(
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    projector_type: str = "mlp",
    seed: int = 0,
    device: str | torch.device = "cpu",
    **overrides: Any,
) -> KangarooForCausalLM:
    """The bundled model's architecture with seeded random weights."""
    return _seeded(kangaroo_mini_config(tokenizer, projector_type, **overrides), seed, device)


@dataclass(frozen=True)
class ModelBuilder:
    """One named architecture of the registry.

    build:     ``(tokenizer=None, *, projector_type, seed, device, **overrides) -> KangarooForCausalLM``.
    config:    ``(tokenizer=None, projector_type, **overrides) -> KangarooConfig`` (no weights).
    tokenizer: makes the tokenizer the architecture is built for; None when the user brings it
               (``kangaroo_8b``: a Llama-3 tokenizer), so its random weights are for planning only.
    """

    name: str
    build: Callable[..., KangarooForCausalLM]
    config: Callable[..., KangarooConfig]
    tokenizer: Callable[[], PreTrainedTokenizerBase] | None


MODEL_BUILDERS: dict[str, ModelBuilder] = {
    "kangaroo_tiny": ModelBuilder("kangaroo_tiny", kangaroo_tiny, kangaroo_tiny_config, build_byte_tokenizer),
    "kangaroo_mini": ModelBuilder("kangaroo_mini", kangaroo_mini, kangaroo_mini_config, build_world_tokenizer),
    "kangaroo_8b": ModelBuilder("kangaroo_8b", kangaroo_8b, kangaroo_8b_config, None),
}
MODEL_ALIASES = {"tiny": "kangaroo_tiny", "mini": "kangaroo_mini", "8b": "kangaroo_8b"}


def model_names() -> str:
    """The registry's names for messages: ``kangaroo_tiny (tiny), kangaroo_mini (mini), kangaroo_8b (8b)``."""
    aliases = {name: alias for alias, name in MODEL_ALIASES.items()}
    return ", ".join(f"{n} ({aliases[n]})" if n in aliases else n for n in MODEL_BUILDERS)


def find_model_builder(name: str) -> ModelBuilder | None:
    """The builder registered as ``name`` or its alias (any case), or None."""
    key = name.lower()
    return MODEL_BUILDERS.get(MODEL_ALIASES.get(key, key))


def model_builder(name: str) -> ModelBuilder:
    """The builder registered as ``name`` (or its alias). Raises `UnknownModelError` listing the names."""
    builder = find_model_builder(name)
    if builder is None:
        raise UnknownModelError(f"unknown model {name!r}: the named models are {model_names()}")
    return builder


def kangaroo_components_config(
    vision_dir: str | os.PathLike[str],
    llm_dir: str | os.PathLike[str],
    projector_type: str = "linear",
    extra_tokens: tuple[str, ...] = (),
    **overrides: Any,
) -> tuple[KangarooConfig, PreTrainedTokenizerBase]:
    """``(config, tokenizer)`` of a model assembled from local checkpoints (see
    `kangaroo_from_components`), without loading weights: the LLM's tokenizer gets
    ``extra_tokens`` (special, as Video-CCAM adds ``<time>`` and ``</time>``) and then the video
    tokens (`add_video_tokens`), and the config takes their ids and a vocabulary that holds them."""
    from transformers import AutoConfig, AutoTokenizer

    vision_config = AutoConfig.from_pretrained(vision_dir, local_files_only=True)
    vision_config = getattr(vision_config, "vision_config", vision_config)  # full CLIP -> vision half
    vision_config._attn_implementation = "sdpa"
    text_config = AutoConfig.from_pretrained(llm_dir, local_files_only=True)
    text_config._attn_implementation = "sdpa"
    tokenizer = AutoTokenizer.from_pretrained(llm_dir, local_files_only=True)
    if extra_tokens:
        tokenizer.add_tokens(list(extra_tokens), special_tokens=True)
    ids = add_video_tokens(tokenizer)
    text_config.vocab_size = max(text_config.vocab_size, len(tokenizer))  # keep a padded table padded
    config = KangarooConfig(vision_config=vision_config.to_dict(), text_config=text_config.to_dict(),
                            projector_type=projector_type, **{**video_token_id_fields(ids), **overrides})
    return config, tokenizer


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
    from transformers import AutoModel, AutoModelForCausalLM

    config, tokenizer = kangaroo_components_config(vision_dir, llm_dir, projector_type, **overrides)
    llm = AutoModelForCausalLM.from_pretrained(llm_dir, local_files_only=True, attn_implementation="sdpa")
    llm.resize_token_embeddings(config.text_config.vocab_size)
    model = KangarooForCausalLM(config)
    tower = AutoModel.from_pretrained(vision_dir, local_files_only=True)
    if hasattr(tower, "text_model"):  # a full CLIP/SigLIP model: keep its vision half
        tower = _vision_half(tower)
    model.vision_tower.load_state_dict(tower.state_dict())
    model.language_model.load_state_dict(llm.state_dict())
    return model, tokenizer


def _vision_half(model: torch.nn.Module) -> torch.nn.Module:
    """The vision tower inside a full CLIP/SigLIP model, wrapped like a standalone vision model."""
    from transformers import AutoModel

    standalone = AutoModel.from_config(model.config.vision_config)
    standalone.load_state_dict(model.vision_model.state_dict())  # same parameter names in transformers 5
    return standalone
