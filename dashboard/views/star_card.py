"""The star card of ``state.focused_row``: its light curve, spectrum, predictions and Gaia values.

The light curve raw and phase-folded, the spectrum with line zooms, the predictions with their
intervals and, for a simulated survey, the truth.

Arrays come from the survey's array store through one memory map per process
(``SurveyStore.read_array``): a card reads one row of each, so its cost does not grow with the
survey size. Every part of the card is built once per session and updated in place (Bokeh
``ColumnDataSource``s, ranges and ``Div`` texts), so a click sends the star's values, not new
figures, and the browser keeps its layout (issue 8: click to card within 0.3 s at 10^6 rows).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import Div
from markdown_it import MarkdownIt
from panel.io import unlocked

from dashboard.rounding import column_decimals, format_number, interval_decimals, uncertainty_decimals
from dashboard.safe_text import escape_markdown
from dashboard.state import DashboardState
from dashboard.store import column_label
from dashboard.views.card_plots import (
    CARD_WIDTH,
    CardPlots,
    lightcurve_data,
    spectrum_data,
)
from data import schema
from data.errors import DataError
from data.schema import TRUTH_PREFIX
from data.settings import survey_dir as default_survey_dir
from data.storage import SurveyStore

PROMPT = (
    "*Click a star in any view (or a row of the table) to see its light curve, spectrum and predictions.*"
)

GAIA_ROWS = (
    ("parallax_mas", "parallax_error_mas"),
    ("phot_g_mean_mag", None),
    ("bp_rp_mag", None),
    ("abs_g_mag", None),
    ("ruwe", None),
    ("radial_velocity_error_kms", None),
    ("ra_deg", None),
    ("dec_deg", None),
)


@dataclass(frozen=True)
class SurveyArrays:
    """Memory-mapped per-star arrays of one survey and their grids; None where the store lacks one."""

    lc_flux_pct: np.ndarray | None  # (N, C, T) memmap; channel 0 is relative flux in percent
    lc_mask: np.ndarray | None  # (N, T) bool memmap
    time_d: np.ndarray | None  # (T,) days since the first valid cadence
    spec_flux: np.ndarray | None  # (N, L) memmap, continuum-normalised
    spec_mask: np.ndarray | None  # (N, L) bool memmap
    wavelength_aa: np.ndarray | None  # (L,) rest-frame wavelength grid


def _grids(store: SurveyStore) -> dict[str, Any]:
    grids = store.read_manifest().get("grids")
    if not isinstance(grids, dict):
        raise DataError(store.manifest_path, "grids", "missing; re-run `desa ingest` to record the grids")
    return grids


def _pair(store: SurveyStore, values: str, mask: str, n_rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    if not (store.has_array(values) and store.has_array(mask)):
        return None
    pair = store.read_array(values), store.read_array(mask)
    for name, array in zip((values, mask), pair, strict=True):
        if array.shape[0] != n_rows:
            raise DataError(
                store.array_path(name), name, f"{array.shape[0]} rows for {n_rows} catalogue rows; re-ingest"
            )
    return pair


@pn.cache(max_items=4)
def _survey_arrays(path: str, n_rows: int, generation: str | None) -> SurveyArrays:
    store = SurveyStore(Path(path), generation=generation)
    lc = _pair(store, schema.LC.name, schema.LC_MASK.name, n_rows)
    spec = _pair(store, schema.SPEC.name, schema.SPEC_MASK.name, n_rows)
    time_d = wavelength = None
    if lc is not None or spec is not None:
        grids = _grids(store)
        try:
            if lc is not None:
                time_d = np.arange(int(grids["lc_length"])) * float(grids["lc_bin_d"])
            if spec is not None:
                lo, hi, n = (
                    float(grids["spec_min_aa"]),
                    float(grids["spec_max_aa"]),
                    int(grids["spec_length"]),
                )
                wavelength = np.logspace(np.log10(lo), np.log10(hi), n)
        except KeyError as exc:
            raise DataError(
                store.manifest_path, f"grids.{exc.args[0]}", "missing; re-run `desa ingest`"
            ) from exc
    return SurveyArrays(
        lc_flux_pct=None if lc is None else lc[0],
        lc_mask=None if lc is None else lc[1],
        time_d=time_d,
        spec_flux=None if spec is None else spec[0],
        spec_mask=None if spec is None else spec[1],
        wavelength_aa=wavelength,
    )


def survey_arrays(survey: Path, n_rows: int, *, generation: str | None = None) -> SurveyArrays:
    """The survey's memory-mapped light-curve and spectrum arrays, cached per process.

    ``generation``: the session's store generation (``DashboardState.generation``); None: current.
    """
    return _survey_arrays(str(Path(survey).expanduser().resolve()), int(n_rows), generation)


def _fmt(value: Any, decimals: int | None = None) -> str:
    """A value as shown: numbers rounded to ``decimals`` (else 4 significant digits), text escaped."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}" if decimals is None else format_number(value, decimals)
    if isinstance(value, (int, np.integer)):
        return str(value)
    return escape_markdown(value)  # text read from the catalogue


