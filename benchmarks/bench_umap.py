"""UMAP layout: a plain fit on every star against our sample-and-transform path (``Projector``).

Both go through ``desa_core.projection.Projector`` (same standardisation, UMAP parameters and seed):
the baseline with ``max_fit >= n`` (a plain ``fit_transform`` of all stars), ours with ``max_fit``
below ``n`` (fit a seeded sample, ``transform`` the rest). Inputs are synthetic embeddings (a mixture
of curved low-dimensional populations in the ``tiny`` preset's 32 dimensions). Layout quality for
both: trustworthiness (``sklearn.manifold.trustworthiness``) and the fraction of each star's 10
nearest neighbours kept in 2-D, on a seeded sample of stars. A warm-up fit pays numba's JIT first.
Goal (issue 8): 3 times faster or more at 10^6 stars.

    python -m benchmarks.bench_umap --sizes 100000 --max-fit 10000
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from benchmarks.common import ratio

GOAL_RATIO_1E6 = 3.0
DIM = 32


def synthetic_embeddings(n: int, dim: int = DIM, clusters: int = 8, seed: int = 0) -> np.ndarray:
    """``n`` float32 vectors: each cluster a noisy curve-and-sheet in a random 3-D subspace."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, clusters, n)
    t = rng.uniform(-1, 1, (n, 2))
    latent = np.column_stack([t[:, 0], t[:, 1], 0.6 * np.sin(2.5 * t[:, 0])])
    out = np.empty((n, dim), np.float32)
    for k in range(clusters):
        rows = label == k
        basis = np.linalg.qr(rng.standard_normal((dim, 3)))[0].T * 2.0
        centre = rng.normal(0, 3.0, dim)
        out[rows] = latent[rows] @ basis + centre + rng.normal(0, 0.15, (rows.sum(), dim))
    return out


def quality(x: np.ndarray, y: np.ndarray, sample: int = 2000, k: int = 10, seed: int = 1) -> dict[str, float]:
    """Trustworthiness and k-NN preservation of layout ``y`` of ``x`` on ``sample`` random stars."""
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), min(sample, len(x)), replace=False))
    xs, ys = x[idx].astype(np.float64), y[idx].astype(np.float64)
    k = min(k, len(idx) - 2)
    high = NearestNeighbors(n_neighbors=k + 1).fit(xs).kneighbors(xs, return_distance=False)[:, 1:]
    low = NearestNeighbors(n_neighbors=k + 1).fit(ys).kneighbors(ys, return_distance=False)[:, 1:]
    kept = np.mean([len(set(a) & set(b)) / k for a, b in zip(high, low, strict=True)])
    return {
        "trustworthiness": float(trustworthiness(xs, ys, n_neighbors=k)),
        "knn_preservation": float(kept),
        "sample": len(idx),
        "k": k,
    }


def _layout(x: np.ndarray, max_fit: int) -> tuple[float, np.ndarray, dict[str, Any]]:
    from desa_core.projection import Projector

    projector = Projector(max_fit=max_fit, random_state=42)
    start = time.perf_counter()
    coords = projector.fit_transform(x)
    return time.perf_counter() - start, coords, projector.params_


def bench_size(n: int, max_fit: int, plain: bool = True) -> dict[str, Any]:
    """Plain fit of ``n`` stars against fit-on-``max_fit``-and-transform, with quality for both."""
    if max_fit >= n:
        raise ValueError(f"max_fit={max_fit} must be below n={n} for sample-and-transform")
    x = synthetic_embeddings(n)
    entry: dict[str, Any] = {"n_stars": n, "max_fit": max_fit}
    seconds, coords, params = _layout(x, max_fit)
    entry["ours"] = {"seconds": seconds, "mode": params["mode"], **quality(x, coords)}
    if plain:
        seconds, coords, params = _layout(x, n)
        entry["plain"] = {"seconds": seconds, "mode": params["mode"], **quality(x, coords)}
        entry["ratio"] = ratio(entry["plain"]["seconds"], entry["ours"]["seconds"])
    if n == 1_000_000:
        entry["goal"] = {
            "min_ratio": GOAL_RATIO_1E6,
            "met": bool((entry.get("ratio") or 0) >= GOAL_RATIO_1E6),
        }
    return entry


def run(sizes: tuple[tuple[int, int], ...] = ((100_000, 10_000),), warmup: int = 5000) -> dict[str, Any]:
    """``sizes``: (n stars, max_fit) pairs. The warm-up (>= 4096 points: NN-descent JIT) is timed."""
    start = time.perf_counter()
    _layout(synthetic_embeddings(warmup, seed=9), warmup - 1)
    out: dict[str, Any] = {"warmup_s": time.perf_counter() - start, "warmup_stars": warmup, "sizes": []}
    for n, max_fit in sizes:
        entry = bench_size(n, max_fit)
        out["sizes"].append(entry)
        print(
            f"umap n={n:,}: plain {entry['plain']['seconds']:.1f} s "
            f"(T={entry['plain']['trustworthiness']:.3f}), sample {max_fit:,} + transform "
            f"{entry['ours']['seconds']:.1f} s (T={entry['ours']['trustworthiness']:.3f}), "
            f"x{entry['ratio']:.1f}",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--max-fit", type=int, nargs="+", default=[10_000], help="one per size")
    args = parser.parse_args(argv)
    if len(args.max_fit) != len(args.sizes):
        parser.error("give one --max-fit per --sizes value")
    print(json.dumps(run(tuple(zip(args.sizes, args.max_fit, strict=True))), indent=2))


if __name__ == "__main__":
    main()
