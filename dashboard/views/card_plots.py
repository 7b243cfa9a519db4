"""The star card's figures and the pure functions that feed them (dashboard/views/star_card.py).

Plain Bokeh, built once per session: a new star replaces the sources' data, the ranges and the
folded plot's title, so a click sends the star's values and the browser keeps its layout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, FixedTicker, Range1d, Span
from bokeh.plotting import figure

from data.schema import TRUTH_PREFIX

#: Line zooms: title -> (min, max) wavelength [Å] and the rest wavelengths marked.
LINE_ZOOMS = {
    "Li I 6708": ((6688.0, 6728.0), (6707.8,)),
    "H-alpha 6563": ((6538.0, 6588.0), (6562.8,)),
    "Ca II triplet": ((8475.0, 8685.0), (8498.0, 8542.1, 8662.1)),
}
LC_COLOR, FOLD_COLOR, SPEC_COLOR, LINE_COLOR = "#0072B2", "#009E73", "#3b3b3b", "#e6007e"


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
EMPTY_SPEC = {"wavelength_aa": np.empty(0), "flux": np.empty(0)}
SPEC_DIMS = ("wavelength [Å]", "normalised flux")


def spectrum_data(wavelength_aa: np.ndarray, flux: np.ndarray, mask: np.ndarray) -> dict:
    """Wavelength and flux of one spectrum, masked pixels as NaN (drawn as gaps)."""
    values = np.where(np.asarray(mask, dtype=bool), np.asarray(flux, dtype=np.float64), np.nan)
    return {"wavelength_aa": np.asarray(wavelength_aa), "flux": values}


def value_limits(values: np.ndarray, pad: float = 0.05) -> tuple[float, float] | None:
    """Finite range of ``values`` widened by ``pad`` of its span each side; None without one."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    margin = pad * (hi - lo) or 0.5 * pad * max(abs(lo), 1.0)
    return lo - margin, hi + margin


def zoom_ylim(data: dict, title: str) -> tuple[float, float] | None:
    """The flux range of one ``LINE_ZOOMS`` window, so a deep line is never clipped."""
    (lo, hi), _lines = LINE_ZOOMS[title]
    wave = data["wavelength_aa"]
    return value_limits(data["flux"][(wave >= lo) & (wave <= hi)])


def lightcurve_columns(data: dict) -> dict[str, np.ndarray]:
    """``lightcurve_data`` as the columns of the card's light-curve source (float32: half the bytes).

    Raw and folded plots share one source, so a star's light curve crosses the websocket once;
    without a period the phases are NaN and the folded plot stays empty.
    """
    phase = data["phase"] if data["phase"] is not None else np.full(len(data["time_d"]), np.nan)
    return {
        "time_d": np.asarray(data["time_d"], dtype=np.float32),
        "flux_pct": np.asarray(data["flux_pct"], dtype=np.float32),
        "phase": np.asarray(phase, dtype=np.float32),
    }


def spectrum_columns(data: dict) -> dict[str, np.ndarray]:
    """``spectrum_data`` as the columns of the card's spectrum source (shared by the zooms)."""
    return {
        "wavelength_aa": np.asarray(data["wavelength_aa"], dtype=np.float32),
        "flux": np.asarray(data["flux"], dtype=np.float32),
    }


# --- the plots -----------------------------------------------------------------------------------
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
#: Width of the card's figures, pixels: the card's column beside the views (dashboard/app.py).
CARD_WIDTH = 420


def _figure(
    title: str, xlabel: str, ylabel: str, width: int, height: int, x_range: Range1d | None = None
) -> figure:
    """A fixed-size figure with explicit ranges: the card, not the browser, frames each star."""
    fig = figure(
        title=title,
        x_axis_label=xlabel,
        y_axis_label=ylabel,
        width=width,
        height=height,
        x_range=x_range or Range1d(0, 1),
        y_range=Range1d(0, 1),
        tools=TOOLS,
        active_drag="pan",
        active_scroll="wheel_zoom",
        toolbar_location="above",
    )
    fig.toolbar.logo = None
    fig.grid.visible = False
    return fig


