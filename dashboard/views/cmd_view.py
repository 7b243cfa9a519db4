"""Colour-magnitude diagram view (Gaia BP−RP against M_G)."""

from __future__ import annotations

from dashboard import plots
from dashboard.views.base import ScatterView


class CmdView(ScatterView):
    """BP−RP against M_G, magnitude axis inverted."""

    builder = staticmethod(plots.cmd_plot)
    overlay_kind = "cmd"

    def columns(self) -> tuple[str, str] | None:
        return plots.CMD_COLUMNS if plots.has_columns(self.state.catalog, plots.CMD_COLUMNS) else None
