"""Temporal position embedding (TPE, Kangaroo paper section IV-A, eq. 3-4).

Each frame's features are shifted by a sinusoidal embedding of the frame's real timestamp in
seconds (a float taken from the frame's PTS, not its index), before patchify and the projector.
Component ``j`` of the ``d``-dimensional embedding follows eq. 3 as the paper prints it:

    TPE(t)[j] = sin(t / theta^(j / d))   for even j
    TPE(t)[j] = cos(t / theta^(j / d))   for odd j
    Z_hat_f^t = Z_f^t + TPE(t)           (eq. 4, broadcast over the frame's tokens)

(Vaswani et al.'s encoding, which the paper cites as its inspiration, gives each sin/cos pair one
shared frequency instead; eq. 3 gives every component its own.)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TemporalPositionEmbedding(nn.Module):
    """Sinusoidal embedding of float timestamps; no parameters and no state.

    Args:
        dim: embedding size ``d`` (the vision feature size); must be even.
        theta: the base of the frequencies (10000 as in Vaswani et al.).

    Raises:
        ValueError: ``dim`` is odd or not positive, or ``theta`` is not above 1.
    """

    def __init__(self, dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        if dim <= 0 or dim % 2:
            raise ValueError(f"the temporal position embedding needs an even, positive dim, got {dim}")
        if theta <= 1.0:
            raise ValueError(f"theta must be above 1, got {theta}")
        self.dim = dim
        self.theta = theta

    def forward(self, timestamps: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """Embed each frame's timestamp.

        Args:
            timestamps: ``(T,)`` seconds from the start of the video (any real dtype).
            dtype: dtype of the result; default ``torch.get_default_dtype()``. The angles are
                computed in float64 (float32 on MPS, which lacks float64) and cast at the end.

        Returns:
            ``(T, dim)`` on ``timestamps.device``; add it to frame features ``(T, P, dim)`` as
            ``features + tpe[:, None, :]``.

        Raises:
            ValueError: ``timestamps`` is not one-dimensional.
        """
        if timestamps.ndim != 1:
            raise ValueError(f"timestamps must have shape (T,), got {tuple(timestamps.shape)}")
        device = timestamps.device
        compute_dtype = torch.float32 if device.type == "mps" else torch.float64
        exponent = torch.arange(self.dim, dtype=compute_dtype, device=device) / self.dim  # (d,): j / d
        angles = timestamps.to(compute_dtype)[:, None] * self.theta ** -exponent[None, :]  # (T, d)
        even = torch.arange(self.dim, device=device) % 2 == 0  # (d,): sin at even j, cos at odd j
        embedding = torch.where(even, angles.sin(), angles.cos())  # (T, d)
        return embedding.to(dtype or torch.get_default_dtype())

    def extra_repr(self) -> str:
        return f"dim={self.dim}, theta={self.theta}"
