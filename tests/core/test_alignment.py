"""The dual-projection loss: hand computation, the paper's collapse, and our anti-collapse term."""

from __future__ import annotations

import torch

from desa_core.alignment import dual_projection_loss, paper_dual_projection_loss
from desa_core.eigen import eigenbasis


def test_dual_term_matches_bilinear_forms() -> None:
    gen = torch.Generator().manual_seed(1)
    e_s, e_l, w = (
        torch.randn(8, 4, generator=gen),
        torch.randn(8, 4, generator=gen),
        torch.randn(4, 4, generator=gen),
    )
    expected = torch.stack([(e_s[b] @ w @ e_s[b] - e_l[b] @ w @ e_l[b]) ** 2 for b in range(8)]).mean()
    torch.testing.assert_close(dual_projection_loss(e_s, e_l, w)["dual"], expected)


def test_paper_loss_collapses_but_ours_does_not() -> None:
    gen = torch.Generator().manual_seed(2)
    e_s, e_l = torch.randn(64, 8, generator=gen), torch.randn(64, 8, generator=gen)
    w = torch.nn.Parameter(torch.randn(8, 8, generator=gen))
    start, start_norm = (
        paper_dual_projection_loss(e_s, e_l, w)["loss"].item(),
        w.detach().norm().item(),
    )
    opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        paper_dual_projection_loss(e_s, e_l, w)["loss"].backward()
        opt.step()
    end = paper_dual_projection_loss(e_s, e_l, w)["loss"].item()
    assert end < 0.02 and end < 1e-3 * start, f"paper loss should be driven to ~0: {start} -> {end}"
    assert w.detach().norm() < 0.3 * start_norm, "it gets there by shrinking W"
    ours_there = dual_projection_loss(e_s, e_l, w.detach())["loss"].item()
    assert ours_there > 0.2 and ours_there > 10 * end, "ours penalises that W"
    zero = torch.zeros(8, 8)
    assert paper_dual_projection_loss(e_s, e_l, zero)["loss"].item() == 0.0
    assert dual_projection_loss(e_s, e_l, zero)["loss"].item() > 0.5, "W = 0 must be penalised"
    ours = torch.nn.Parameter(torch.randn(8, 8, generator=gen))
    opt = torch.optim.Adam([ours], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        dual_projection_loss(e_s, e_l, ours)["loss"].backward()
        opt.step()
    p_s = e_s @ ours.detach().T
    assert p_s.std(dim=0).min().item() > 0.5, "projections must keep their variance"


def test_eigenbasis_is_orthonormal_sorted_and_deterministic() -> None:
    w = torch.randn(6, 6, generator=torch.Generator().manual_seed(3))
    a, b = eigenbasis(w), eigenbasis(w.clone())
    torch.testing.assert_close(a.vectors.T @ a.vectors, torch.eye(6), atol=1e-5, rtol=0)
    assert torch.all(a.values.abs()[:-1] >= a.values.abs()[1:])
    torch.testing.assert_close(a.vectors, b.vectors)
    pivots = a.vectors.abs().argmax(dim=0)
    assert torch.all(a.vectors[pivots, torch.arange(6)] > 0)
    sym = 0.5 * (w + w.T)
    torch.testing.assert_close(sym @ a.vectors, a.vectors * a.values, atol=1e-4, rtol=1e-4)


def test_eigenbasis_ignores_the_antisymmetric_part() -> None:
    w = torch.randn(5, 5, generator=torch.Generator().manual_seed(4))
    skew = torch.randn(5, 5, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(
        eigenbasis(w).vectors, eigenbasis(w + skew - skew.T).vectors, atol=1e-5, rtol=0
    )
