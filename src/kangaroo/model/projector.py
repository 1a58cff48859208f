"""Projectors from vision features to the LLM's embedding space.

``LinearProjector`` is Kangaroo's (paper eq. 5): one linear layer applied to every visual token,
so a video keeps ``groups * tokens_per_group`` tokens.

``MLPProjector`` is LLaVA's ``mlp{N}x_gelu`` (the released Kangaroo checkpoint's ``mm_projector``
builder): ``N`` linear layers with a GELU between each pair, also applied to every visual token.

``CCAMProjector`` is Video-CCAM's causal cross-attention mask projector: ``Q = num_queries``
learned queries read the video's tokens through one pre-LayerNorm transformer block and a final
linear layer, so a video always becomes ``Q`` tokens, whatever its length:

    x = queries                                               (Q, hidden)
    x = x + SelfAttn(LN(x), mask = causal)                    query i sees queries j <= i
    x = x + CrossAttn(LN(x), LN(tokens), mask = visibility)   query i sees frame groups g < n_i
    x = x + MLP(LN(x))                                        GELU, or SwiGLU (Video-CCAM v1.2's config)
    out = Linear(LN(x))                                       (Q, out_dim)

Mask rule (the contract): for ``G`` frame groups, query ``i`` (0-based) sees group ``g`` iff

    g < n_i = ceil((i + 1) * G / Q)

so query 0 sees at least group 0, later queries see more of the video, and the last query sees
all ``G`` groups; ``n_i`` never decreases with ``i``. With the causal self-attention the property
holds end to end: changing group ``g`` leaves bit-identical the outputs of every query with
``n_i <= g``. ``ccam_visibility`` builds the ``(Q, G)`` table; each group's column is repeated
for its ``P`` tokens to mask the cross-attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LinearProjector(nn.Module):
    """One linear layer from vision features to LLM embeddings.

    Args:
        in_dim: vision feature size.
        out_dim: LLM hidden size.
        bias: whether the layer has a bias.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=bias)

    def forward(self, tokens: Tensor) -> Tensor:
        """Project ``(N, in_dim)`` visual tokens to ``(N, out_dim)``."""
        return self.linear(tokens)


class MLPProjector(nn.Module):
    """``depth`` linear layers with GELU between them (LLaVA's ``mlp{depth}x_gelu``).

    Args:
        in_dim: vision feature size.
        out_dim: LLM hidden size (also the size between the layers).
        depth: number of linear layers, at least 2 (one layer is `LinearProjector`).
    """

    def __init__(self, in_dim: int, out_dim: int, depth: int = 2) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"an MLP projector needs depth >= 2 (depth 1 is the linear projector), got {depth}")
        layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
        for _ in range(depth - 1):
            layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
        self.layers = nn.Sequential(*layers)

    def forward(self, tokens: Tensor) -> Tensor:
        """Project ``(N, in_dim)`` visual tokens to ``(N, out_dim)``."""
        return self.layers(tokens)


def ccam_visibility(num_queries: int, num_groups: int) -> Tensor:
    """Which frame groups each query may attend to (the module docstring's mask rule).

    Returns:
        bool ``(num_queries, num_groups)``: entry ``[i, g]`` is ``g < ceil((i + 1) * G / Q)``.

    Raises:
        ValueError: ``num_queries`` or ``num_groups`` is below 1.
    """
    if num_queries < 1 or num_groups < 1:
        raise ValueError(f"need at least 1 query and 1 frame group, got {num_queries} and {num_groups}")
    rank = torch.arange(1, num_queries + 1)  # (Q,): i + 1
    visible = (rank * num_groups + num_queries - 1) // num_queries  # (Q,): ceil((i + 1) * G / Q)
    return torch.arange(num_groups)[None, :] < visible[:, None]  # (Q, G)


