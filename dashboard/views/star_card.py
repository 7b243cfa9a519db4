"""The star card: light curve (raw and phase-folded), spectrum with line zooms, predictions with
intervals, Gaia values and, for a simulated survey, the truth, for ``state.focused_row``.

Arrays come from the survey's array store through one memory map per process
(``SurveyStore.read_array``): a card reads one row of each, so its cost does not grow with the
survey size. Plots are plain Bokeh glyphs (one star needs no datashader).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # registers the bokeh backend that .opts needs
import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard.state import DashboardState
from dashboard.store import TRUTH_PREFIX, column_label
from data import catalog as schema
from data.errors import DataError
from data.settings import survey_dir as default_survey_dir
from data.storage import SurveyStore

#: Line zooms: title -> (min, max) wavelength [Å] and the rest wavelengths marked.
LINE_ZOOMS = {
    "Li I 6708": ((6688.0, 6728.0), (6707.8,)),
    "H-alpha 6563": ((6538.0, 6588.0), (6562.8,)),
    "Ca II triplet": ((8475.0, 8685.0), (8498.0, 8542.1, 8662.1)),
}
LC_COLOR, FOLD_COLOR, SPEC_COLOR, LINE_COLOR = "#0072B2", "#009E73", "#3b3b3b", "#e6007e"
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
def _survey_arrays(path: str, n_rows: int) -> SurveyArrays:
    store = SurveyStore(Path(path))
    lc = _pair(store, "lc_channels", "lc_mask", n_rows)
    spec = _pair(store, "spec_flux", "spec_mask", n_rows)
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


def survey_arrays(survey: Path, n_rows: int) -> SurveyArrays:
    """The survey's memory-mapped light-curve and spectrum arrays, cached per process."""
    return _survey_arrays(str(Path(survey).expanduser().resolve()), int(n_rows))


# --- pure builders -------------------------------------------------------------------------------
def fold_period(star: pd.Series) -> tuple[float, str] | None:
    """Period to fold at and its label: the true orbital period of a binary, else predicted Prot."""
    porb = star.get(f"{TRUTH_PREFIX}porb_d")
    if porb is not None and np.isfinite(porb) and porb > 0:
        return float(porb), f"P_orb = {porb:.4g} d (truth)"
    prot = star.get("pred_prot_d")
    if prot is not None and np.isfinite(prot) and prot > 0:
        return float(prot), f"predicted P_rot = {prot:.4g} d"
    return None


def lightcurve_data(time_d: np.ndarray, flux_pct: np.ndarray, mask: np.ndarray, star: pd.Series) -> dict:
    """The valid bins of one light curve and their phases at ``fold_period`` (None without one)."""
    mask = np.asarray(mask, dtype=bool)
    t, f = np.asarray(time_d)[mask], np.asarray(flux_pct, dtype=np.float64)[mask]
    fold = fold_period(star)
    if fold is None:
        return {"time_d": t, "flux_pct": f, "phase": None, "label": "no period to fold at"}
    period, label = fold
    return {"time_d": t, "flux_pct": f, "phase": np.mod(t, period) / period, "label": label}


EMPTY_LC = {"time_d": np.empty(0), "flux_pct": np.empty(0), "phase": None, "label": ""}


def raw_lightcurve(data: dict) -> hv.Scatter:
    """Relative flux against time in days, valid bins only."""
    return hv.Scatter((data["time_d"], data["flux_pct"]), "time [d]", "relative flux [%]").opts(
        title="Light curve", color=LC_COLOR, size=2, width=430, height=200, framewise=True
    )


def folded_lightcurve(data: dict) -> hv.Scatter:
    """The light curve folded at the period named in the title (empty when there is none)."""
    phase = data["phase"]
    points = (phase, data["flux_pct"]) if phase is not None else (np.empty(0), np.empty(0))
    return hv.Scatter(points, "phase", "relative flux [%]").opts(
        title=f"Folded at {data['label']}" if phase is not None else data["label"],
        color=FOLD_COLOR,
        size=2,
        width=330,
        height=200,
        xlim=(0, 1),
        framewise=True,
    )


def spectrum_data(wavelength_aa: np.ndarray, flux: np.ndarray, mask: np.ndarray) -> dict:
    """Wavelength and flux of one spectrum, masked pixels as NaN (drawn as gaps)."""
    values = np.where(np.asarray(mask, dtype=bool), np.asarray(flux, dtype=np.float64), np.nan)
    return {"wavelength_aa": np.asarray(wavelength_aa), "flux": values}


