"""Multi-resolution aggregates of the base layers (dashboard/aggregates.py), on a small store.

The row threshold is forced down (``$DESA_AGGREGATE_MIN_ROWS``) and the pyramid made small
(``COARSEST`` 32: levels of 32, 64 and 128 bins) so that the aggregate path runs on a few
thousand stars; images are drawn at 60 x 50 pixels, where those levels apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import datashader as ds
import numpy as np
import pandas as pd
import pytest

from benchmarks.fixtures import write_synthetic_survey
from dashboard import aggregates, columns, plots
from dashboard.store import categorical_columns, load_catalog, prepare_catalog, session_generation
from data.storage import SurveyStore

N_STARS = 2000
WIDTH, HEIGHT = 60, 50
PAIR = ("umap_x", "umap_y")
LABEL = "true_population"


@pytest.fixture(autouse=True)
def _small_pyramids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(aggregates.MIN_ROWS_ENV, "100")
    monkeypatch.setattr(aggregates, "COARSEST", 32)


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aggregates") / "survey"
    write_synthetic_survey(root, n=N_STARS, seed=3)
    return root


@pytest.fixture
def catalog(survey: Path) -> Iterator[pd.DataFrame]:
    yield load_catalog(survey, session_generation(survey))


def pyramid_of(catalog: pd.DataFrame, pair: tuple[str, str] = PAIR) -> aggregates.Pyramid:
    pyramid = plots.base_pyramid(catalog, *pair)
    assert pyramid is not None
    return pyramid


def counts(catalog: pd.DataFrame, x_range, y_range, *, pyramid=None, label: str | None = None) -> np.ndarray:
    """The base layer's aggregate at the ranges: from ``pyramid``, or (None) from the points."""
    columns_ = (*PAIR, label) if label else PAIR
    points = plots._points(catalog, columns_)
    aggregator = ds.count_cat(label) if label else ds.count()
    extra = {} if pyramid is None else {"pyramid": pyramid}
    image = plots._Rasterize(
        points,
        aggregator=aggregator,
        dynamic=False,
        x_range=x_range,
        y_range=y_range,
        width=WIDTH,
        height=HEIGHT,
        **extra,
    )
    data = image.data  # an Image's Dataset, or an ImageStack's (y, x, category) DataArray
    return data[image.vdims[0].name].values if hasattr(data, "data_vars") else data.values


def aligned_range(pyramid: aggregates.Pyramid, level: int, first: tuple[int, int]) -> tuple:
    """x and y ranges whose pixels are exactly the bins of ``level`` from bin ``first`` on."""
    bins = pyramid.coarsest << level
    out = []
    for (lo, hi), start, n_px in zip(pyramid.limits, first, (WIDTH, HEIGHT), strict=True):
        size = (hi - lo) / bins
        out.append((lo + start * size, lo + (start + n_px) * size))
    return tuple(out)


def test_every_level_counts_every_star_and_every_label(catalog: pd.DataFrame) -> None:
    pairs = plots.view_pairs(catalog)
    assert len(pairs) == 4  # UMAP, CMD observed and dereddened, HR
    for pair in pairs:
        pyramid = pyramid_of(catalog, pair)
        xs, ys = (catalog[c].to_numpy(dtype=np.float64) for c in pair)
        finite = np.isfinite(xs) & np.isfinite(ys)
        labels = catalog[LABEL].cat.codes.to_numpy()
        per_label = np.bincount(labels[finite & (labels >= 0)], minlength=len(pyramid.categories[LABEL]))
        assert len(pyramid.levels[aggregates.COUNT]) == aggregates.LEVELS
        for level in pyramid.levels[aggregates.COUNT]:
            assert int(level.sum()) == int(finite.sum()), pair
        for level in pyramid.levels[LABEL]:
            np.testing.assert_array_equal(level.sum(axis=(0, 1)), per_label)


def test_the_base_image_from_the_aggregates_is_datashaders_from_the_points(catalog: pd.DataFrame) -> None:
    pyramid = pyramid_of(catalog)
    # Pixels on bin edges: exactly datashader's counts, in total and per label.
    x_range, y_range = aligned_range(pyramid, 1, (10, 7))
    assert pyramid.level(x_range, y_range, WIDTH, HEIGHT) == 1
    got, want = counts(catalog, x_range, y_range, pyramid=pyramid), counts(catalog, x_range, y_range)
    assert got.dtype == np.float64 and want.dtype == np.uint32  # the two paths did run
    assert want.sum() > 100
    np.testing.assert_allclose(got, want, atol=1e-9)
    got = counts(catalog, x_range, y_range, pyramid=pyramid, label=LABEL)
    np.testing.assert_allclose(got, counts(catalog, x_range, y_range, label=LABEL), atol=1e-9)
    # Any other range: a bin across a pixel edge splits its stars between the pixels.
    x_range, y_range = pyramid.limits
    got, want = counts(catalog, x_range, y_range, pyramid=pyramid), counts(catalog, x_range, y_range)
    assert got.sum() == pytest.approx(want.sum()) and want.sum() == N_STARS
    assert np.abs(got - want).sum() < 0.5 * want.sum()
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.9


