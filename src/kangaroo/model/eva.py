"""EVA02-CLIP vision tower: the released Kangaroo model's ViT (EVA02-CLIP-L/14 at 448 px).

The math follows the EVA-CLIP reference (``baaivision/EVA``, ``EVA-CLIP/rei/eva_clip/
eva_vit_model.py`` and ``rope.py``) with the options the EVA02-CLIP-L configs set (``rope``,
``intp_freq``, ``naiveswiglu``, ``subln``, ``qkv_bias``, LayerNorm eps 1e-6, no layer scale).
For an input ``(B, 3, S, S)`` with ``P = (S / patch)^2`` patches:

    x = [cls; conv(pixels)] + pos_embed                       (B, 1 + P, C)
    per block:  x = x + Attn(norm1(x));  x = x + SwiGLU(norm2(x))
    Attn:   q = x Wq + q_bias,  k = x Wk (no bias),  v = x Wv + v_bias      (B, H, 1 + P, hd)
            q, k of every token but the class token rotated by the 2D RoPE
            out = proj(inner_attn_ln(softmax(q k^T / sqrt(hd)) v))
    SwiGLU: w3(ffn_ln(silu(w1 x) * w2 x))

2D RoPE (``VisionRotaryEmbeddingFast(dim=hd / 2, pt_seq_len=16, ft_seq_len=S / patch)``): the
grid's row and column positions, interpolated to the pre-training grid (``arange(n) / n * 16``),
each take ``hd / 2`` channels (row first), with ``hd / 4`` frequencies ``theta^(-2i / (hd / 2))``
repeated for the two members of each interleaved pair; a pair ``(x1, x2)`` rotates as
``(x1 cos - x2 sin, x2 cos + x1 sin)`` (GPT-J style). `eva_rope_tables` regenerates the tables the
reference stores as ``freqs_cos`` / ``freqs_sin`` buffers.

The outputs are the transformers ones: ``hidden_states`` = the embeddings then every block's
output, ``last_hidden_state`` the last block's (EVA-CLIP's final ``norm`` and ``head`` pool the
class token for CLIP and are not part of this tower). Module names inside a block are the
reference's, so ``blocks.{i}.X`` of an EVA-CLIP checkpoint is ``encoder.layers.{i}.X`` here.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput


class EvaVisionConfig(PreTrainedConfig):
    """Configuration of `EvaVisionModel`; the defaults are EVA02-CLIP-L/14 at 448 px."""

    model_type = "eva02_vision_model"
    base_config_key = "vision_config"

    hidden_size: int = 1024  # width C
    intermediate_size: int = 2730  # SwiGLU hidden size: int(1024 * 2.6667)
    num_hidden_layers: int = 24
    num_attention_heads: int = 16  # head width 64
    image_size: int = 448
    patch_size: int = 14
    num_channels: int = 3
    layer_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_pretrain_grid: int = 16  # pt_hw_seq_len: the grid side RoPE positions are scaled to (224 / 14)
    rope_interpolate: bool = True  # intp_freq: scale the grid's positions to rope_pretrain_grid

    def __post_init__(self, **kwargs) -> None:
        super().__post_init__(**kwargs)
        if self.hidden_size % self.num_attention_heads or (self.hidden_size // self.num_attention_heads) % 4:
            raise ValueError(
                f"hidden_size {self.hidden_size} must split into {self.num_attention_heads} heads whose size "
                "is a multiple of 4 (2D RoPE rotates pairs along two axes)"
            )
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")


def eva_rope_tables(head_dim: int, grid: int, pretrain_grid: int = 16, theta: float = 10000.0,
                    interpolate: bool = True) -> tuple[Tensor, Tensor]:
    """``(cos, sin)``, each ``(grid * grid, head_dim)`` float32: the 2D RoPE tables of EVA-CLIP's
    ``VisionRotaryEmbeddingFast(dim=head_dim // 2, pt_seq_len=pretrain_grid, ft_seq_len=grid if
    interpolate else None)``, row-major over the patch grid (see the module docstring).

    Raises ``ValueError`` when ``interpolate`` is off and ``grid`` differs from ``pretrain_grid``.
    """
    if not interpolate and grid != pretrain_grid:
        raise ValueError(f"RoPE without interpolation needs a {pretrain_grid}x{pretrain_grid} patch grid, got {grid}")
    axis_dim = head_dim // 2
    freqs = 1.0 / (theta ** (torch.arange(0, axis_dim, 2)[: axis_dim // 2].float() / axis_dim))  # (hd/4,)
    positions = torch.arange(grid) / grid * pretrain_grid  # (n,): interpolated to the pre-training grid
    angles = (positions[:, None] * freqs[None, :]).repeat_interleave(2, dim=-1)  # (n, hd/2): pairs share one
    rows = angles[:, None, :].expand(grid, grid, axis_dim)  # (n, n, hd/2): the row's angle
    cols = angles[None, :, :].expand(grid, grid, axis_dim)  # (n, n, hd/2): the column's angle
    table = torch.cat([rows, cols], dim=-1).reshape(grid * grid, head_dim)  # (n*n, hd)
    return table.cos(), table.sin()


def rotate_pairs(x: Tensor) -> Tensor:
    """``(..., d)`` -> ``(..., d)``: each interleaved pair ``(x1, x2)`` becomes ``(-x2, x1)``."""
    pairs = x.unflatten(-1, (-1, 2))  # (..., d/2, 2)
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)  # (..., d)


class EvaVisionEmbeddings(nn.Module):
    """Patch embedding (conv, with bias), class token and absolute position table."""

    def __init__(self, config: EvaVisionConfig) -> None:
        super().__init__()
        dim = config.hidden_size
        self.image_size = config.image_size
        self.patch_size = config.patch_size
        self.num_patches = (config.image_size // config.patch_size) ** 2
        self.patch_embedding = nn.Conv2d(config.num_channels, dim, config.patch_size, stride=config.patch_size)
        self.class_embedding = nn.Parameter(torch.zeros(dim))
        self.position_embedding = nn.Embedding(self.num_patches + 1, dim)
        self.register_buffer("position_ids", torch.arange(self.num_patches + 1).expand((1, -1)), persistent=False)

    def forward(self, pixel_values: Tensor) -> Tensor:
        """``(B, 3, S, S)`` -> ``(B, 1 + P, C)``."""
        patches = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)  # (B, P, C)
        cls = self.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)  # (B, 1, C)
        return torch.cat([cls, patches], dim=1) + self.position_embedding(self.position_ids)  # (B, 1 + P, C)


class EvaAttention(nn.Module):
    """EVA02 attention: split q/k/v without bias inside the Linear, separate q and v biases, 2D
    RoPE on all but the class token, a LayerNorm before the output projection."""

    def __init__(self, config: EvaVisionConfig) -> None:
        super().__init__()
        dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.inner_attn_ln = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """``x`` ``(B, 1 + P, C)``, ``cos``/``sin`` ``(P, hd)`` -> ``(B, 1 + P, C)``."""
        batch, length, dim = x.shape
        q = F.linear(x, self.q_proj.weight, self.q_bias).view(batch, length, self.num_heads, -1).transpose(1, 2)
        k = F.linear(x, self.k_proj.weight).view(batch, length, self.num_heads, -1).transpose(1, 2)
        v = F.linear(x, self.v_proj.weight, self.v_bias).view(batch, length, self.num_heads, -1).transpose(1, 2)
        # (B, H, 1 + P, hd) each; rotate the patches' queries and keys, not the class token's
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        q = torch.cat([q[:, :, :1], q[:, :, 1:] * cos + rotate_pairs(q[:, :, 1:]) * sin], dim=2)
        k = torch.cat([k[:, :, :1], k[:, :, 1:] * cos + rotate_pairs(k[:, :, 1:]) * sin], dim=2)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, H, 1 + P, hd)
        y = y.transpose(1, 2).reshape(batch, length, dim)  # (B, 1 + P, C)
        return self.proj(self.inner_attn_ln(y))


class EvaSwiGLU(nn.Module):
    """``w3(ffn_ln(silu(w1 x) * w2 x))``."""

    def __init__(self, config: EvaVisionConfig) -> None:
        super().__init__()
        dim, hidden = config.hidden_size, config.intermediate_size
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(dim, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.w3(self.ffn_ln(F.silu(self.w1(x)) * self.w2(x)))


class EvaEncoderLayer(nn.Module):
    """A pre-norm block: ``x + Attn(norm1(x))``, then ``x + SwiGLU(norm2(x))``."""

    def __init__(self, config: EvaVisionConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = EvaAttention(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = EvaSwiGLU(config)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class EvaEncoder(nn.Module):
    def __init__(self, config: EvaVisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EvaEncoderLayer(config) for _ in range(config.num_hidden_layers))


class EvaVisionModel(PreTrainedModel):
    """The EVA02-CLIP vision transformer (module docstring) as a transformers vision model:
    ``model(pixel_values, output_hidden_states=True).hidden_states``."""

    config: EvaVisionConfig
    config_class = EvaVisionConfig
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules: ClassVar[list[str]] = ["EvaEncoderLayer"]
    _supports_sdpa = True
    supports_gradient_checkpointing = False

    def __init__(self, config: EvaVisionConfig) -> None:
        super().__init__(config)
        self.embeddings = EvaVisionEmbeddings(config)
        self.encoder = EvaEncoder(config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Truncated normal (std 0.02) for linear weights and the class/position tables, as EVA-CLIP."""
        if isinstance(module, nn.Linear | nn.Conv2d):
            init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, EvaVisionEmbeddings):
            init.trunc_normal_(module.class_embedding, std=0.02)
            init.trunc_normal_(module.position_embedding.weight, std=0.02)
            init.copy_(module.position_ids, torch.arange(module.num_patches + 1).expand((1, -1)))
        elif isinstance(module, EvaAttention):
            init.zeros_(module.q_bias)
            init.zeros_(module.v_bias)

    def rope_tables(self, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        """The 2D RoPE ``(cos, sin)`` tables, ``(P, hd)`` each, for the current patch grid."""
        config = self.config
        grid = math.isqrt(self.embeddings.num_patches)
        cos, sin = eva_rope_tables(config.hidden_size // config.num_attention_heads, grid,
                                   config.rope_pretrain_grid, config.rope_theta, config.rope_interpolate)
        return cos.to(device), sin.to(device)

    def forward(
        self,
        pixel_values: Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        """``(B, 3, S, S)`` -> ``last_hidden_state`` ``(B, 1 + P, C)`` and, when asked, every
        layer's output (``hidden_states``, ``num_hidden_layers + 1`` of them)."""
        x = self.embeddings(pixel_values.to(self.embeddings.patch_embedding.weight.dtype))  # (B, 1 + P, C)
        cos, sin = self.rope_tables(x.device)  # (P, hd) each
        hidden = [x]
        for layer in self.encoder.layers:
            x = layer(x, cos, sin)
            hidden.append(x)
        return BaseModelOutput(last_hidden_state=x, hidden_states=tuple(hidden) if output_hidden_states else None)


AutoConfig.register(EvaVisionConfig.model_type, EvaVisionConfig, exist_ok=True)
AutoModel.register(EvaVisionConfig, EvaVisionModel, exist_ok=True)
