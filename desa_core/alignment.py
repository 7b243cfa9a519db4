"""Dual-projection alignment loss (DESA, arXiv 2507.10666) with anti-collapse terms.

For a batch of B stars with fused vectors e_s, e_l (B, D) and one shared projection W (D, D),
DESA uses p_s = W e_s and p_l = W^T e_l and

    L_dual = mean_b (<p_s,b, e_s,b> - <p_l,b, e_l,b>)^2 = mean_b (e_s^T W e_s - e_l^T W e_l)^2
    L_cov  = (1/D) sum_{i!=j} C_s[i,j]^2 + (1/D) sum_{i!=j} C_l[i,j]^2

with L = (L_dual + L_cov) / 2. Both terms vanish for W = 0, so the paper's loss can collapse.
We add a VICReg variance hinge on p_s and p_l (and an optional cross-covariance term), which
keeps W from shrinking to zero. Neither term rewards keeping what the encoders know: L_dual
constrains one scalar per star. The optional information term is a symmetric InfoNCE between
p_s and p_l (van den Oord et al. 2018, arXiv 1807.03748; as in CLIP, Radford et al. 2021): each
star's p_s must pick out its own p_l among the batch, which only a star-specific embedding can do.
"""

from __future__ import annotations

import torch
from torch import Tensor

from desa_core.distributed import gather_batch


def off_diagonal_cov(p: Tensor) -> Tensor:
    """(1/D) sum of squared off-diagonal batch covariances of p (B, D)."""
    b, d = p.shape
    centred = p - p.mean(dim=0)
    cov = centred.T @ centred / max(b - 1, 1)  # (D, D)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d


def variance_hinge(*projections: Tensor, target: float = 1.0, eps: float = 1e-4) -> Tensor:
    """Mean over projections of mean_j ReLU(target - std_j): zero only if every dim varies."""
    terms = [torch.relu(target - torch.sqrt(p.var(dim=0) + eps)).mean() for p in projections]
    return torch.stack(terms).mean()


def cross_covariance(p_s: Tensor, p_l: Tensor) -> Tensor:
    """(1/D) sum of squared off-diagonal cross-covariances between p_s and p_l."""
    b, d = p_s.shape
    cs, cl = p_s - p_s.mean(0), p_l - p_l.mean(0)
    cov = cs.T @ cl / max(b - 1, 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d


def info_nce(a: Tensor, b: Tensor, *, temperature: float = 0.1) -> Tensor:
    """Symmetric InfoNCE between matching rows of a and b (B, D), on cosine similarities."""
    a = torch.nn.functional.normalize(a, dim=-1)
    b = torch.nn.functional.normalize(b, dim=-1)
    logits = a @ b.T / temperature  # (B, B); the diagonal holds the matching pairs
    target = torch.arange(len(a), device=a.device)
    ce = torch.nn.functional.cross_entropy
    return 0.5 * (ce(logits, target) + ce(logits.T, target))


def project(e_s: Tensor, e_l: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """p_s = W e_s and p_l = W^T e_l for row vectors: (B, D) each."""
    return e_s @ w.T, e_l @ w


def dual_projection_loss(
    e_s: Tensor,
    e_l: Tensor,
    w: Tensor,
    *,
    var_weight: float = 1.0,
    cross_weight: float = 0.0,
    info_weight: float = 0.0,
) -> dict[str, Tensor]:
    """Dual-projection alignment plus a variance hinge (and optional cross-covariance, InfoNCE).

    Parameters
    ----------
    e_s, e_l
        Fused spectrum and light-curve vectors, (B, D).
    w
        The shared projection, (D, D).
    var_weight
        Weight of the variance hinge; 0 gives the paper's collapsible loss.
    cross_weight
        Weight of the cross-covariance term the reference code wrote but never added.
    info_weight
        Weight of the InfoNCE term between p_s and p_l over the global batch (``info_nce``).

    Returns
    -------
    dict
        ``loss`` and the named terms ``dual``, ``cov``, ``var``, ``cross``, ``info``.
    """
    p_s, p_l = project(e_s, e_l, w)  # (B, D) each
    dual = ((p_s * e_s).sum(-1) - (p_l * e_l).sum(-1)).pow(2).mean()  # per star: local rows
    g_s, g_l = gather_batch(p_s), gather_batch(p_l)  # batch statistics: the global batch
    cov = off_diagonal_cov(g_s) + off_diagonal_cov(g_l)
    var = variance_hinge(g_s, g_l)  # without it, W -> 0 drives dual and cov to zero
    cross = cross_covariance(g_s, g_l)
    info = info_nce(g_s, g_l) if info_weight else torch.zeros((), device=e_s.device)
    loss = 0.5 * (dual + cov) + var_weight * var + cross_weight * cross + info_weight * info
    return {"loss": loss, "dual": dual, "cov": cov, "var": var, "cross": cross, "info": info}


def paper_dual_projection_loss(e_s: Tensor, e_l: Tensor, w: Tensor) -> dict[str, Tensor]:
    """The reference loss, L = (L_dual + L_cov) / 2, kept to demonstrate its collapse."""
    return dual_projection_loss(e_s, e_l, w, var_weight=0.0, cross_weight=0.0)


@torch.no_grad()
def retrieval_accuracy(a: Tensor, b: Tensor) -> float:
    """Fraction of rows of ``a`` whose nearest row of ``b`` (cosine) is the same star."""
    a = torch.nn.functional.normalize(a, dim=-1)
    b = torch.nn.functional.normalize(b, dim=-1)
    hits = (a @ b.T).argmax(dim=1) == torch.arange(len(a), device=a.device)
    return hits.float().mean().item()
