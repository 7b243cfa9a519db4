"""Physics overlays: isochrone tracks, the equal-mass binary sequence, toggles without rebuilding."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from dashboard import overlays
from dashboard.overlays import OverlaySettings
from dashboard.state import DashboardState
from dashboard.views.cmd_view import CmdView
from dashboard.views.hr_view import HrView


def test_binary_sequence_is_0753_mag_brighter_on_cmd_and_0301_dex_on_hr() -> None:
    single, binary = overlays.sequences("cmd")
    assert len(single) > 50
    # Two equal stars send twice the flux: 2.5 log10(2) = 0.7526 mag brighter, at the same colour.
    np.testing.assert_allclose(single["y"] - binary["y"], 2.5 * np.log10(2.0), rtol=1e-9)
    np.testing.assert_array_equal(single["x"], binary["x"])
    single, binary = overlays.sequences("hr")
    np.testing.assert_allclose(binary["y"] - single["y"], np.log10(2.0))
    # The main sequence gets fainter towards red colours / cool temperatures.
    cmd_single, _ = overlays.sequences("cmd")
    assert np.corrcoef(cmd_single["x"], cmd_single["y"])[0, 1] > 0.9
    assert np.corrcoef(single["x"], single["y"])[0, 1] > 0.9


def test_older_isochrone_turns_off_redder_and_fainter() -> None:
    young, old = overlays.isochrone_track(1.0, "cmd"), overlays.isochrone_track(10.0, "cmd")
    assert len(young) > 50 and len(old) > 50
    # The bluest point is the turn-off: redder for the older isochrone.
    assert old["x"].min() > young["x"].min() + 0.2
    hr = overlays.isochrone_track(4.0, "hr")
    assert hr["x"].between(2000, 50_000).all()


def test_overlay_has_fixed_layers_empty_when_off() -> None:
    off = overlays.overlay_layers("cmd", [], False, ("bp_rp_mag", "abs_g_mag"))
    on = overlays.overlay_layers("cmd", [1.0, 10.0], True, ("bp_rp_mag", "abs_g_mag"))
    assert (
        [type(layer) for layer in off]
        == [type(layer) for layer in on]
        == [hv.Path, hv.Labels, hv.Curve, hv.Curve]
    )
    assert all(len(layer) == 0 for layer in off)
    paths, labels, single, binary = on
    assert len(paths.split()) == 2
    assert list(labels.dimension_values("label")) == ["1 Gyr", "10 Gyr", "MS", "twins"]
    # Age labels sit at the turn-offs: the older one redder and fainter.
    (x1, x10), (y1, y10) = labels.dimension_values("bp_rp_mag")[:2], labels.dimension_values("abs_g_mag")[:2]
    assert x10 > x1 and y10 > y1
    assert len(single) == len(binary) > 0
    assert [d.name for d in binary.dimensions()[:2]] == ["bp_rp_mag", "abs_g_mag"]


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown overlay kind"):
        OverlaySettings().layer("umap")


def _layers(plot: hv.DynamicMap) -> list:
    """The HoloViews layers of a view's plot: the base alone, or the base and the overlays."""
    frame = plot[()]
    return list(frame) if isinstance(frame, hv.Overlay) else [frame]


def test_overlays_switched_off_are_not_drawn_and_a_shown_one_redraws_alone(catalog: pd.DataFrame) -> None:
    settings = OverlaySettings()
    state = DashboardState(catalog=catalog)
    cmd, hr = CmdView(state=state, overlays=settings), HrView(state=state, overlays=settings)
    state.select(
        np.arange(len(catalog)) < 40, {"box": {"x": "umap_x", "y": "umap_y", "bounds": [0, 0, 1, 1]}}
    )
    # Off, no overlay layer is in the plot (each would be a renderer made for every page).
    assert not any(isinstance(layer, (hv.Path, hv.Labels, hv.Curve)) for layer in _layers(cmd._pane.object))
    settings.param.update(ages_gyr=[4.0], binary_sequence=True)  # switched on: the plots take the layers
    cmd_plot, hr_plot = cmd._pane.object, hr._pane.object
    assert state.n_selected == 40 and cmd._selected.n_selected == 40, "the selection was reset"
    layers = _layers(cmd_plot)
    assert [type(layer) for layer in layers[-4:]] == [hv.Path, hv.Labels, hv.Curve, hv.Curve]
    assert len(layers[-4].split()) == 1 and len(layers[-1]) > 0 and len(_layers(hr_plot)[-1]) > 0
    settings.ages_gyr = [1.0, 4.0]  # while shown, a change redraws the overlay alone
    assert cmd._pane.object is cmd_plot and hr._pane.object is hr_plot, "the plots were rebuilt"
    assert len(_layers(cmd_plot)[-4].split()) == 2
    settings.binary_sequence = False
    assert cmd._pane.object is cmd_plot and len(_layers(cmd_plot)[-1]) == 0
    settings.ages_gyr = []  # all off: the layers leave the plot
    assert not any(isinstance(layer, (hv.Path, hv.Curve)) for layer in _layers(cmd._pane.object))
    assert cmd._selected.n_selected == 40


def test_controls_are_bound_to_the_settings() -> None:
    settings = OverlaySettings()
    column = settings.controls()
    ages, binary = column.objects[1], column.objects[2]
    ages.value = [0.1, 4.0]
    binary.value = True
    assert settings.ages_gyr == [0.1, 4.0] and settings.binary_sequence


def test_density_contours_enclose_the_stated_fractions(catalog: pd.DataFrame) -> None:
    from dashboard.contours import contour_levels, density_contours

    density = np.zeros((10, 10))
    density[2:4, 2:4] = 10.0  # 80 % of the total
    density[7, 7] = 5.0
    density[0, :] = 0.5
    # Cumulative shares from the densest cell: 0.2, 0.4, 0.6, 0.8 (the block), 0.9 (the 5), then 0.01 each.
    assert contour_levels(density, (0.5, 0.9, 0.95)) == [0.5, 5.0, 10.0]
    paths = density_contours(catalog, "umap_x", "umap_y")
    assert isinstance(paths, hv.Contours) and len(paths.split()) >= 4
    xs = np.concatenate([p.dimension_values("umap_x") for p in paths.split()])
    assert np.nanmin(xs) >= catalog["umap_x"].min() - 1.0 and np.nanmax(xs) <= catalog["umap_x"].max() + 1.0


def test_the_contour_switch_draws_them_on_every_view(catalog: pd.DataFrame) -> None:
    from dashboard.views.umap_view import UmapView

    settings = OverlaySettings()
    view = UmapView(state=DashboardState(catalog=catalog), overlays=settings)
    assert view._overlay() is None  # off by default: no layer in the plot
    settings.contours = True
    contours = [layer for layer in view._pane.object[()] if isinstance(layer, hv.Contours)]
    assert len(contours) == 1 and len(contours[0].split()) >= 4
