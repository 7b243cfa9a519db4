"""Selections of a large catalogue on Dask (dashboard/chunked.py): the same stars as in memory.

The threshold is forced down (``$DESA_AGGREGATE_MIN_ROWS``) and the chunks made small
(``aggregates.CHUNK_ROWS`` 256), so a 3,000-star survey is selected in twelve chunks.
"""

from __future__ import annotations

import datashader as ds
import numpy as np
import pandas as pd
import pytest

from benchmarks.fixtures import write_synthetic_survey
from dashboard import aggregates, chunked, plots
from dashboard.selection import box_mask, lasso_mask
from dashboard.store import load_catalog
from data.query import exact_box_mask, exact_lasso_mask

N_STARS = 3000


@pytest.fixture(autouse=True)
def _chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(aggregates.MIN_ROWS_ENV, "100")
    monkeypatch.setenv(chunked.MIN_ROWS_ENV, "100")
    monkeypatch.setattr(aggregates, "CHUNK_ROWS", 256)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("chunked") / "survey"
    write_synthetic_survey(root, n=N_STARS, seed=11)
    return load_catalog(root)


def test_box_and_lasso_masks_are_the_in_memory_ones(
    catalog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert chunked.applies(len(catalog))
    x, y = plots.CMD_DEREDDENED  # a fifth of the stars have no value: NaN is never selected
    xs, ys = catalog[x].to_numpy(), catalog[y].to_numpy()
    # Bounds through stars themselves, corners in either order: the edges are inside.
    for bounds in [(xs[0], ys[1], xs[2], ys[3]), (xs[5], ys[5], xs[4], ys[4]), (-9, -9, 9, 9)]:
        got = chunked.box_mask(catalog, x, y, bounds)
        want = exact_box_mask(catalog, x, y, bounds)
        assert want.any() and not want.all()
        np.testing.assert_array_equal(got, want)
    polygon = np.array([[0.5, 2.0], [1.5, 2.5], [1.2, 6.0], [0.6, 5.0]])
    got, want = chunked.lasso_mask(catalog, x, y, polygon), exact_lasso_mask(catalog, x, y, polygon)
    assert want.any() and not want.all()
    np.testing.assert_array_equal(got, want)
    # The dashboard's drawn selections take the chunked path above the threshold, same stars.
    large = box_mask(catalog, x, y, (0.5, 2.0, 1.5, 6.0)), lasso_mask(catalog, x, y, polygon)
    monkeypatch.setenv(aggregates.MIN_ROWS_ENV, str(N_STARS + 1))
    small = box_mask(catalog, x, y, (0.5, 2.0, 1.5, 6.0)), lasso_mask(catalog, x, y, polygon)
    for got, want in zip(large, small, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_selected_layer_counts_the_selected_stars_as_in_memory(
    catalog: pd.DataFrame, monkeypatch
) -> None:
    x, y = plots.UMAP_COLUMNS
    xs, ys = catalog[x].to_numpy(), catalog[y].to_numpy()
    mask = box_mask(catalog, x, y, (-3.0, -3.0, 4.0, 5.0))
    assert 0 < mask.sum() < N_STARS
    canvas = ds.Canvas(plot_width=80, plot_height=60, x_range=(-6.0, 6.0), y_range=(-5.0, 6.0))
    got = chunked.count_selected(xs, ys, mask, canvas)
    want = canvas.points(pd.DataFrame({"x": xs[mask], "y": ys[mask]}), "x", "y", agg=ds.count())
    assert int(want.sum()) > 100
    np.testing.assert_array_equal(got.values, want.values)
    # The whole layer (counts, shading, spreading) draws the same pixels on either path.
    layer = plots.selected_layer(catalog, x, y)
    layer.update(mask)
    large = layer.image((-6.0, 6.0), (-5.0, 6.0))
    monkeypatch.setenv(aggregates.MIN_ROWS_ENV, str(N_STARS + 1))
    np.testing.assert_array_equal(large, layer.image((-6.0, 6.0), (-5.0, 6.0)))
    assert large.any()


def test_the_chunked_selection_has_its_own_threshold(
    catalog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(chunked, "box_mask", lambda *a: calls.append(a) or exact_box_mask(*a))
    box_mask(catalog, "umap_x", "umap_y", (0, 0, 1, 1))
    assert len(calls) == 1  # its threshold set to 100 (the fixture)
    monkeypatch.delenv(chunked.MIN_ROWS_ENV)
    box_mask(catalog, "umap_x", "umap_y", (0, 0, 1, 1))
    assert len(calls) == 1 and chunked.DEFAULT_MIN_ROWS > 10**9  # off by default
    monkeypatch.setenv(chunked.MIN_ROWS_ENV, str(N_STARS + 1))
    box_mask(catalog, "umap_x", "umap_y", (0, 0, 1, 1))
    assert len(calls) == 1 and aggregates.min_rows() <= N_STARS  # the aggregates still apply