class MultiHeadAttention(nn.Module):
    """Multi-head attention from ``L`` queries of size ``dim`` to ``S`` context tokens.

    Args:
        dim: query (and output) size; a multiple of ``num_heads``.
        context_dim: size of the context tokens the keys and values are projected from.
        num_heads: attention heads.
    """

    def __init__(self, dim: int, context_dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(context_dim, dim)
        self.value = nn.Linear(context_dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, mask: Tensor) -> Tensor:
        """Attend from ``x`` ``(L, dim)`` to ``context`` ``(S, context_dim)``.

        ``mask`` is bool ``(L, S)``, True where attention is allowed; every row needs a True.
        Returns ``(L, dim)``.
        """
        length, dim = x.shape
        head_dim = dim // self.num_heads
        q = self.query(x).view(length, self.num_heads, head_dim).transpose(0, 1)  # (nh, L, hs)
        k = self.key(context).view(-1, self.num_heads, head_dim).transpose(0, 1)  # (nh, S, hs)
        v = self.value(context).view(-1, self.num_heads, head_dim).transpose(0, 1)  # (nh, S, hs)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (nh, L, hs)
        y = y.transpose(0, 1).reshape(length, dim)  # (L, dim)
        return self.out(y)


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))``: the gated MLP of Llama, with biases.

    Args:
        dim: input and output size.
        hidden_dim: size of the gated hidden layer.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim)
        self.up_proj = nn.Linear(dim, hidden_dim)
        self.down_proj = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., dim)`` -> ``(..., dim)``."""
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class CCAMProjector(nn.Module):
    """Video-CCAM projector: learned queries with causal cross-attention masks (module docstring).

    Args:
        in_dim: vision feature size.
        out_dim: LLM hidden size.
        num_queries: output tokens per video ``Q``.
        num_heads: attention heads; must divide ``hidden_dim``.
        hidden_dim: size of the queries inside the block; default ``in_dim``.
        mlp_ratio: MLP hidden size as a multiple of ``hidden_dim`` (when ``intermediate_dim`` is None).
        mlp: ``gelu`` (``Sequential(Linear, GELU, Linear)``) or ``swiglu`` (`SwiGLU`).
        intermediate_dim: MLP hidden size; default ``round(hidden_dim * mlp_ratio)``.

    Raises:
        ValueError: a size is not positive, ``hidden_dim`` is not a multiple of ``num_heads``, or
            ``mlp`` is unknown.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        num_queries: int,
        num_heads: int,
        hidden_dim: int | None = None,
        mlp_ratio: float = 4.0,
        mlp: str = "gelu",
        intermediate_dim: int | None = None,
    ) -> None:
        super().__init__()
        hidden_dim = in_dim if hidden_dim is None else hidden_dim
        mlp_dim = round(hidden_dim * mlp_ratio) if intermediate_dim is None else intermediate_dim
        if min(in_dim, out_dim, num_queries, num_heads, hidden_dim, mlp_dim) < 1:
            raise ValueError(
                f"sizes must be positive: in_dim={in_dim}, out_dim={out_dim}, num_queries={num_queries}, "
                f"num_heads={num_heads}, hidden_dim={hidden_dim}, mlp_ratio={mlp_ratio}"
            )
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim {hidden_dim} is not a multiple of num_heads {num_heads}")
        if mlp not in ("gelu", "swiglu"):
            raise ValueError(f"mlp must be gelu or swiglu, got {mlp!r}")
        self.in_dim = in_dim
        self.num_queries = num_queries
        self.queries = nn.Parameter(torch.empty(num_queries, hidden_dim))
        self.self_attn_norm = nn.LayerNorm(hidden_dim)
        self.self_attn = MultiHeadAttention(dim=hidden_dim, context_dim=hidden_dim, num_heads=num_heads)
        self.cross_attn_norm = nn.LayerNorm(hidden_dim)
        self.context_norm = nn.LayerNorm(in_dim)
        self.cross_attn = MultiHeadAttention(dim=hidden_dim, context_dim=in_dim, num_heads=num_heads)
        self.mlp_norm = nn.LayerNorm(hidden_dim)
        if mlp == "swiglu":
            self.mlp = SwiGLU(hidden_dim, mlp_dim)
        else:
            self.mlp = nn.Sequential(nn.Linear(hidden_dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, hidden_dim))
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.out_proj = nn.Linear(hidden_dim, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Queries ~ N(0, 0.02^2); the layers keep torch's default init."""
        nn.init.normal_(self.queries, std=0.02)

    def forward(self, tokens: Tensor) -> Tensor:
        """Summarise one video into ``num_queries`` tokens.

        Args:
            tokens: ``(G, P, in_dim)``, ``G >= 1`` frame groups (after patchify) of ``P >= 1`` tokens.

        Returns:
            ``(num_queries, out_dim)``.

        Raises:
            ValueError: ``tokens`` is not ``(G >= 1, P >= 1, in_dim)``.
        """
        if tokens.ndim != 3 or tokens.shape[-1] != self.in_dim or min(tokens.shape[:2]) < 1:
            raise ValueError(
                f"tokens must have shape (G >= 1, P >= 1, {self.in_dim}), got {tuple(tokens.shape)}"
            )
        num_groups, per_group, _ = tokens.shape
        visibility = ccam_visibility(self.num_queries, num_groups).to(tokens.device)  # (Q, G)
        cross_mask = visibility.repeat_interleave(per_group, dim=1)  # (Q, G * P)
        self_mask = torch.ones(
            self.num_queries, self.num_queries, dtype=torch.bool, device=tokens.device
        ).tril()  # (Q, Q): query i sees queries j <= i
        context = self.context_norm(tokens.reshape(num_groups * per_group, self.in_dim))  # (G * P, in_dim)
        x = self.queries  # (Q, hidden)
        h = self.self_attn_norm(x)
        x = x + self.self_attn(h, h, mask=self_mask)
        x = x + self.cross_attn(self.cross_attn_norm(x), context, mask=cross_mask)
        x = x + self.mlp(self.mlp_norm(x))
        return self.out_proj(self.out_norm(x))  # (Q, out_dim)
