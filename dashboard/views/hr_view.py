"""HR diagram view (predicted Teff against log L; the truth when predictions are missing)."""

from __future__ import annotations

from dashboard import plots
from dashboard.views.base import ScatterView


class HrView(ScatterView):
    """Teff against log L, Teff axis inverted."""

    builder = staticmethod(plots.hr_plot)
    overlay_kind = "hr"

    def columns(self) -> tuple[str, str] | None:
        return plots.hr_columns(self.state.catalog)
