"""Colour-magnitude diagram view: GSP-Phot-dereddened (BP−RP)0 against M_G,0, or as observed."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import param

from dashboard import plots
from dashboard.state import CMD_AXES, DEREDDENED, OBSERVED
from dashboard.store import median_reddening
from dashboard.views.base import ScatterView


def cmd_note(catalog: pd.DataFrame, photometry: str, choices: list[str]) -> str:
    """The line under the CMD saying which photometry it shows and what that leaves out."""
    if photometry == DEREDDENED:
        colour, mag = CMD_AXES[DEREDDENED]
        observed = catalog[list(CMD_AXES[OBSERVED])].notna().all(axis=1)
        lacking = int((observed & catalog[[colour, mag]].isna().any(axis=1)).sum())
        text = "Dereddened with each star's Gaia GSP-Phot A_G and E(BP−RP)"
        return text + (f"; {lacking:,} stars without GSP-Phot values are not shown." if lacking else ".")
    if DEREDDENED not in choices:
        return (
            "No GSP-Phot extinctions in this catalogue: observed (reddened) photometry; "
            "the isochrones and sequences are unreddened."
        )
    e_bp_rp, a_g = median_reddening(catalog)
    return (
        "Observed (reddened) photometry; isochrones and sequences reddened by the median GSP-Phot "
        f"E(BP−RP) = {e_bp_rp:.2f}, A_G = {a_g:.2f} mag."
    )


class CmdView(ScatterView):
    """Colour against M_G, magnitude axis inverted, in the state's ``cmd_photometry``.

    Switching the photometry redraws the plot on the other columns; a box or lasso drawn on it
    selects by the plotted columns (``box(bp_rp0_mag, abs_g0_mag, ...)`` when dereddened).
    """

    builder = staticmethod(plots.cmd_plot)
    overlay_kind = "cmd"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._note = pn.pane.Markdown(
            self.note(), css_classes=["cmd-note"], width=plots.FRAME_WIDTH + 60, margin=(0, 10)
        )
        self.state.param.watch(self._on_photometry, "cmd_photometry")

    def columns(self) -> tuple[str, str] | None:
        cols = self.state.cmd_columns
        return cols if plots.has_columns(self.state.catalog, cols) else None

    def builder_options(self) -> dict[str, Any]:
        return {"columns": self.state.cmd_columns}

    def note(self) -> str:
        return cmd_note(
            self.state.catalog, self.state.cmd_photometry, self.state.param.cmd_photometry.objects
        )

    def _physics(self) -> hv.DynamicMap | None:
        offset = (0.0, 0.0)
        if self.state.cmd_photometry == OBSERVED:
            offset = median_reddening(self.state.catalog)
        return self.overlays.layer(self.overlay_kind, self.columns(), offset)

    def _on_photometry(self, _event: param.parameterized.Event) -> None:
        self._replot_on_new_columns()
        self._note.object = self.note()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._pane, self._note)
