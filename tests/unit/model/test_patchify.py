"""Spatio-temporal patchify: depthwise 2x2x2 convolution, initialised as averaging, odd T padded."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kangaroo.model.patchify import SpatioTemporalPatchify


def avg_pool_reference(features: torch.Tensor, kernel: tuple[int, int, int]) -> torch.Tensor:
    """avg_pool3d on channels-last (T, h, w, C) -> (T / kt, h / kh, w / kw, C)."""
    volume = features.permute(3, 0, 1, 2).unsqueeze(0)  # (1, C, T, h, w)
    pooled = F.avg_pool3d(volume, kernel_size=kernel, stride=kernel)  # (1, C, T / kt, h / kh, w / kw)
    return pooled.squeeze(0).permute(1, 2, 3, 0)  # (T / kt, h / kh, w / kw, C)


@pytest.mark.parametrize("kernel", [(2, 2, 2), (4, 1, 2)])
def test_init_is_average_pooling(kernel: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    features = torch.randn(8, 4, 6, 5)  # (T, h, w, C)
    got = SpatioTemporalPatchify(5, kernel=kernel)(features)
    expected = avg_pool_reference(features, kernel)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected)


def test_odd_frame_count_repeats_the_last_frame() -> None:
    torch.manual_seed(0)
    features = torch.randn(5, 4, 4, 3)  # (T, h, w, C)
    got = SpatioTemporalPatchify(3)(features)
    assert got.shape == (3, 2, 2, 3)
    padded = torch.cat((features, features[-1:]), dim=0)  # (6, h, w, C)
    torch.testing.assert_close(got, avg_pool_reference(padded, (2, 2, 2)))
    torch.testing.assert_close(got[-1], avg_pool_reference(features[-1:], (1, 2, 2))[0])


def test_single_image_is_its_2x2_spatial_average() -> None:
    image = torch.arange(16, dtype=torch.float32).reshape(1, 2, 2, 4)  # (T=1, h, w, C)
    got = SpatioTemporalPatchify(4)(image)
    assert got.shape == (1, 1, 1, 4)
    torch.testing.assert_close(got[0, 0, 0], torch.tensor([6.0, 7.0, 8.0, 9.0]))  # mean of c, c+4, c+8, c+12


def test_depthwise_channels_do_not_mix() -> None:
    torch.manual_seed(0)
    patchify = SpatioTemporalPatchify(4)
    with torch.no_grad():
        patchify.conv.weight.normal_()  # any weights, not only the averaging init
        patchify.conv.bias.normal_()
    features = torch.randn(4, 4, 4, 4)  # (T, h, w, C)
    perturbed = features.clone()
    perturbed[..., 2] += torch.randn(4, 4, 4)
    before, after = patchify(features), patchify(perturbed)
    others = [0, 1, 3]
    assert torch.equal(before[..., others], after[..., others])
    assert not torch.allclose(before[..., 2], after[..., 2])


def test_gradient_flows_to_weights_and_input() -> None:
    torch.manual_seed(0)
    patchify = SpatioTemporalPatchify(3)
    features = torch.randn(3, 2, 2, 3, requires_grad=True)  # (T, h, w, C)
    patchify(features).square().sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
    assert patchify.conv.weight.grad is not None and patchify.conv.weight.grad.abs().sum() > 0
    assert patchify.conv.bias.grad is not None and patchify.conv.bias.grad.abs().sum() > 0


def test_reset_parameters_restores_averaging() -> None:
    patchify = SpatioTemporalPatchify(2)
    with torch.no_grad():
        patchify.conv.weight.normal_()
        patchify.conv.bias.fill_(1.0)
    patchify.reset_parameters()
    assert torch.equal(patchify.conv.weight, torch.full((2, 1, 2, 2, 2), 1 / 8))
    assert torch.equal(patchify.conv.bias, torch.zeros(2))


def test_grid_not_a_multiple_of_the_kernel_raises() -> None:
    with pytest.raises(ValueError, match=r"3x4 is not a multiple of the spatial kernel 2x2"):
        SpatioTemporalPatchify(2)(torch.zeros(2, 3, 4, 2))


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (4, 4, 2), (0, 4, 4, 2)])
def test_bad_shape_raises(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="features must have shape"):
        SpatioTemporalPatchify(2)(torch.zeros(shape))