def predictions_table(star: pd.Series) -> str:
    """Markdown table: predicted value, 68 % interval and, when known, the truth per property."""
    has_truth = any(str(k).startswith(TRUTH_PREFIX) for k in star.index)
    head = "| property | predicted | 68 % interval |" + (" truth |" if has_truth else "")
    rule = "|---|---|---|" + ("---|" if has_truth else "")
    lines = [head, rule]
    for prop in schema.PROPERTIES:
        stem = prop.name
        if f"pred_{stem}" not in star.index:
            continue
        lo, hi = star.get(f"pred_{stem}_lo"), star.get(f"pred_{stem}_hi")
        # Rounded where the interval's half-width has its second significant digit.
        digits = interval_decimals(star[f"pred_{stem}"], lo, hi, f"pred_{stem}")
        interval = f"[{_fmt(lo, digits)}, {_fmt(hi, digits)}]"
        row = f"| {column_label(stem)} | {_fmt(star[f'pred_{stem}'], digits)} | {interval} |"
        # The truth the head was trained on: the intrinsic CMD, not the truth's reddened one.
        truth = star.get(f"{TRUTH_PREFIX}{prop.truth_column}") if prop.truth_column else None
        lines.append(row + (f" {_fmt(truth, digits)} |" if has_truth else ""))
    if "binary_prob" in star.index:
        # binary_prob is trained on the detectable label where the truth has it (training.tensors).
        label = star.get(TRUTH_PREFIX + "is_detectable_binary", star.get(TRUTH_PREFIX + "is_binary"))
        truth = f" {_fmt(label)} |" if has_truth else ""
        value = _fmt(star["binary_prob"], column_decimals("binary_prob"))
        lines.append(f"| binary probability | {value} | – |{truth}")
    return "\n".join(lines) if len(lines) > 2 else "*No predictions in the catalogue; run `desa embed`.*"


def gaia_table(star: pd.Series) -> str:
    """Markdown table of the star's Gaia values (source_id as text: it exceeds 2**53)."""
    lines = ["| Gaia DR3 | value |", "|---|---|"]
    if "gaia_source_id" in star.index:
        lines.append(f"| source_id | {int(star['gaia_source_id'])} |")
    for name, error in GAIA_ROWS:
        if name in star.index:
            sigma = star[error] if error and error in star.index else None
            found = None if sigma is None else uncertainty_decimals(sigma)
            digits = column_decimals(name) if found is None else found
            value = _fmt(star[name], digits) + ("" if sigma is None else f" ± {_fmt(sigma, digits)}")
            lines.append(f"| {column_label(name)} | {value} |")
    return "\n".join(lines)


def star_name(star: pd.Series) -> str:
    """The star's name: its light curve's mission and id (KIC, EPIC, TIC), else its LAMOST obsid."""
    mission, target = star.get(schema.MISSION), star.get(schema.TARGET_ID)
    prefix = {schema.KEPLER: "KIC", schema.K2: "EPIC", schema.TESS: "TIC"}
    if mission in prefix and target is not None and int(target) != schema.NO_ID:
        return f"{prefix[mission]} {int(target)}"
    if "kic_id" in star.index and int(star["kic_id"]) != schema.NO_ID:
        return f"KIC {int(star['kic_id'])}"
    if "lamost_obsid" in star.index and int(star["lamost_obsid"]) != schema.NO_ID:
        return f"LAMOST {int(star['lamost_obsid'])}"
    return f"row {int(star['row'])}"


def header_text(star: pd.Series) -> str:
    """Title line: KIC id, catalogue row, split and (when simulated) the true population."""
    name = star_name(star)
    parts = [f"## {name}", f"row {int(star['row'])}"]
    one_modality = not all(bool(star.get(flag, True)) for flag in schema.MODALITY_FLAGS)
    if one_modality:
        parts.append("one modality: not trained on")
    elif "split" in star.index:
        parts.append(f"{escape_markdown(star['split'])} split")
    population = star.get(TRUTH_PREFIX + schema.POPULATION)
    if population is not None and not pd.isna(population):
        parts.append(f"population **{escape_markdown(population)}** (truth)")
    return " · ".join(parts)


