"""The CMD in dereddened (GSP-Phot) or observed photometry: state, view, overlays, URL and excess."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from panel.io.location import Location

from dashboard import overlays as ov
from dashboard.overlays import OverlaySettings
from dashboard.state import DEREDDENED, OBSERVED, DashboardState
from dashboard.store import CMD_EXCESS, add_derived_columns, cmd_excess, median_reddening
from dashboard.urlstate import UrlSync, restore
from dashboard.views.cmd_view import CmdView
from dashboard.views.controls import Controls
from data.query import expression_mask

DEREDDENED_COLUMNS = ["bp_rp0_mag", "abs_g0_mag", "ag_gspphot_mag", "ebpminrp_gspphot_mag"]


@pytest.fixture
def no_gspphot(catalog: pd.DataFrame) -> pd.DataFrame:
    """The catalogue as ingest writes it from a Gaia table without GSP-Phot: empty columns."""
    return catalog.assign(**{name: np.float32(np.nan) for name in DEREDDENED_COLUMNS})


def _labels(view: CmdView) -> tuple[str, str, str]:
    """Axis labels and title of the view's Bokeh figure."""
    fig = hv.renderer("bokeh").get_plot(view._pane.object).state
    return fig.xaxis[0].axis_label, fig.yaxis[0].axis_label, fig.title.text


def test_dereddened_is_the_default_and_the_switch_redraws_on_the_observed_columns(
    catalog: pd.DataFrame,
) -> None:
    state = DashboardState(catalog=catalog)
    assert state.param.cmd_photometry.objects == [DEREDDENED, OBSERVED]
    assert state.cmd_photometry == DEREDDENED and state.cmd_columns == ("bp_rp0_mag", "abs_g0_mag")
    view = CmdView(state=state)
    state.select(np.arange(len(catalog)) < 30, {"expression": "row < 30"})
    first = view._pane.object
    assert _labels(view) == ("(BP − RP)₀ [mag]", "M_G,0 [mag]", "Gaia CMD (dereddened)")
    assert "GSP-Phot" in view._note.object and "not shown" in view._note.object

    state.cmd_photometry = OBSERVED
    assert view._pane.object is not first
    assert _labels(view) == ("BP − RP [mag]", "M_G [mag]", "Gaia CMD (observed)")
    assert "Observed (reddened)" in view._note.object
    assert view.columns() == ("bp_rp_mag", "abs_g_mag")
    assert view._selected.n_selected == 30, "the selection survives the switch"


def test_a_box_on_the_dereddened_cmd_selects_by_the_plotted_columns(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    view = CmdView(state=state)
    view._on_box(bounds=(0.6, 3.0, 1.2, 6.0))
    assert state.expression.startswith("box(bp_rp0_mag, abs_g0_mag,")
    expected = (catalog["bp_rp0_mag"].between(0.6, 1.2) & catalog["abs_g0_mag"].between(3.0, 6.0)).to_numpy()
    assert 0 < expected.sum() < len(catalog)
    np.testing.assert_array_equal(state.mask, expected)
    np.testing.assert_array_equal(expression_mask(state.expression, catalog), expected)
    state.cmd_photometry = OBSERVED  # the selection keeps meaning what it said
    np.testing.assert_array_equal(state.mask, expected)


def test_without_gspphot_values_the_cmd_is_observed_and_says_so(no_gspphot: pd.DataFrame) -> None:
    state = DashboardState(catalog=no_gspphot, cmd_photometry=DEREDDENED)
    assert state.param.cmd_photometry.objects == [OBSERVED] and state.cmd_photometry == OBSERVED
    view = CmdView(state=state)
    assert view.columns() == ("bp_rp_mag", "abs_g_mag")
    assert _labels(view)[0] == "BP − RP [mag]"
    assert view._note.object.startswith("No GSP-Phot extinctions in this catalogue")
    assert Controls(state=state)._photometry.disabled


def test_observed_cmd_gets_isochrones_reddened_by_the_median_gspphot_reddening(catalog: pd.DataFrame) -> None:
    e_bp_rp, a_g = median_reddening(catalog)
    assert 0.05 < e_bp_rp < a_g < 1.0
    plain = ov.overlay_layers("cmd", [1.0], True, ("bp_rp_mag", "abs_g_mag"))
    shifted = ov.overlay_layers("cmd", [1.0], True, ("bp_rp_mag", "abs_g_mag"), (e_bp_rp, a_g))
    for before, after in zip(plain, shifted, strict=True):
        np.testing.assert_allclose(after.dimension_values(0), before.dimension_values(0) + e_bp_rp)
        np.testing.assert_allclose(after.dimension_values(1), before.dimension_values(1) + a_g)
    settings = OverlaySettings(binary_sequence=True)
    state = DashboardState(catalog=catalog, cmd_photometry=OBSERVED)
    view = CmdView(state=state, overlays=settings)
    single = list(view._pane.object[()])[-2]  # the single-star sequence of the overlay
    base_single, _ = ov.sequences("cmd")
    np.testing.assert_allclose(single.dimension_values(1), base_single["y"] + a_g)


def test_the_cmd_photometry_goes_into_the_url_and_comes_back(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    location = Location(search="")
    sync = UrlSync(state, location)
    assert "cmd" not in sync.search, "the default is not written"
    state.cmd_photometry = OBSERVED
    assert "cmd=observed" in sync.search
    fresh = DashboardState(catalog=catalog)
    assert restore(fresh, sync.search) == [] and fresh.cmd_photometry == OBSERVED


def test_a_link_asking_for_dereddened_photometry_that_is_not_there_is_reported(
    no_gspphot: pd.DataFrame,
) -> None:
    state = DashboardState(catalog=no_gspphot)
    problems = restore(state, "?cmd=dereddened")
    assert len(problems) == 1 and "cmd='dereddened' is not available" in problems[0]
    assert state.cmd_photometry == OBSERVED


def test_height_above_the_main_sequence_is_measured_dereddened(catalog: pd.DataFrame) -> None:
    expected = cmd_excess(catalog["bp_rp0_mag"].to_numpy(), catalog["abs_g0_mag"].to_numpy())
    np.testing.assert_allclose(catalog[CMD_EXCESS], expected, rtol=1e-5)
    assert catalog.loc[catalog["bp_rp0_mag"].isna(), CMD_EXCESS].isna().all()
    singles = catalog["true_population"] == "single"
    observed = cmd_excess(catalog["bp_rp_mag"].to_numpy(), catalog["abs_g_mag"].to_numpy())
    assert np.nanmedian(catalog.loc[singles, CMD_EXCESS]) < np.nanmedian(observed[singles.to_numpy()])
    fallback = add_derived_columns(catalog.drop(columns=[CMD_EXCESS]).assign(bp_rp0_mag=np.nan))
    np.testing.assert_allclose(fallback[CMD_EXCESS], observed, rtol=1e-5)
