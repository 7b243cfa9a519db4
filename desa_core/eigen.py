"""Projection-space eigendecomposition -> the final DESA embedding.

DESA (arXiv 2507.10666) decomposes the learned projection W and embeds a star as
(e_s + e_l) V. The reference code takes the real part of a general ``eig``, which is lossy and
sign-unstable. Only the symmetric part S = (W + W^T)/2 enters L_dual (x^T W x = x^T S x), so we
use ``eigh`` of S: exact, real and orthonormal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class EigenBasis:
    """Eigenvalues (D,) sorted by decreasing |value| and orthonormal eigenvectors (D, D) as columns."""

    values: Tensor
    vectors: Tensor

    def transform(self, x: Tensor) -> Tensor:
        """(B, D) -> coordinates in the eigenbasis, (B, D)."""
        return x @ self.vectors


def eigenbasis(w: Tensor) -> EigenBasis:
    """Decompose the symmetric part of W with a fixed ordering and sign convention.

    Parameters
    ----------
    w
        The projection, (D, D).

    Returns
    -------
    EigenBasis
        Sorted by |eigenvalue| (descending), the sign of each eigenvalue kept; each eigenvector's
        largest-magnitude component is made positive so that reruns give the same embedding.
    """
    sym = 0.5 * (w + w.T)  # only the symmetric part of W enters L_dual
    values, vectors = torch.linalg.eigh(sym.double())
    order = torch.argsort(values.abs(), descending=True, stable=True)
    values, vectors = values[order], vectors[:, order]
    pivot = vectors.abs().argmax(dim=0)  # (D,)
    signs = torch.sign(vectors[pivot, torch.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    vectors = vectors * signs  # so reruns give the same embedding
    return EigenBasis(values.to(w.dtype), vectors.to(w.dtype))