# --- the viewer ----------------------------------------------------------------------------------
#: Why a modality is missing, one note each: a note's text never changes, only whether it shows.
NOTES = {
    "lc_store": "No light-curve arrays in the store; run `desa ingest`.",
    "lc_masked": "No light curve for this star: every bin of its light curve is masked.",
    "spec_store": "No spectrum arrays in the store; run `desa ingest`.",
    "spec_masked": "No spectrum for this star: every pixel of its spectrum is masked.",
    "lc_absent": "Spectrum only: this star has no light curve. Its embedding and predictions come "
    "from the spectrum alone (the model's missing-modality path) and are less certain than their "
    "intervals say.",
    "spec_absent": "Light curve only: this star has no spectrum. Its embedding and predictions come "
    "from the light curve alone (the model's missing-modality path) and are less certain than their "
    "intervals say.",
}
#: Style of the card's text (Bokeh ``Div``s do not get Panel's Markdown theme).
TEXT_CSS = """
h2 { font-size: 1.35em; margin: 0.3em 0 0.5em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #8c8c8c; padding: 4px 8px; text-align: left; }
th { text-align: center; }
"""
#: The card's own Markdown has no HTML; raw HTML in it (say from a catalogue value) shows as text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def _text(markdown: str, width: int | None = None, css_classes: tuple[str, ...] = ()) -> Div:
    """A Bokeh ``Div`` of rendered Markdown whose ``text`` the card replaces per star.

    Not a Panel Markdown pane: Panel re-sets such a pane's stylesheets on its first updates,
    and every stylesheet change makes Bokeh walk all the page's models again (50-90 ms each on
    the 2-core server, several per early click).
    """
    return Div(text=_MARKDOWN.render(markdown), width=width, css_classes=list(css_classes))


def _text_pane(div: Div) -> pn.pane.Bokeh:
    # The pane sets the Div's stylesheets (Panel's theme plus these), so they go here.
    return pn.pane.Bokeh(div, stylesheets=[TEXT_CSS])


