"""A view of any two numeric columns: the user picks x and y; box, lasso and click work as elsewhere.

A box drawn on it selects ``box(x, y, ...)`` on the chosen columns, so the selection's expression
stays reproducible; changing a column redraws the view on the new pair (like the CMD's photometry).
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from dashboard import plots
from dashboard.store import column_label, continuous_columns
from dashboard.views.base import ScatterView


def default_axes(columns: list[str]) -> tuple[str, str]:
    """A first pair to show: predicted rotation period against predicted Teff when present."""
    wanted = ("pred_teff_k", "pred_prot_d")
    if all(c in columns for c in wanted):
        return wanted
    return (columns[0], columns[min(1, len(columns) - 1)]) if columns else ("", "")


class FreeAxesView(ScatterView):
    """Scatter of two user-chosen numeric columns, linked to every other view."""

    builder = staticmethod(plots.free_plot)
    x = param.String(default="", doc="Column on the x axis.")
    y = param.String(default="", doc="Column on the y axis.")

    def __init__(self, **params: Any) -> None:
        options = {column_label(c): c for c in continuous_columns(params["state"].catalog)}
        first = default_axes(list(options.values()))
        params.setdefault("x", first[0])
        params.setdefault("y", first[1])
        super().__init__(**params)
        self._x = pn.widgets.Select(
            label="x", options=options, value=self.x, width=170, css_classes=["free-x"]
        )
        self._y = pn.widgets.Select(
            label="y", options=options, value=self.y, width=170, css_classes=["free-y"]
        )
        self._x.link(self, value="x")
        self._y.link(self, value="y")
        self.param.watch(self._on_axes, ["x", "y"])

    def columns(self) -> tuple[str, str] | None:
        pair = (self.x, self.y)
        return pair if all(pair) and plots.has_columns(self.state.catalog, pair) else None

    def builder_options(self) -> dict[str, Any]:
        return {"columns": (self.x, self.y)}

    def _on_axes(self, _event: param.parameterized.Event) -> None:
        self._replot_on_new_columns()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.Row(self._x, self._y), self._pane, css_classes=["free-view"])