def _set_range(axis: Range1d, limits: tuple[float, float] | None) -> None:
    """Frame a new star (and make *reset* return to it); unchanged without finite values."""
    if limits is not None:
        axis.update(start=limits[0], end=limits[1], reset_start=limits[0], reset_end=limits[1])


class CardPlots:
    """The card's Bokeh figures, built once per card and fed through two ``ColumnDataSource``s.

    Plain Bokeh rather than HoloViews: a new star replaces ``source.data`` and sets a few ranges
    and one title, so the browser receives the star's arrays and keeps its figures and layout.
    Rebuilding HoloViews plots per star cost 0.18 s of server time per click (and 0.36 s for the
    first), and a new layout makes the browser lay the page out again.
    """

    def __init__(self) -> None:
        self.lc_source = ColumnDataSource(lightcurve_columns(EMPTY_LC))
        self.spec_source = ColumnDataSource(spectrum_columns(EMPTY_SPEC))
        # Sized for the card's column beside the views (CARD_WIDTH, issue 18 item 0).
        self.raw = _figure("Light curve", "time [d]", "relative flux [%]", CARD_WIDTH, 170)
        self.raw.scatter("time_d", "flux_pct", source=self.lc_source, size=2, color=LC_COLOR)
        self.folded = _figure("", "phase", "relative flux [%]", CARD_WIDTH, 170)
        self.folded.scatter("phase", "flux_pct", source=self.lc_source, size=2, color=FOLD_COLOR)
        self.spectrum = _figure("Spectrum (rest frame)", *SPEC_DIMS, CARD_WIDTH, 180)
        self.spectrum.line("wavelength_aa", "flux", source=self.spec_source, color=SPEC_COLOR, line_width=1)
        self.zooms = {title: self._zoom(title) for title in LINE_ZOOMS}
        self.lightcurve_pane = pn.Column(
            pn.pane.Bokeh(self.raw), pn.pane.Bokeh(self.folded), css_classes=["star-lightcurve"]
        )
        self.spectrum_pane = pn.Column(
            pn.pane.Bokeh(self.spectrum),
            pn.Row(*(pn.pane.Bokeh(zoom) for zoom in self.zooms.values())),
            css_classes=["star-spectrum"],
        )

    def _zoom(self, title: str) -> figure:
        (lo, hi), lines = LINE_ZOOMS[title]
        width = CARD_WIDTH // len(LINE_ZOOMS)
        fig = _figure(
            title, SPEC_DIMS[0], "", width, 160, x_range=Range1d(lo, hi, reset_start=lo, reset_end=hi)
        )
        # Three round ticks in small type: four-digit wavelengths overlap in a third of the card.
        step = 5.0 if hi - lo < 100 else 50.0
        fig.xaxis.ticker = FixedTicker(ticks=list(np.round(np.linspace(lo, hi, 5)[1:-1] / step) * step))
        fig.xaxis.major_label_text_font_size = "8pt"
        fig.title.text_font_size = "9pt"
        # The whole spectrum, clipped to the window by the x range: no second copy to send.
        fig.line("wavelength_aa", "flux", source=self.spec_source, color=SPEC_COLOR, line_width=1.5)
        for wave in lines:
            fig.add_layout(Span(location=wave, dimension="height", line_color=LINE_COLOR, line_dash="dotted"))
        return fig

    def show_lightcurve(self, data: dict) -> None:
        """Plot ``lightcurve_data`` of a star: raw, and folded at the period named in the title."""
        self.lc_source.data = lightcurve_columns(data)
        _set_range(self.raw.x_range, value_limits(data["time_d"], 0.02))
        flux = value_limits(data["flux_pct"])
        _set_range(self.raw.y_range, flux)
        _set_range(self.folded.y_range, flux)
        self.folded.title.text = f"Folded at {data['label']}" if data["phase"] is not None else data["label"]

    def show_spectrum(self, data: dict) -> None:
        """Plot ``spectrum_data`` of a star, whole and in the ``LINE_ZOOMS`` windows."""
        self.spec_source.data = spectrum_columns(data)
        _set_range(self.spectrum.x_range, value_limits(data["wavelength_aa"], 0.0))
        full = value_limits(data["flux"])
        _set_range(self.spectrum.y_range, full)
        for title, zoom in self.zooms.items():
            _set_range(zoom.y_range, zoom_ylim(data, title) or full)
