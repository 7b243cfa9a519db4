"""Plot builders: element types, inverted axes, tools, and the selected layer following a Pipe."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from bokeh.models import BoxSelectTool, ColorBar, GlyphRenderer, HoverTool, LassoSelectTool, Legend

from dashboard import plots
from dashboard.hover_layer import HOVER_RENDERER
from dashboard.selected_layer import RENDERER_NAME as SELECTED_RENDERER


def _figure(obj: hv.core.Dimensioned):
    return hv.renderer("bokeh").get_plot(obj).state


@pytest.mark.parametrize("color_by", ["density", "true_population", "pred_teff_k"])
def test_views_are_rasters_with_select_tools_and_the_selected_and_hover_layers(
    catalog: pd.DataFrame, color_by: str
) -> None:
    for builder in (plots.umap_plot, plots.cmd_plot, plots.hr_plot):
        obj = builder(catalog, color_by=color_by)
        assert isinstance(obj, hv.DynamicMap), builder.__name__
        assert isinstance(obj[()], (hv.RGB, hv.Image)), builder.__name__
        fig = _figure(obj)
        # The base image, then the selected stars' image, then the hover points (added by hooks).
        names = [
            r.name for r in fig.renderers if isinstance(r, GlyphRenderer) and str(r.name).startswith("desa-")
        ]
        assert names == [SELECTED_RENDERER, HOVER_RENDERER], builder.__name__
        order = [r.name or type(r.glyph).__name__ for r in fig.renderers]
        assert order[0] in ("Image", "ImageRGBA"), "the base image comes first"
        assert order.index(SELECTED_RENDERER) == 1, "the selected stars go just above the base image"
        tools = {type(tool) for tool in fig.tools}
        assert {BoxSelectTool, LassoSelectTool} <= tools, builder.__name__
        assert isinstance(fig.toolbar.active_drag, BoxSelectTool), builder.__name__
        assert fig.frame_width <= 800 and fig.frame_height <= 600


def test_views_draw_on_a_canvas_not_webgl(catalog: pd.DataFrame) -> None:
    """WebGL draws images no faster, and without a GPU it runs in software (docs/DEPLOY.md §4)."""
    for builder in (plots.umap_plot, plots.cmd_plot, plots.hr_plot):
        assert _figure(builder(catalog, color_by="density")).output_backend == "canvas", builder.__name__


def test_cmd_inverts_magnitude_axis_and_hr_inverts_teff(catalog: pd.DataFrame) -> None:
    cmd, hr, umap = (_figure(b(catalog)) for b in (plots.cmd_plot, plots.hr_plot, plots.umap_plot))
    assert cmd.y_range.start > cmd.y_range.end, "M_G axis should grow downwards"
    assert cmd.x_range.start < cmd.x_range.end
    assert hr.x_range.start > hr.x_range.end, "Teff axis should grow leftwards"
    assert umap.x_range.start < umap.x_range.end and umap.y_range.start < umap.y_range.end


def test_hr_falls_back_to_truth_then_to_a_note(catalog: pd.DataFrame) -> None:
    no_pred = catalog.drop(columns=["pred_teff_k", "pred_logl"])
    assert plots.hr_columns(catalog) == ("pred_teff_k", "pred_logl")
    assert plots.hr_columns(no_pred) == ("true_teff_k", "true_logl")
    bare = no_pred.drop(columns=["true_teff_k", "true_logl"])
    note = plots.hr_plot(bare)
    assert any(isinstance(el, hv.Text) for el in note), "an empty HR view should carry a note"


def test_selected_layer_follows_the_mask(catalog: pd.DataFrame) -> None:
    """The selected stars' pixels are those datashader counts for them (spread up to 3 px, no more)."""
    import datashader as ds

    layer = plots.selected_layer(catalog, "umap_x", "umap_y")
    fig = _figure(plots.umap_plot(catalog, selected=layer))
    (source,) = _image_source(fig)
    assert not source.data["image"][0].any()
    mask = np.arange(len(catalog)) < 50
    layer.update(mask)
    alpha = (source.data["image"][0] >> 24) > 0
    (x0, x1), (y0, y1) = layer._ranges
    canvas = ds.Canvas(plot_width=layer.width, plot_height=layer.height, x_range=(x0, x1), y_range=(y0, y1))
    counts = canvas.points(catalog[mask], "umap_x", "umap_y", agg=ds.count()).to_numpy() > 0
    assert counts.any() and not (counts & ~alpha).any(), "a selected star's pixel is not drawn"
    assert alpha.sum() <= counts.sum() * 49, "drawn far beyond the selected stars (spread is 3 px at most)"