EMPTY_SPEC = {"wavelength_aa": np.empty(0), "flux": np.empty(0)}
SPEC_DIMS = ("wavelength [Å]", "normalised flux")


def spectrum_curve(data: dict) -> hv.Curve:
    """The whole rest-frame spectrum."""
    return hv.Curve((data["wavelength_aa"], data["flux"]), *SPEC_DIMS).opts(
        title="Spectrum (rest frame)", color=SPEC_COLOR, line_width=1, width=770, height=200, framewise=True
    )


def line_zoom(data: dict, title: str) -> hv.Overlay:
    """One ``LINE_ZOOMS`` window of the spectrum with its rest wavelengths marked."""
    (lo, hi), lines = LINE_ZOOMS[title]
    wave = data["wavelength_aa"]
    inside = (wave >= lo) & (wave <= hi)
    flux = data["flux"][inside]
    finite = flux[np.isfinite(flux)]
    # The y range from this window's own pixels, so a deep line is never clipped.
    pad = 0.05 * (finite.max() - finite.min()) if finite.size else 0.0
    ylim = (finite.min() - pad, finite.max() + pad) if finite.size and pad > 0 else (None, None)
    curve = hv.Curve((wave[inside], flux), *SPEC_DIMS).opts(
        title=title,
        color=SPEC_COLOR,
        line_width=1.5,
        width=256,
        height=180,
        xlim=(lo, hi),
        ylim=ylim,
        xticks=4,
        framewise=True,
    )
    marks = [hv.VLine(w).opts(color=LINE_COLOR, line_dash="dotted", line_width=1) for w in lines]
    return hv.Overlay([curve, *marks])


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def predictions_table(star: pd.Series) -> str:
    """Markdown table: predicted value, 68 % interval and, when known, the truth per property."""
    has_truth = any(str(k).startswith(TRUTH_PREFIX) for k in star.index)
    head = "| property | predicted | 68 % interval |" + (" truth |" if has_truth else "")
    rule = "|---|---|---|" + ("---|" if has_truth else "")
    lines = [head, rule]
    for stem in schema.PREDICTED:
        if f"pred_{stem}" not in star.index:
            continue
        interval = f"[{_fmt(star.get(f'pred_{stem}_lo'))}, {_fmt(star.get(f'pred_{stem}_hi'))}]"
        row = f"| {column_label(stem)} | {_fmt(star[f'pred_{stem}'])} | {interval} |"
        lines.append(row + (f" {_fmt(star.get(TRUTH_PREFIX + stem))} |" if has_truth else ""))
    if "binary_prob" in star.index:
        truth = f" {_fmt(star.get(TRUTH_PREFIX + 'is_binary'))} |" if has_truth else ""
        lines.append(f"| binary probability | {_fmt(star['binary_prob'])} | – |{truth}")
    return "\n".join(lines) if len(lines) > 2 else "*No predictions in the catalogue; run `desa embed`.*"


def gaia_table(star: pd.Series) -> str:
    """Markdown table of the star's Gaia values (source_id as text: it exceeds 2**53)."""
    lines = ["| Gaia DR3 | value |", "|---|---|"]
    if "gaia_source_id" in star.index:
        lines.append(f"| source_id | {int(star['gaia_source_id'])} |")
    for name, error in GAIA_ROWS:
        if name in star.index:
            value = _fmt(star[name]) + (f" ± {_fmt(star[error])}" if error and error in star.index else "")
            lines.append(f"| {column_label(name)} | {value} |")
    return "\n".join(lines)


def header_text(star: pd.Series) -> str:
    """Title line: KIC id, catalogue row, split and (when simulated) the true population."""
    name = f"KIC {int(star['kic_id'])}" if "kic_id" in star.index else f"row {int(star['row'])}"
    parts = [f"## {name}", f"row {int(star['row'])}"]
    if "split" in star.index:
        parts.append(f"{star['split']} split")
    population = star.get(f"{TRUTH_PREFIX}population")
    if population is not None and not pd.isna(population):
        parts.append(f"population **{population}** (truth)")
    return " · ".join(parts)


