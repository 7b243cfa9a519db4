"""Plot builders: element types, inverted axes, tools, and the selected layer following a Pipe."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import pytest
from bokeh.models import BoxSelectTool, LassoSelectTool

from dashboard import plots


def _figure(obj: hv.core.Dimensioned):
    return hv.renderer("bokeh").get_plot(obj).state


@pytest.mark.parametrize("color_by", ["density", "true_population", "pred_teff_k"])
def test_views_are_overlays_of_rasters_with_select_tools(catalog: pd.DataFrame, color_by: str) -> None:
    for builder in (plots.umap_plot, plots.cmd_plot, plots.hr_plot):
        obj = builder(catalog, color_by=color_by)
        assert isinstance(obj, hv.DynamicMap), builder.__name__
        overlay = obj[()]
        assert isinstance(overlay, hv.Overlay)
        layers = list(overlay)
        assert all(isinstance(layer, (hv.RGB, hv.Image)) for layer in layers), builder.__name__
        fig = _figure(obj)
        tools = {type(tool) for tool in fig.tools}
        assert {BoxSelectTool, LassoSelectTool} <= tools, builder.__name__
        assert isinstance(fig.toolbar.active_drag, BoxSelectTool), builder.__name__
        assert fig.frame_width <= 800 and fig.frame_height <= 600


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


def test_selected_layer_follows_the_pipe(catalog: pd.DataFrame) -> None:
    pipe = hv.streams.Pipe(data=catalog[["umap_x", "umap_y"]].iloc[:0])
    obj = plots.umap_plot(catalog, selected=pipe)
    empty = obj[()].get(1)
    assert isinstance(empty, hv.RGB)
    assert int(empty.dimension_values("A").sum()) == 0
    pipe.send(catalog[["umap_x", "umap_y"]].iloc[:50])
    filled = obj[()].get(1)
    assert int((filled.dimension_values("A") > 0).sum()) > 0


def test_streams_attach_to_the_base_layer(catalog: pd.DataFrame) -> None:
    box, lasso = hv.streams.BoundsXY(), hv.streams.Lasso()
    plots.cmd_plot(catalog, streams=[box, lasso])
    assert box.source is not None and box.source is lasso.source