def _image_source(fig):
    from bokeh.models import ColumnDataSource

    sources = [m for m in fig.references() if isinstance(m, ColumnDataSource) and "image" in m.data]
    return [s for s in sources if s.data["image"][0].dtype == np.uint32]


@pytest.mark.parametrize("builder", [plots.umap_plot, plots.cmd_plot, plots.hr_plot])
def test_a_new_mask_redraws_the_rendered_layer_as_a_new_plot_draws_it(catalog: pd.DataFrame, builder) -> None:
    """update() writes into the rendered plot the pixels a plot made after the selection starts with."""
    x, y = {plots.umap_plot: plots.UMAP_COLUMNS, plots.cmd_plot: plots.CMD_COLUMNS}.get(
        builder, plots.hr_columns(catalog)
    )
    mask = catalog[x].to_numpy() < np.nanmedian(catalog[x].to_numpy())
    direct = plots.selected_layer(catalog, x, y)
    fig = _figure(builder(catalog, selected=direct))
    (source,) = _image_source(fig)
    assert not source.data["image"][0].any(), "nothing selected yet"
    assert direct.update(mask) == 1, "the rendered copy was not captured"
    drawn = source.data["image"][0]
    assert (drawn >> 24).astype(bool).sum() > 0

    reference = plots.selected_layer(catalog, x, y)
    reference.update(mask)
    (ref_source,) = _image_source(_figure(builder(catalog, selected=reference)))
    np.testing.assert_array_equal(drawn, ref_source.data["image"][0])
    for key in ("x", "y", "dw", "dh"):
        assert source.data[key] == pytest.approx(ref_source.data[key]), key
    direct.update(None)
    assert not source.data["image"][0].any(), "clearing the selection should empty the layer"


def test_streams_attach_to_the_base_layer(catalog: pd.DataFrame) -> None:
    box, lasso = hv.streams.BoundsXY(), hv.streams.Lasso()
    plots.cmd_plot(catalog, streams=[box, lasso])
    assert box.source is not None and box.source is lasso.source


@pytest.mark.parametrize(
    ("color_by", "guide"),
    [
        ("density", ColorBar),
        ("pred_age_gyr", ColorBar),
        ("binary_prob", ColorBar),
        ("true_population", Legend),
    ],
)
def test_colour_by_any_column_has_a_colour_bar_or_legend(
    catalog: pd.DataFrame, color_by: str, guide: type
) -> None:
    fig = _figure(plots.cmd_plot(catalog, color_by=color_by))
    # Below the frame: beside it a legend took a third of the view's width (issue 18).
    guides = [obj for obj in fig.below if isinstance(obj, guide)]
    assert guides, f"colour by {color_by}: no {guide.__name__} below the plot"
    assert not [obj for obj in fig.right if isinstance(obj, (ColorBar, Legend))]
    if guide is ColorBar and color_by != "density":
        assert guides[0].title == plots.column_label(color_by)
    if guide is Legend:
        # Three columns, as an overlay's legend had (an element's ``legend_cols`` sets rows).
        assert (guides[0].ncols, guides[0].nrows) == (3, "auto")
        # HoloViews draws the legend of a count_cat image from a hidden glyph whose "color"
        # column lists the categories.
        labels = {str(v) for item in guides[0].items for v in item.renderers[0].data_source.data["color"]}
        assert labels == set(catalog[color_by].cat.categories)


def test_hover_points_appear_only_when_zoomed_in(catalog: pd.DataFrame) -> None:
    full = plots.hover_stars(catalog, "umap_x", "umap_y", None, None)
    assert len(catalog) > 0
    expected_full = len(catalog) if len(catalog) <= plots.HOVER_MAX_POINTS else 0
    assert len(full) == expected_full
    zoomed = plots.hover_stars(catalog, "umap_x", "umap_y", (-1.0, 1.0), (-1.0, 1.0))
    inside = catalog["umap_x"].between(-1, 1) & catalog["umap_y"].between(-1, 1)
    assert len(zoomed) == inside.sum() > 0
    assert zoomed["star"].iloc[0] == f"KIC {int(catalog.loc[inside, 'kic_id'].iloc[0])}"
    assert {"row", "star", "true_population", "binary_prob", "pred_age_gyr"} <= set(zoomed.columns)
    expected = catalog.loc[inside]
    np.testing.assert_array_equal(zoomed["row"], expected["row"])
    np.testing.assert_allclose(zoomed["pred_age_gyr"], expected["pred_age_gyr"])
    np.testing.assert_allclose(zoomed["binary_prob"], expected["binary_prob"])
    assert list(zoomed["true_population"]) == list(expected["true_population"].astype(str))