# --- the viewer ----------------------------------------------------------------------------------
class StarCard(pn.viewable.Viewer):
    """Light curve, spectrum, predictions and Gaia values of ``state.focused_row``.

    The plots are built once and fed through ``Pipe`` streams, so showing another star sends only
    its data to the browser instead of new figures (0.15-0.2 s per star on the 2,500-star demo,
    2-core machine, measured in the Python process only).
    """

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")
    survey_dir = param.Path(default=None, check_exists=False, doc="Survey folder; DESA_DATA_DIR/DESA_SURVEY.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._lc = hv.streams.Pipe(data=EMPTY_LC)
        self._spec = hv.streams.Pipe(data=EMPTY_SPEC)
        lc_plots = hv.DynamicMap(raw_lightcurve, streams=[self._lc]) + hv.DynamicMap(
            folded_lightcurve, streams=[self._lc]
        )
        zooms = hv.Layout(
            [hv.DynamicMap(partial(line_zoom, title=title), streams=[self._spec]) for title in LINE_ZOOMS]
        )
        self._header = pn.pane.Markdown(PROMPT, css_classes=["star-card-header"])
        self._lc_pane = pn.pane.HoloViews(
            lc_plots.cols(2).opts(shared_axes=False), css_classes=["star-lightcurve"], visible=False
        )
        self._spec_pane = pn.Column(
            pn.pane.HoloViews(hv.DynamicMap(spectrum_curve, streams=[self._spec])),
            pn.pane.HoloViews(zooms.cols(3).opts(shared_axes=False)),
            css_classes=["star-spectrum"],
            visible=False,
        )
        self._lc_note = _note("")
        self._spec_note = _note("")
        self._predictions = pn.pane.Markdown("", width=460, visible=False)
        self._gaia = pn.pane.Markdown("", width=330, visible=False)
        self._parts = [
            self._lc_note,
            self._lc_pane,
            self._spec_note,
            self._spec_pane,
            pn.Row(self._predictions, self._gaia),
        ]
        # The plots join the page with the first star: a page without a focused star draws no
        # empty figures.
        self._card = pn.Column(self._header, css_classes=["star-card"], sizing_mode="stretch_width")
        self.state.param.watch(self._on_focus, "focused_row")
        if self.state.focused_row is not None:
            self.show(self.state.focused_row)

    def _arrays(self) -> SurveyArrays:
        folder = Path(self.survey_dir) if self.survey_dir else default_survey_dir()
        return survey_arrays(folder, self.state.n_rows)

    def _on_focus(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.show(event.new)

    def show(self, row: int) -> None:
        """Fill the card for catalogue ``row``; a missing modality becomes a note, not an error."""
        catalog = self.state.catalog
        if not 0 <= row < len(catalog):
            raise ValueError(f"row {row} is outside the catalogue (0..{len(catalog) - 1})")
        star = catalog.iloc[row]
        arrays = self._arrays()
        lc_note = spec_note = ""
        if arrays.lc_mask is None:
            lc_note = "No light-curve arrays in the store; run `desa ingest`."
        elif not np.asarray(arrays.lc_mask[row]).any():
            lc_note = "No light curve for this star: every bin of its light curve is masked."
        else:
            self._lc.send(
                lightcurve_data(arrays.time_d, arrays.lc_flux_pct[row, 0], arrays.lc_mask[row], star)
            )
        if arrays.spec_mask is None:
            spec_note = "No spectrum arrays in the store; run `desa ingest`."
        elif not np.asarray(arrays.spec_mask[row]).any():
            spec_note = "No spectrum for this star: every pixel of its spectrum is masked."
        else:
            self._spec.send(spectrum_data(arrays.wavelength_aa, arrays.spec_flux[row], arrays.spec_mask[row]))
        self._header.object = header_text(star)
        self._lc_note.param.update(object=lc_note, visible=bool(lc_note))
        self._lc_pane.visible = not lc_note
        self._spec_note.param.update(object=spec_note, visible=bool(spec_note))
        self._spec_pane.visible = not spec_note
        self._predictions.param.update(object=predictions_table(star), visible=True)
        self._gaia.param.update(object=gaia_table(star), visible=True)
        if len(self._card.objects) == 1:
            self._card.extend(self._parts)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._card


def _note(text: str) -> pn.pane.Alert:
    return pn.pane.Alert(text, alert_type="secondary", css_classes=["star-card-note"], visible=bool(text))
