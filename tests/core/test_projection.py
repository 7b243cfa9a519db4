"""Projector: the fit-all layout is plain UMAP; the chunked placement is seeded, chunk-free and good.

UMAP fits stay under 4096 points (above that NN-descent's JIT costs about a minute per process).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from desa_core import projection
from desa_core.projection import Projector, weighted_mean_placement


def _clusters(n: int, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) float32 vectors in 4 Gaussian clusters, and each vector's cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (4, dim))
    label = rng.integers(0, 4, n)
    return (centres[label] + rng.normal(0, 1, (n, dim))).astype(np.float32), label


def test_weighted_mean_matches_umaps_init_graph_transform() -> None:
    from umap.umap_ import init_graph_transform

    rng = np.random.default_rng(3)
    fitted = rng.normal(0, 5, (40, 2)).astype(np.float32)
    graph = scipy.sparse.random(25, 40, density=0.3, format="lil", dtype=np.float32, random_state=4)
    graph *= np.float32(0.9)
    graph[3, 7] = 1.0  # a duplicate of fitted star 7
    graph[5, 2] = graph[5, 30] = 1.0  # two duplicates: umap takes the first column
    graph[9, :] = 0.0  # no neighbours: NaN
    graph = graph.tocsr()
    graph.eliminate_zeros()
    ours = weighted_mean_placement(graph, fitted)
    theirs = init_graph_transform(graph, fitted)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ours[3], fitted[7])
    np.testing.assert_array_equal(ours[5], fitted[2])
    assert np.isnan(ours[9]).all()


def test_rejects_negative_epochs() -> None:
    with pytest.raises(ValueError, match="transform_epochs"):
        Projector(transform_epochs=-1)


@pytest.mark.slow  # two small UMAP fits: ~20-60 s of numba JIT on 2 cores
def test_fit_all_is_plain_umap_and_the_placement_is_seeded_and_chunk_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import umap

    x, label = _clusters(700)
    wide, _ = _clusters(300, dim=128, seed=1)  # as wide as an embedding: float32 round-off shows
    small = Projector(max_fit=1000, random_state=7)
    coords = small.fit_transform(wide)
    std = (wide - wide.mean(axis=0)) / (wide.std(axis=0) + 1e-6)
    plain = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=7, init="spectral")
    plain_coords = plain.fit_transform(std)
    assert small.params_["mode"] == "fit_all" and "transform_epochs" not in small.params_
    # Under umap's small-data size the exact neighbours come from sklearn (not umap's per-pair
    # numba metric): the same fuzzy graph as umap's own small-data fit, and a layout as good.
    assert small.params_["neighbours"] == "exact"
    assert abs(small.umap_.graph_ - plain.graph_).max() < 1e-4
    assert coords.shape == (300, 2) and coords.dtype == np.float32
    from sklearn.manifold import trustworthiness

    ours, theirs = (trustworthiness(std, c, n_neighbors=15) for c in (coords, plain_coords))
    assert ours >= theirs - 0.01
    # Placing stars in an exact fit: umap's small-data transform graph, without its search index.
    plain.transform_mode = "graph"
    placed_theirs = plain.transform(std[:40] + 0.1).toarray()
    placed_ours = small._graph(std[:40] + 0.1).toarray()
    np.testing.assert_allclose(placed_ours, placed_theirs, atol=1e-4)
    monkeypatch.setattr(projection, "_QUERY_BLOCK", 7)  # the search in blocks finds the same
    np.testing.assert_array_equal(small._graph(std[:40] + 0.1).toarray(), placed_ours)

    # Umap's optimisation epochs (transform_epochs=None): seeded; with exact neighbours (a fit under
    # 4096 stars) each star's placement depends on that star alone, not on its chunk.
    proj = Projector(max_fit=300, random_state=7, chunk_size=64, transform_epochs=None)
    proj.fit_transform(x[:100])  # an exact fit first: the next fit must not place against it
    assert proj.exact_fit_ is not None
    placed = proj.fit_transform(x)
    assert proj.exact_fit_ is None
    assert proj.params_["mode"] == "sample_and_transform"
    assert proj.params_["transform_epochs"] == 100  # umap's rule: 400 stars placed, <= 10,000
    assert placed.shape == (700, 2) and placed.dtype == np.float32 and np.isfinite(placed).all()
    sample = np.sort(np.random.default_rng(7).choice(700, 300, replace=False))
    np.testing.assert_array_equal(placed[sample], proj.umap_.embedding_)  # the fit is kept
    rest = np.setdiff1d(np.arange(700), sample)
    one_chunk = Projector(max_fit=300, random_state=7, chunk_size=10_000, transform_epochs=None)
    np.testing.assert_array_equal(one_chunk.fit_transform(x), placed)
    np.testing.assert_array_equal(proj.transform(x[rest[:5]]), placed[rest[:5]])  # star by star too

    # The default: the weighted mean alone. The fit is the same; placed stars land among their own
    # kind (the nearest fitted star in 2-D is from the same cluster).
    from sklearn.neighbors import NearestNeighbors

    mean = Projector(max_fit=300, random_state=7)
    average = mean.fit_transform(x)
    assert mean.params_["transform_epochs"] == 0
    np.testing.assert_array_equal(average[sample], placed[sample])
    assert not np.array_equal(average[rest], placed[rest])
    for layout in (placed, average):
        nearest = NearestNeighbors(n_neighbors=1).fit(layout[sample])
        low = nearest.kneighbors(layout[rest], return_distance=False)[:, 0]
        assert np.mean(label[sample][low] == label[rest]) > 0.95
