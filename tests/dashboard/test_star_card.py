"""The star card: plots for a focused star, notes for a missing modality, clear store errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.models import Span

from dashboard.state import DashboardState
from dashboard.views import card_plots, star_card
from dashboard.views.star_card import StarCard
from data import preprocess
from data.errors import DataError
from data.storage import SurveyStore


@pytest.fixture
def state(catalog: pd.DataFrame) -> DashboardState:
    return DashboardState(catalog=catalog)


def test_card_shows_lightcurve_spectrum_and_predictions_for_the_focused_star(
    state: DashboardState, survey_dir: Path
) -> None:
    card = StarCard(state=state, survey_dir=survey_dir)
    assert "Click a star" in card._header.text
    shown = [part for part in card.__panel__().objects if part.visible]
    assert shown == card.__panel__().objects[:1], "no empty plots or tables before a star is chosen"
    assert not [pane for pane in card.__panel__().select(pn.pane.Bokeh) if pane.object.name == "figure"]
    state.focused_row = 5
    star = state.catalog.iloc[5]
    assert f"KIC {int(star['kic_id'])}" in card._header.text
    assert card.__panel__().css_classes == ["star-card"]
    plots = card.plots()
    shown = card.__panel__().objects
    assert plots.lightcurve_pane in shown and plots.spectrum_pane in shown
    assert plots.lightcurve_pane.visible and plots.spectrum_pane.visible and card._tables.visible
    assert not any(note.visible for note in card._notes.values())

    mask = SurveyStore(survey_dir).read_array("lc_mask")[5]
    data = plots.lc_source.data
    assert len(data["time_d"]) == len(data["flux_pct"]) == mask.sum() > 0
    assert plots.raw.title.text == "Light curve" and plots.raw.xaxis[0].axis_label == "time [d]"
    assert plots.folded.title.text.startswith("Folded at ")
    assert float(data["phase"].min()) >= 0 and float(data["phase"].max()) < 1
    # Raw and folded plots read one source: the light curve is sent once.
    assert {r.data_source for r in plots.raw.renderers + plots.folded.renderers} == {plots.lc_source}
    assert plots.raw.x_range.start <= data["time_d"].min() and plots.raw.x_range.end >= data["time_d"].max()
    assert len(plots.spec_source.data["flux"]) == preprocess.SPEC_LENGTH
    assert plots.spectrum.title.text == "Spectrum (rest frame)"
    assert [zoom.title.text for zoom in plots.zooms.values()] == list(card_plots.LINE_ZOOMS)
    assert list(card_plots.LINE_ZOOMS) == ["Li I 6708", "H-alpha 6563", "Ca II triplet"]
    assert "<td>teff [K]</td>" in card._predictions.text
    assert "<th>68 % interval</th>" in card._predictions.text
    assert "<th>truth</th>" in card._predictions.text
    assert str(int(star["gaia_source_id"])) in card._gaia.text


def test_another_star_updates_the_figures_in_place(state: DashboardState, survey_dir: Path) -> None:
    """A new star changes data, ranges and titles only: no new figure, no new card layout."""
    card = StarCard(state=state, survey_dir=survey_dir)
    state.focused_row = 5
    plots, layout = card.plots(), list(card.__panel__().objects)
    figures = (plots.raw, plots.folded, plots.spectrum, *plots.zooms.values())
    first = (plots.lc_source.data["flux_pct"].copy(), plots.raw.y_range.start, card._header.text)
    state.focused_row = 7
    assert card.plots() is plots and card.__panel__().objects == layout
    assert (plots.raw, plots.folded, plots.spectrum, *plots.zooms.values()) == figures
    assert not np.array_equal(plots.lc_source.data["flux_pct"], first[0])
    assert plots.raw.y_range.start != first[1] and card._header.text != first[2]
    assert plots.raw.y_range.reset_start == plots.raw.y_range.start, "reset returns to this star"
    # A deferred plot update for a star no longer chosen changes nothing.
    shown = plots.lc_source.data["flux_pct"].copy()
    arrays = star_card.survey_arrays(survey_dir, state.n_rows)
    card._fill_plots(arrays, 5, state.catalog.iloc[5], star_card._missing(arrays, 5))
    assert np.array_equal(plots.lc_source.data["flux_pct"], shown)


def test_fold_uses_true_orbital_period_for_binaries_else_predicted_rotation(catalog: pd.DataFrame) -> None:
    binaries = np.flatnonzero(np.isfinite(catalog["true_porb_d"].to_numpy()))
    singles = np.flatnonzero(~np.isfinite(catalog["true_porb_d"].to_numpy()))
    period, label = card_plots.fold_period(catalog.iloc[binaries[0]])
    assert period == pytest.approx(float(catalog["true_porb_d"].iloc[binaries[0]]))
    assert label.startswith("P_orb") and "truth" in label
    period, label = card_plots.fold_period(catalog.iloc[singles[0]])
    assert period == pytest.approx(float(catalog["pred_prot_d"].iloc[singles[0]]))
    assert label.startswith("predicted P_rot")
    no_period = catalog.iloc[singles[0]].drop(["pred_prot_d"])
    assert card_plots.fold_period(no_period) is None


def test_folding_at_the_true_period_lines_up_the_modulation(catalog: pd.DataFrame, survey_dir: Path) -> None:
    """Synthetic light curves are sines at the true period: folded, flux follows sin(2 pi phase)."""
    arrays = star_card.survey_arrays(survey_dir, len(catalog))
    row = int(np.flatnonzero(np.isfinite(catalog["true_porb_d"].to_numpy()))[0])
    data = card_plots.lightcurve_data(
        arrays.time_d, arrays.lc_flux_pct[row, 0], arrays.lc_mask[row], catalog.iloc[row]
    )
    model = np.sin(2 * np.pi * data["phase"])
    assert np.corrcoef(model, data["flux_pct"])[0, 1] > 0.9


def test_star_without_a_lightcurve_gets_a_note_not_a_crash(state: DashboardState, survey_dir: Path) -> None:
    card = StarCard(state=state, survey_dir=survey_dir)
    last = state.n_rows - 1  # benchmarks/fixtures.py masks every bin of the last star's light curve
    state.focused_row = last
    plots = card.plots()
    note = card._notes["lc_masked"]
    assert note.visible and "No light curve for this star" in note.object
    assert [key for key, n in card._notes.items() if n.visible] == ["lc_masked"]
    assert plots.lightcurve_pane not in card.__panel__().objects, "no light curve yet, so no figures sent"
    assert plots.spectrum_pane.visible, "the spectrum is still there"
    state.focused_row = 1
    assert plots.lightcurve_pane.visible and not note.visible
    parts = card.__panel__().objects
    assert parts.index(plots.lightcurve_pane) < parts.index(card._notes["spec_store"])
    assert parts.index(plots.spectrum_pane) < parts.index(card._tables), "parts keep the card's order"


def test_survey_without_arrays_gets_notes(tmp_path: Path, survey_dir: Path, state: DashboardState) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(survey_dir / "store", bare / "store", ignore=shutil.ignore_patterns("arrays"))
    card = StarCard(state=state, survey_dir=bare)
    state.focused_row = 0
    assert [key for key, note in card._notes.items() if note.visible] == ["lc_store", "spec_store"]
    assert "No light-curve arrays" in card._notes["lc_store"].object
    assert card._plots is None, "no figures are built for a survey without arrays"
    assert not [pane for pane in card.__panel__().select(pn.pane.Bokeh) if pane.object.name == "figure"]
    assert "KIC" in card._header.text


def test_arrays_without_grid_manifest_name_the_field(tmp_path: Path, survey_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(survey_dir / "store", broken / "store")
    SurveyStore(broken).manifest_path.unlink()
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
    plots = card_plots.CardPlots()
    plots.show_spectrum(card_plots.spectrum_data(wave, flux, np.ones_like(wave, bool)))
    zoom = plots.zooms["H-alpha 6563"]
    assert zoom.y_range.start < flux.min() and zoom.y_range.end > 1.0
    assert (zoom.x_range.start, zoom.x_range.end) == (6538.0, 6588.0)
    assert [span.location for span in zoom.center if isinstance(span, Span)] == [6562.8]


def test_line_zoom_without_pixels_in_its_window_falls_back_to_the_whole_spectrum() -> None:
    wave = np.linspace(6500.0, 6600.0, 201)
    flux = np.linspace(0.5, 1.5, wave.size)
    data = card_plots.spectrum_data(wave, flux, (wave < 6538.0) | (wave > 6588.0))
    assert card_plots.zoom_ylim(data, "H-alpha 6563") is None
    plots = card_plots.CardPlots()
    plots.show_spectrum(data)
    zoom = plots.zooms["H-alpha 6563"]
    assert (zoom.y_range.start, zoom.y_range.end) == card_plots.value_limits(data["flux"])