class StarCard(pn.viewable.Viewer):
    """Light curve, spectrum, predictions and Gaia values of ``state.focused_row``.

    Every part is built once and updated in place: figures through ``CardPlots``, text through
    ``Div.text``, notes by showing or hiding them. The text parts are on the page from the start
    (hidden until a star is chosen); the figures are built and join the page with the first star
    that has a light curve or spectrum, one message after its text, so a page without a focused
    star draws no empty figures.
    """

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")
    survey_dir = param.Path(default=None, check_exists=False, doc="Survey folder; DESA_DATA_DIR/DESA_SURVEY.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._header = _text(PROMPT, css_classes=("star-card-header",))
        self._predictions = _text("", width=CARD_WIDTH)
        self._gaia = _text("", width=CARD_WIDTH)
        self._tables = pn.Column(_text_pane(self._predictions), _text_pane(self._gaia), visible=False)
        self._notes = {key: _note(text) for key, text in NOTES.items()}
        self._plots: CardPlots | None = None
        self._row: int | None = None  # the star shown
        self._doc = pn.state.curdoc  # the session's document (None outside a server)
        self._card = pn.Column(
            _text_pane(self._header),
            *self._notes.values(),
            self._tables,
            css_classes=["star-card"],
            sizing_mode="stretch_width",
        )
        self.state.param.watch(self._on_focus, "focused_row")
        if self.state.focused_row is not None:
            self.show(self.state.focused_row)

    def plots(self) -> CardPlots:
        """The card's figures, built on first use."""
        if self._plots is None:
            self._plots = CardPlots()
        return self._plots

    def _arrays(self) -> SurveyArrays:
        folder = Path(self.survey_dir) if self.survey_dir else default_survey_dir()
        return survey_arrays(folder, self.state.n_rows, generation=self.state.generation)

    def _on_focus(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.show(event.new)

    def show(self, row: int) -> None:
        """Fill the card for catalogue ``row``; a missing modality becomes a note, not an error.

        A click arrives in an async HoloViews callback that does not hold the session's document
        lock, so the card's Bokeh models are changed inside ``unlocked`` (which sends them as one
        message); a change from outside the session waits for its next tick.
        """
        catalog = self.state.catalog
        if not 0 <= row < len(catalog):
            raise ValueError(f"row {row} is outside the catalogue (0..{len(catalog) - 1})")
        doc = self._doc
        if doc is not None and doc.session_context is not None and pn.state.curdoc is not doc:
            doc.add_next_tick_callback(partial(self._fill, row))
            return
        with unlocked():
            self._fill(row)

    def _fill(self, row: int) -> None:
        self._row = row
        star = self.state.catalog.iloc[row]
        arrays = self._arrays()
        missing = _missing(arrays, row, star)
        self._header.text = _MARKDOWN.render(header_text(star))
        self._predictions.text = _MARKDOWN.render(predictions_table(star))
        self._gaia.text = _MARKDOWN.render(gaia_table(star))
        self._tables.visible = True
        for key, note in self._notes.items():
            note.visible = key in missing.values()
        wanted = [kind for kind in ("lc", "spec") if missing[kind] is None]
        if self._plots is None and not wanted:
            return
        if self._plots is None or not self._attached(wanted):
            # Text first: building the figures takes 0.1 s here and about a second in the browser.
            pn.state.execute(partial(self._fill_plots, arrays, row, star, missing), schedule=True)
        else:
            self._fill_plots(arrays, row, star, missing)

    def _fill_plots(self, arrays: SurveyArrays, row: int, star: pd.Series, missing: dict) -> None:
        """Plot the star's light curve and spectrum; put the figures on the page when first needed."""
        if row != self._row:
            return  # another star was chosen before this deferred call ran
        if missing["lc"] is None or missing["spec"] is None:
            plots = self.plots()
            if missing["lc"] is None:
                flux, mask = arrays.lc_flux_pct[row, 0], arrays.lc_mask[row]
                plots.show_lightcurve(lightcurve_data(arrays.time_d, flux, mask, star))
            if missing["spec"] is None:
                flux, mask = arrays.spec_flux[row], arrays.spec_mask[row]
                plots.show_spectrum(spectrum_data(arrays.wavelength_aa, flux, mask))
        if self._plots is not None:
            self._plots.lightcurve_pane.visible = missing["lc"] is None
            self._plots.spectrum_pane.visible = missing["spec"] is None
            self._attach_plots()

    def _attached(self, kinds: list[str]) -> bool:
        panes = {"lc": self._plots.lightcurve_pane, "spec": self._plots.spectrum_pane}
        return all(panes[kind] in self._card.objects for kind in kinds)

    def _attach_plots(self) -> None:
        """Add the figures with something to show to the page; they stay there (hidden or not).

        New models on the page make Bokeh walk the page's model graph: frozen, that is done once.
        """
        plots, notes = self._plots, list(self._notes.values())
        wanted = [p for p in (plots.lightcurve_pane, plots.spectrum_pane) if p.visible]
        if all(p in self._card.objects for p in wanted):
            return
        order = [self._card.objects[0], *notes[:2], plots.lightcurve_pane, *notes[2:]]
        order += [plots.spectrum_pane, self._tables]
        with self._doc.models.freeze() if self._doc is not None else nullcontext():
            self._card.objects = [p for p in order if p in self._card.objects or p in wanted]

    def __panel__(self) -> pn.viewable.Viewable:
        return self._card


def _missing(arrays: SurveyArrays, row: int, star: pd.Series | None = None) -> dict[str, str | None]:
    """The ``NOTES`` key of why the star's light curve (``lc``) or spectrum (``spec``) is missing.

    A star the catalogue marks as observed in one modality (``has_lightcurve``/``has_spectrum``
    False) gets the one-modality note; a star whose arrays are all masked otherwise, the masked one.
    """
    star = pd.Series(dtype=object) if star is None else star
    lc = spec = None
    if arrays.lc_mask is None:
        lc = "lc_store"
    elif not bool(star.get(schema.HAS_LIGHTCURVE, True)):
        lc = "lc_absent"
    elif not np.asarray(arrays.lc_mask[row]).any():
        lc = "lc_masked"
    if arrays.spec_mask is None:
        spec = "spec_store"
    elif not bool(star.get(schema.HAS_SPECTRUM, True)):
        spec = "spec_absent"
    elif not np.asarray(arrays.spec_mask[row]).any():
        spec = "spec_masked"
    return {"lc": lc, "spec": spec}


def _note(text: str) -> pn.pane.Alert:
    return pn.pane.Alert(text, alert_type="secondary", css_classes=["star-card-note"], visible=False)