def test_zoomed_in_beyond_the_finest_level_the_points_are_drawn(catalog: pd.DataFrame) -> None:
    pyramid = pyramid_of(catalog)
    x_range, y_range = aligned_range(pyramid, aggregates.LEVELS, (40, 40))  # pixels half a finest bin
    assert pyramid.level(x_range, y_range, WIDTH, HEIGHT) is None
    got = counts(catalog, x_range, y_range, pyramid=pyramid)
    assert got.dtype == np.uint32  # datashader's count of the points
    np.testing.assert_array_equal(got, counts(catalog, x_range, y_range))


def test_a_new_store_generation_gets_its_own_pyramid(survey: Path, tmp_path: Path) -> None:
    root = tmp_path / "survey"
    store = write_synthetic_survey(root, n=500, seed=5)
    before = pyramid_of(load_catalog(root, session_generation(root)))
    assert int(before.levels[aggregates.COUNT][0].sum()) == 500
    layout = store.read_catalog()
    layout = layout.assign(umap_x=layout["umap_x"] * 10)  # desa embed: a new layout
    with store.new_generation("embed") as new:
        new.write_catalog(layout)
    after = pyramid_of(load_catalog(root, session_generation(root)))
    assert after.folder != before.folder
    assert after.limits[0][1] - after.limits[0][0] > 5 * (before.limits[0][1] - before.limits[0][0])
    assert Path(after.folder).parent == SurveyStore(root).data_dir


def test_a_killed_build_leaves_nothing_that_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "survey"
    store = write_synthetic_survey(root, n=300, seed=6).snapshot()
    frame = columns.load_columns(store, [])
    pairs, labels = plots.view_pairs(frame), categorical_columns(frame)
    real = aggregates._coarser

    def killed(counts: np.ndarray) -> np.ndarray:  # dies after the first files are written
        raise KeyboardInterrupt

    monkeypatch.setattr(aggregates, "_coarser", killed)
    with pytest.raises(KeyboardInterrupt):
        aggregates.ensure_aggregates(store, frame, pairs, labels)
    assert not (store.data_dir / aggregates.FOLDER).exists()
    assert not list(store.data_dir.glob(f".{aggregates.FOLDER}.*"))
    # A folder without its index (a copy cut short) is not used either: it is built again.
    monkeypatch.setattr(aggregates, "_coarser", real)
    partial = store.data_dir / aggregates.FOLDER
    partial.mkdir()
    (partial / "0_0_0.npy").write_bytes(b"")
    folder = aggregates.ensure_aggregates(store, frame, pairs, labels)
    assert folder == partial and (folder / aggregates.INDEX).is_file()
    pyramid = aggregates.open_aggregates(folder)[PAIR]
    assert int(pyramid.levels[aggregates.COUNT][-1].sum()) == 300


def test_below_the_threshold_nothing_is_built_and_the_points_are_drawn(
    survey: Path, catalog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(aggregates.MIN_ROWS_ENV, str(N_STARS + 1))
    small = load_catalog(survey, session_generation(survey))
    assert plots.base_pyramid(small, *PAIR) is None
    root = survey.parent / "small"
    write_synthetic_survey(root, n=200, seed=7)
    prepare_catalog(root)
    assert not (SurveyStore(root).data_dir / aggregates.FOLDER).exists()
    # The view's base layer, as before: datashader's uint32 counts.
    frame = plots._base(load_catalog(root), *PAIR, "density")[()]
    assert frame.data[frame.vdims[0].name].dtype == np.uint32


def test_desa_serve_prepares_the_aggregates_of_a_large_catalogue(tmp_path: Path) -> None:
    root = tmp_path / "survey"
    write_synthetic_survey(root, n=300, seed=8)
    prepare_catalog(root)
    folder = SurveyStore(root).data_dir / aggregates.FOLDER
    assert (folder / aggregates.INDEX).is_file()
    assert set(aggregates.open_aggregates(folder)) == set(plots.view_pairs(load_catalog(root)))


def test_axis_limits_and_the_star_count_come_from_the_aggregates(
    catalog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import shared

    pairs = plots.view_pairs(catalog)
    pyramids = {pair: pyramid_of(catalog, pair) for pair in pairs}
    want = {c: plots.data_limits(catalog[c]) for pair in pairs for c in pair}
    shared.clear()  # computed again below, from the pyramids alone

    def unread(values: pd.Series) -> tuple[float, float]:
        raise AssertionError(f"{values.name} was read for its limits")

    monkeypatch.setattr(plots, "data_limits", unread)
    assert {c: plots.column_limits(catalog, c) for c in want} == want
    monkeypatch.setattr(plots, "visible_rows", lambda *a: pytest.fail("the stars were counted"))
    points = plots.hover_stars(catalog, *PAIR)  # the full view: more stars than hover shows
    assert len(points) == 0 and int(pyramids[PAIR].levels[aggregates.COUNT][0].sum()) > plots.HOVER_MAX_POINTS
