"""Spatio-temporal patchify (Kangaroo paper section IV-B, Stage II): a 3D depthwise convolution.

Kernel = stride = ``(kt, kh, kw)`` (2x2x2 in the paper), one filter per channel, so every output
token mixes only its own channel over ``kt`` frames x ``kh x kw`` neighbours. It is initialised
"uniform", i.e. as averaging: weight ``1 / (kt * kh * kw)``, bias 0. A video of ``T`` frames is
padded by repeating its last frame up to a multiple of ``kt`` (a single image, ``T = 1``, becomes
two identical frames), so the output has ``ceil(T / kt)`` frame groups; see
``kangaroo.model.layout`` for the resulting token counts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SpatioTemporalPatchify(nn.Module):
    """3D depthwise convolution with kernel = stride, channels-last in and out, one video at a time.

    Args:
        channels: feature size ``C`` of the vision encoder.
        kernel: ``(kt, kh, kw)``, frames and neighbours merged per output token.

    Raises:
        ValueError: ``channels`` or a kernel size is not positive.
    """

    def __init__(self, channels: int, kernel: tuple[int, int, int] = (2, 2, 2)) -> None:
        super().__init__()
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        if len(kernel) != 3 or min(kernel) <= 0:
            raise ValueError(f"kernel must be three positive sizes (kt, kh, kw), got {kernel}")
        self.channels = channels
        self.kernel = tuple(kernel)
        self.conv = nn.Conv3d(
            channels, channels, kernel_size=kernel, stride=kernel, groups=channels, bias=True
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's "uniform" init: every output is the mean of its ``kt x kh x kw`` inputs."""
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / math.prod(self.kernel))
            self.conv.bias.zero_()

    def forward(self, features: Tensor) -> Tensor:
        """Merge neighbouring frames and patches of one video.

        Args:
            features: ``(T, h, w, C)``, ``T >= 1`` frames of ``h x w`` features.

        Returns:
            ``(ceil(T / kt), h / kh, w / kw, C)``.

        Raises:
            ValueError: the shape is not ``(T, h, w, C)`` with this module's ``C`` and ``T >= 1``,
                or ``h`` / ``w`` is not a multiple of ``kh`` / ``kw``.
        """
        if features.ndim != 4 or features.shape[-1] != self.channels or features.shape[0] < 1:
            raise ValueError(
                f"features must have shape (T >= 1, h, w, {self.channels}), got {tuple(features.shape)}"
            )
        num_frames, height, width, _ = features.shape
        kt, kh, kw = self.kernel
        if height % kh or width % kw:
            raise ValueError(
                f"the feature grid {height}x{width} is not a multiple of the spatial kernel {kh}x{kw}"
            )
        pad = -num_frames % kt
        if pad:
            last = features[-1:].expand(pad, -1, -1, -1)  # (pad, h, w, C)
            features = torch.cat((features, last), dim=0)  # (T + pad, h, w, C)
        volume = features.permute(3, 0, 1, 2).unsqueeze(0)  # (1, C, T + pad, h, w)
        merged = self.conv(volume)  # (1, C, (T + pad) / kt, h / kh, w / kw)
        return merged.squeeze(0).permute(1, 2, 3, 0)  # ((T + pad) / kt, h / kh, w / kw, C)
