"""Projectors: the linear projector and the CCAM projector with its causal cross-attention mask."""

from __future__ import annotations

import pytest
import torch

from kangaroo.model.projector import CCAMProjector, LinearProjector, ccam_visibility


def tiny_ccam(num_queries: int = 8) -> CCAMProjector:
    torch.manual_seed(0)
    return CCAMProjector(in_dim=12, out_dim=10, num_queries=num_queries, num_heads=2, hidden_dim=16)


def test_linear_projector_shape_and_math() -> None:
    torch.manual_seed(0)
    projector = LinearProjector(6, 4)
    tokens = torch.randn(5, 6)  # (N, in_dim)
    got = projector(tokens)
    assert got.shape == (5, 4)
    torch.testing.assert_close(got, tokens @ projector.linear.weight.T + projector.linear.bias)
    assert LinearProjector(6, 4, bias=False).linear.bias is None


def test_visibility_golden_four_queries_two_groups() -> None:
    expected = torch.tensor(
        [
            [True, False],  # ceil(1 * 2 / 4) = 1
            [True, False],  # ceil(2 * 2 / 4) = 1
            [True, True],  # ceil(3 * 2 / 4) = 2
            [True, True],  # ceil(4 * 2 / 4) = 2
        ]
    )
    assert torch.equal(ccam_visibility(4, 2), expected)


def test_visibility_golden_three_queries_seven_groups() -> None:
    expected = torch.tensor(
        [
            [1, 1, 1, 0, 0, 0, 0],  # ceil(7 / 3) = 3
            [1, 1, 1, 1, 1, 0, 0],  # ceil(14 / 3) = 5
            [1, 1, 1, 1, 1, 1, 1],  # ceil(21 / 3) = 7
        ],
        dtype=torch.bool,
    )
    assert torch.equal(ccam_visibility(3, 7), expected)


@pytest.mark.parametrize(("num_queries", "num_groups"), [(1, 1), (1, 9), (8, 3), (5, 5), (7, 33), (64, 10)])
def test_visibility_is_a_monotone_prefix(num_queries: int, num_groups: int) -> None:
    visible = ccam_visibility(num_queries, num_groups)
    assert visible.shape == (num_queries, num_groups) and visible.dtype == torch.bool
    counts = visible.sum(dim=1)
    assert torch.equal(visible, torch.arange(num_groups)[None, :] < counts[:, None])  # each row a prefix
    assert torch.all(counts[1:] >= counts[:-1])  # later queries see at least as much
    assert counts[0] >= 1 and counts[-1] == num_groups


@pytest.mark.parametrize(("num_queries", "num_groups"), [(0, 3), (3, 0)])
def test_visibility_rejects_empty(num_queries: int, num_groups: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ccam_visibility(num_queries, num_groups)


@pytest.mark.parametrize("num_groups", [1, 3, 8, 33])
def test_ccam_output_length_is_fixed(num_groups: int) -> None:
    projector = tiny_ccam()
    tokens = torch.randn(num_groups, 4, 12)  # (G, P, in_dim)
    out = projector(tokens)
    assert out.shape == (8, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("group", "blind_queries"),
    [
        (3, 6),  # G=4, Q=8: n_i = 1, 1, 2, 2, 3, 3, 4, 4, so queries 0-5 cannot see group 3
        (1, 2),  # queries 0-1 see only group 0
    ],
)
def test_ccam_is_causal_in_time(group: int, blind_queries: int) -> None:
    projector = tiny_ccam()
    tokens = torch.randn(4, 3, 12)  # (G, P, in_dim)
    perturbed = tokens.clone()
    perturbed[group] += torch.randn(3, 12)
    with torch.no_grad():
        before, after = projector(tokens), projector(perturbed)
    assert torch.equal(before[:blind_queries], after[:blind_queries])
    changed = (before[blind_queries:] - after[blind_queries:]).abs().amax(dim=1)  # (Q - blind,)
    assert torch.all(changed > 1e-6)


def test_ccam_last_query_sees_the_first_group() -> None:
    projector = tiny_ccam(num_queries=3)
    tokens = torch.randn(7, 2, 12)  # (G, P, in_dim)
    perturbed = tokens.clone()
    perturbed[0] += torch.randn(2, 12)
    with torch.no_grad():
        changed = (projector(tokens) - projector(perturbed)).abs().amax(dim=1)  # (Q,)
    assert torch.all(changed > 1e-6)


def test_ccam_gradient_reaches_queries_and_layers() -> None:
    projector = tiny_ccam()
    tokens = torch.randn(2, 3, 12, requires_grad=True)  # (G, P, in_dim)
    projector(tokens).square().sum().backward()
    assert projector.queries.grad is not None and projector.queries.grad.abs().sum() > 0
    assert projector.cross_attn.key.weight.grad is not None
    assert projector.cross_attn.key.weight.grad.abs().sum() > 0
    assert tokens.grad is not None and tokens.grad.abs().sum() > 0


def test_ccam_query_init() -> None:
    torch.manual_seed(0)
    projector = CCAMProjector(in_dim=8, out_dim=8, num_queries=256, num_heads=2, hidden_dim=32)
    assert projector.queries.shape == (256, 32)
    assert abs(projector.queries.std().item() - 0.02) < 0.002
    assert abs(projector.queries.mean().item()) < 0.002


def test_ccam_hidden_dim_defaults_to_in_dim() -> None:
    projector = CCAMProjector(in_dim=12, out_dim=10, num_queries=4, num_heads=3)
    assert projector.queries.shape == (4, 12)


def test_ccam_bad_config_raises() -> None:
    with pytest.raises(ValueError, match="not a multiple of num_heads"):
        CCAMProjector(in_dim=12, out_dim=10, num_queries=4, num_heads=5)
    with pytest.raises(ValueError, match="sizes must be positive"):
        CCAMProjector(in_dim=12, out_dim=10, num_queries=0, num_heads=2)


@pytest.mark.parametrize("shape", [(4, 12), (2, 3, 11), (0, 3, 12), (2, 0, 12)])
def test_ccam_bad_tokens_raise(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="tokens must have shape"):
        tiny_ccam()(torch.zeros(shape))


def test_ccam_swiglu_mlp_and_query_size() -> None:
    projector = CCAMProjector(in_dim=12, out_dim=10, num_queries=4, num_heads=2, hidden_dim=8, mlp="swiglu",
                              intermediate_dim=20)
    shapes = {name: tuple(p.shape) for name, p in projector.named_parameters() if name.startswith(("mlp", "queries"))}
    assert shapes["queries"] == (4, 8) and shapes["mlp.gate_proj.weight"] == (20, 8)
    assert shapes["mlp.down_proj.weight"] == (8, 20)
    x = torch.randn(5, 8)
    mlp = projector.mlp
    expected = mlp.down_proj(torch.nn.functional.silu(mlp.gate_proj(x)) * mlp.up_proj(x))
    torch.testing.assert_close(mlp(x), expected)
    assert projector(torch.randn(3, 2, 12)).shape == (4, 10)
    with pytest.raises(ValueError, match="mlp must be gelu or swiglu"):
        CCAMProjector(in_dim=12, out_dim=10, num_queries=4, num_heads=2, mlp="relu")
