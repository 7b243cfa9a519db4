"""The star card: plots for a focused star, notes for a missing modality, clear store errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from dashboard.state import DashboardState
from dashboard.views import star_card
from dashboard.views.star_card import StarCard
from data.errors import DataError
from data.storage import SurveyStore


@pytest.fixture
def state(catalog: pd.DataFrame) -> DashboardState:
    return DashboardState(catalog=catalog)


def test_card_shows_lightcurve_spectrum_and_predictions_for_the_focused_star(
    state: DashboardState, survey_dir: Path
) -> None:
    card = StarCard(state=state, survey_dir=survey_dir)
    assert "Click a star" in card._header.object
    assert card.__panel__().objects == [card._header], "no empty plots before a star is chosen"
    assert not card._lc_pane.visible and not card._spec_pane.visible
    state.focused_row = 5
    star = state.catalog.iloc[5]
    assert f"KIC {int(star['kic_id'])}" in card._header.object
    assert card.__panel__().css_classes == ["star-card"]
    assert card._lc_pane.visible and card._spec_pane.visible and not card._lc_note.visible

    mask = SurveyStore(survey_dir).read_array("lc_mask")[5]
    data = card._lc.data
    assert len(data["time_d"]) == mask.sum() > 0
    raw, folded = (layer[()] for layer in card._lc_pane.object)
    assert isinstance(raw, hv.Scatter) and len(raw) == mask.sum()
    assert raw.kdims[0].name == "time [d]"
    assert folded.opts.get().kwargs["title"].startswith("Folded at ") and len(folded) == mask.sum()
    assert float(data["phase"].min()) >= 0 and float(data["phase"].max()) < 1
    full, zooms = (pane.object for pane in card._spec_pane)
    spectrum = full[()]
    assert isinstance(spectrum, hv.Curve) and len(spectrum) == 2048
    titles = [dmap[()].get(0).opts.get().kwargs["title"] for dmap in zooms]
    assert titles == ["Li I 6708", "H-alpha 6563", "Ca II triplet"]
    assert "| teff [K] |" in card._predictions.object and "68 % interval" in card._predictions.object
    assert "| truth |" in card._predictions.object
    assert str(int(star["gaia_source_id"])) in card._gaia.object


def test_fold_uses_true_orbital_period_for_binaries_else_predicted_rotation(catalog: pd.DataFrame) -> None:
    binaries = np.flatnonzero(np.isfinite(catalog["true_porb_d"].to_numpy()))
    singles = np.flatnonzero(~np.isfinite(catalog["true_porb_d"].to_numpy()))
    period, label = star_card.fold_period(catalog.iloc[binaries[0]])
    assert period == pytest.approx(float(catalog["true_porb_d"].iloc[binaries[0]]))
    assert label.startswith("P_orb") and "truth" in label
    period, label = star_card.fold_period(catalog.iloc[singles[0]])
    assert period == pytest.approx(float(catalog["pred_prot_d"].iloc[singles[0]]))
    assert label.startswith("predicted P_rot")
    no_period = catalog.iloc[singles[0]].drop(["pred_prot_d"])
    assert star_card.fold_period(no_period) is None


def test_folding_at_the_true_period_lines_up_the_modulation(catalog: pd.DataFrame, survey_dir: Path) -> None:
    """Synthetic light curves are sines at the true period: folded, flux follows sin(2 pi phase)."""
    arrays = star_card.survey_arrays(survey_dir, len(catalog))
    row = int(np.flatnonzero(np.isfinite(catalog["true_porb_d"].to_numpy()))[0])
    data = star_card.lightcurve_data(
        arrays.time_d, arrays.lc_flux_pct[row, 0], arrays.lc_mask[row], catalog.iloc[row]
    )
    model = np.sin(2 * np.pi * data["phase"])
    assert np.corrcoef(model, data["flux_pct"])[0, 1] > 0.9


def test_star_without_a_lightcurve_gets_a_note_not_a_crash(state: DashboardState, survey_dir: Path) -> None:
    card = StarCard(state=state, survey_dir=survey_dir)
    last = state.n_rows - 1  # synthetic.py masks every bin of the last star's light curve
    state.focused_row = last
    assert card._lc_note.visible and "No light curve for this star" in card._lc_note.object
    assert not card._lc_pane.visible
    assert card._spec_pane.visible, "the spectrum is still there"
    state.focused_row = 1
    assert card._lc_pane.visible and not card._lc_note.visible


def test_survey_without_arrays_gets_notes(tmp_path: Path, survey_dir: Path, state: DashboardState) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(survey_dir / "store", bare / "store", ignore=shutil.ignore_patterns("arrays"))
    card = StarCard(state=state, survey_dir=bare)
    state.focused_row = 0
    assert "No light-curve arrays" in card._lc_note.object and "No spectrum arrays" in card._spec_note.object
    assert not card._lc_pane.visible and not card._spec_pane.visible
    assert "KIC" in card._header.object


def test_arrays_without_grid_manifest_name_the_field(tmp_path: Path, survey_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(survey_dir / "store", broken / "store")
    (broken / "store" / "manifest.json").unlink()
    with pytest.raises(DataError, match=r"manifest\.json: grids"):
        star_card.survey_arrays(broken, 600)


def test_arrays_of_the_wrong_length_name_the_array(survey_dir: Path) -> None:
    with pytest.raises(DataError, match=r"lc_channels.*599 catalogue rows"):
        star_card.survey_arrays(survey_dir, 599)


def test_row_outside_the_catalogue_is_refused(state: DashboardState, survey_dir: Path) -> None:
    card = StarCard(state=state, survey_dir=survey_dir)
    with pytest.raises(ValueError, match="outside the catalogue"):
        card.show(state.n_rows)


def test_line_zoom_keeps_the_whole_line_in_view() -> None:
    wave = np.linspace(6500.0, 6600.0, 201)
    flux = 1.0 - 0.8 * np.exp(-0.5 * ((wave - 6562.8) / 1.5) ** 2)
    zoom = star_card.line_zoom(star_card.spectrum_data(wave, flux, np.ones_like(wave, bool)), "H-alpha 6563")
    curve = zoom.get(0)
    low, high = curve.opts.get().kwargs["ylim"]
    assert low < flux.min() and high > 1.0
    assert curve.range(0)[0] >= 6538.0 and curve.range(0)[1] <= 6588.0
