"""Temporal position embedding: the sinusoid of each frame's real timestamp, interleaved sin/cos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kangaroo.model.temporal import TemporalPositionEmbedding

TIMESTAMPS = [0.0, 0.37, 12.5, 3600.25]


def reference_tpe(timestamps: list[float], dim: int, theta: float = 10000.0) -> np.ndarray:
    """The formula written out independently in numpy: float64 (T, dim)."""
    out = np.zeros((len(timestamps), dim))
    for row, t in enumerate(timestamps):
        for i in range(dim // 2):
            out[row, 2 * i] = np.sin(t / theta ** (2 * i / dim))
            out[row, 2 * i + 1] = np.cos(t / theta ** ((2 * i + 1) / dim))  # eq. 3: exponent j / d
    return out


@pytest.mark.parametrize("dim", [8, 1024])
def test_matches_formula_for_float_timestamps(dim: int) -> None:
    tpe = TemporalPositionEmbedding(dim)
    got = tpe(torch.tensor(TIMESTAMPS, dtype=torch.float64), dtype=torch.float64)
    assert got.shape == (len(TIMESTAMPS), dim)
    np.testing.assert_allclose(got.numpy(), reference_tpe(TIMESTAMPS, dim), rtol=0, atol=1e-9)


def test_theta_is_used() -> None:
    tpe = TemporalPositionEmbedding(8, theta=100.0)
    got = tpe(torch.tensor(TIMESTAMPS, dtype=torch.float64), dtype=torch.float64)
    np.testing.assert_allclose(got.numpy(), reference_tpe(TIMESTAMPS, 8, theta=100.0), rtol=0, atol=1e-9)


def test_first_components_follow_eq3() -> None:
    t = np.array([0.0, 0.37])
    got = TemporalPositionEmbedding(4)(torch.tensor(t), dtype=torch.float64)
    np.testing.assert_allclose(got[:, 0].numpy(), np.sin(t), atol=1e-12)  # sin(t / theta^(0/4))
    np.testing.assert_allclose(got[:, 1].numpy(), np.cos(t / 10000.0**0.25), atol=1e-12)  # cos(t / theta^(1/4))


def test_embeds_time_not_index() -> None:
    tpe = TemporalPositionEmbedding(16)
    same = tpe(torch.tensor([5.5, 5.5, 5.5000001], dtype=torch.float64))
    assert torch.equal(same[0], same[1])
    assert not torch.equal(same[0], same[2])
    different = tpe(torch.tensor([0.5, 1.0]))
    assert not torch.allclose(different[0], different[1])


def test_float32_timestamps_give_the_float64_answer() -> None:
    """A long video's timestamps lose nothing before the sin/cos (angles in float64)."""
    tpe = TemporalPositionEmbedding(8)
    t32 = torch.tensor(TIMESTAMPS, dtype=torch.float32)
    got = tpe(t32, dtype=torch.float64)
    expected = reference_tpe(t32.double().tolist(), 8)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_output_dtype(dtype: torch.dtype) -> None:
    tpe = TemporalPositionEmbedding(8)
    timestamps = torch.tensor(TIMESTAMPS, dtype=torch.float64)
    got = tpe(timestamps, dtype=dtype)
    assert got.dtype == dtype
    exact = tpe(timestamps, dtype=torch.float64)
    torch.testing.assert_close(got, exact.to(dtype))  # computed exactly, then rounded once


def test_default_dtype_and_broadcast_onto_features() -> None:
    torch.manual_seed(0)
    tpe = TemporalPositionEmbedding(8)
    emb = tpe(torch.tensor([0.0, 2.5], dtype=torch.float64))
    assert emb.dtype == torch.get_default_dtype()
    features = torch.randn(2, 3, 8)  # (T, P, dim)
    shifted = features + emb[:, None, :]
    torch.testing.assert_close(shifted[1, 2] - features[1, 2], emb[1])


def test_no_parameters_or_state() -> None:
    tpe = TemporalPositionEmbedding(8)
    assert list(tpe.parameters()) == []
    assert tpe.state_dict() == {}


@pytest.mark.parametrize("dim", [7, 0, -2])
def test_bad_dim_raises(dim: int) -> None:
    with pytest.raises(ValueError, match="even"):
        TemporalPositionEmbedding(dim)


def test_non_vector_timestamps_raise() -> None:
    with pytest.raises(ValueError, match=r"\(T,\)"):
        TemporalPositionEmbedding(8)(torch.zeros(2, 1))