def test_a_zoom_redraws_the_selected_stars_and_fills_the_hover_points(
    catalog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view's zoom stream redraws the selected image and refills the hover points in the figure."""
    monkeypatch.setattr(plots, "HOVER_MAX_POINTS", 100)
    zoom = hv.streams.RangeXY()
    layer = plots.selected_layer(catalog, *plots.UMAP_COLUMNS)
    layer.update(np.ones(len(catalog), dtype=bool))
    fig = _figure(plots.umap_plot(catalog, streams=[zoom], selected=layer))
    (selected,) = _image_source(fig)
    (renderer,) = [r for r in fig.renderers if r.name == HOVER_RENDERER]
    assert len(renderer.data_source.data["star"]) == 0, "600 stars in view: no hover points"
    (hover,) = [tool for tool in fig.tools if isinstance(tool, HoverTool)]
    assert hover.renderers == [renderer]
    # The view's own zoom stream: the one it passed (scatter_view makes no second one).
    assert [s for s in hv.streams.Stream.registry[zoom.source] if isinstance(s, hv.streams.RangeXY)] == [zoom]
    base_zoom = zoom
    base_zoom.event(x_range=(-0.2, 0.2), y_range=(-0.2, 0.2))
    inside = catalog["umap_x"].between(-0.2, 0.2) & catalog["umap_y"].between(-0.2, 0.2)
    assert 0 < inside.sum() <= 100
    np.testing.assert_array_equal(renderer.data_source.data["row"], catalog.loc[inside, "row"])
    assert selected.data["x"] == [-0.2] and selected.data["dw"] == [pytest.approx(0.4)]
    np.testing.assert_array_equal(selected.data["image"][0], layer.image((-0.2, 0.2), (-0.2, 0.2)))
    base_zoom.event(x_range=(-100.0, 100.0), y_range=(-100.0, 100.0))
    assert len(renderer.data_source.data["row"]) == 0


def test_hover_is_hidden_above_the_threshold(catalog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "HOVER_MAX_POINTS", 10)
    assert len(plots.hover_stars(catalog, "umap_x", "umap_y", None, None)) == 0
    rows = plots.visible_rows(catalog, "umap_x", "umap_y", (-0.2, 0.2), (-0.2, 0.2))
    assert 0 < rows.sum() <= 10, "pick a smaller window for this synthetic catalogue"
    assert len(plots.hover_stars(catalog, "umap_x", "umap_y", (-0.2, 0.2), (-0.2, 0.2))) == rows.sum()


def test_hover_tool_shows_star_id_population_and_predictions(catalog: pd.DataFrame) -> None:
    fig = _figure(plots.umap_plot(catalog, color_by="true_population"))
    (hover,) = [tool for tool in fig.tools if isinstance(tool, HoverTool)]
    fields = dict(hover.tooltips)
    assert fields["star"] == "@{star}"
    assert fields["true population"] == "@{true_population}"
    assert fields["predicted age [Gyr]"] == "@{pred_age_gyr}{0.[000]}"
    assert len(hover.renderers) == 1, "hover only on the star glyphs, not on the images"


def test_visible_rows_skips_nan_and_orders_bounds(grid: pd.DataFrame) -> None:
    rows = plots.visible_rows(grid, "x", "y", (2.0, 1.0), None)
    np.testing.assert_array_equal(np.flatnonzero(rows), [1, 2, 4, 5, 7, 8])


def test_after_a_zoom_a_new_mask_is_drawn_at_the_zoomed_ranges(catalog: pd.DataFrame) -> None:
    """The direct redraw uses the ranges HoloViews last drew (zoom), and inverted axes come sorted."""
    layer = plots.selected_layer(catalog, "bp_rp_mag", "abs_g_mag")
    fig = _figure(plots.cmd_plot(catalog, selected=layer))
    (source,) = _image_source(fig)
    assert layer.zoom(x_range=(0.5, 1.0), y_range=(8.0, 2.0)) == 1  # the plot's M_G axis is inverted
    assert layer._ranges == ((0.5, 1.0), (2.0, 8.0))
    layer.update(np.ones(len(catalog), dtype=bool))
    assert source.data["x"] == [0.5] and source.data["y"] == [2.0]
    assert source.data["dw"] == [pytest.approx(0.5)] and source.data["dh"] == [pytest.approx(6.0)]
    np.testing.assert_array_equal(source.data["image"][0], layer.image((0.5, 1.0), (2.0, 8.0)))
