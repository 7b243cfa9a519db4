"""Sidebar controls: star search, selection (mode, clear, count, expression), find similar, colours.

The CMD's photometry is dereddened or observed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from dashboard.followup import star_ids
from dashboard.safe_text import escape_markdown
from dashboard.search import MAX_QUERY, find_star
from dashboard.state import DashboardState
from data.query import ExpressionError

SIMILAR_OF = {"focused star": "focused", "selection centroid": "selection"}


class Controls(pn.viewable.Viewer):
    """Widgets bound to the shared state; no logic beyond calling it.

    Errors of a typed expression or of "Find similar" are shown in an alert, never raised; they
    quote the typed text, so the alert shows them escaped (dashboard/safe_text.py).
    """

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        state = self.state
        self._mode = pn.widgets.RadioButtonGroup.from_param(
            state.param.mode, label="Selection mode", color="primary", variant="outline"
        )
        self._clear = pn.widgets.Button(label="Clear selection", color="warning")
        self._clear.on_click(lambda _event: self._run(state.clear))
        self._color = pn.widgets.Select.from_param(state.param.color_by, label="Colour by")
        # One button ("observed") when the catalogue has no GSP-Phot extinctions; the CMD says why.
        self._photometry = pn.widgets.RadioButtonGroup.from_param(
            state.param.cmd_photometry,
            variant="outline",
            disabled=len(state.param.cmd_photometry.objects) < 2,
            css_classes=["cmd-photometry"],
        )
        self._count = pn.pane.Markdown(
            pn.bind(lambda _mask: state.selected_count, state.param.mask),
            css_classes=["selected-count"],
            styles={"font-size": "1.2em", "font-weight": "bold"},
        )
        self._expression = pn.widgets.TextAreaInput(
            value=state.expression,
            placeholder="e.g. binary_prob > 0.9 and box(umap_x, umap_y, 0, 2, -1, 1)",
            auto_grow=True,
            max_rows=8,
            rows=3,
            css_classes=["selection-expression"],
            sizing_mode="stretch_width",
        )
        self._apply = pn.widgets.Button(
            label="Apply expression", color="primary", css_classes=["apply-expression"]
        )
        self._apply.on_click(lambda _event: self.apply(self._expression.value))
        self._k = pn.widgets.IntInput(label="k (neighbours)", value=20, start=1, end=10_000, width=110)
        self._of = pn.widgets.RadioButtonGroup(options=SIMILAR_OF, value="focused", variant="outline")
        self._similar = pn.widgets.Button(
            label="Find similar",
            color="primary",
            disabled=state.similar is None,
            css_classes=["find-similar"],
        )
        self._similar.on_click(lambda _event: self.find_similar())
        self._alert = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["selection-error"])
        self._search = pn.widgets.TextInput(
            placeholder="KIC 10002792, Gaia DR3 …, row 12",
            max_length=MAX_QUERY,
            css_classes=["star-search"],
            sizing_mode="stretch_width",
        )
        self._search.param.watch(lambda event: self.search(event.new), "value")
        self._found = pn.pane.Markdown("", css_classes=["search-result"])
        # Neighbours of the last "Find similar" with their distances; a click focuses one. Hidden
        # until then, so it keeps Tabulator's own resize module (views.followup_view.CLICKABLE_TABLE):
        # without it, a table built hidden is shown empty.
        self._distances = pn.widgets.Tabulator(
            # Typed from the start: Tabulator picks each column's formatter from the first frame
            # (empty lists gave floats: rows shown as "1,154.0" and star ids as NaN).
            pd.DataFrame(
                {
                    "row": np.empty(0, np.int64),
                    "star": pd.Series([], dtype=object),
                    "distance": np.empty(0, np.float64),
                }
            ),
            show_index=False,
            disabled=True,
            page_size=10,
            pagination="local",
            formatters={"row": NumberFormatter(format="0"), "distance": NumberFormatter(format="0.00")},
            visible=False,
            css_classes=["similar-distances"],
            sizing_mode="stretch_width",
        )
        self._distances.on_click(self._on_distance_click)
        state.param.watch(self._on_terms, "terms")

    # --- actions (also called by tests) ---------------------------------------------------------
    def _run(self, action: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            action(*args, **kwargs)
        except (ExpressionError, ValueError) as exc:
            self._alert.object = escape_markdown(exc)
            self._alert.visible = True
            return False
        self._alert.visible = False
        return True

    def apply(self, text: str) -> bool:
        """Make the typed expression the selection (it replaces, the box shows the whole selection)."""
        return self._run(self.state.apply_expression, text, mode="replace")

    def similar_expression(self) -> str:
        """``similar(row, k)`` of the focused star or ``similar((selection), k)`` of the selection."""
        k = int(self._k.value)
        if self._of.value == "focused":
            if self.state.focused_row is None:
                raise ValueError("No focused star: click a star or a table row first.")
            return f"similar({int(self.state.focused_row)}, {k})"
        if not self.state.expression:
            raise ValueError("Nothing selected: select some stars first.")
        return f"similar({self.state.expression}, {k})"

    def find_similar(self) -> bool:
        """Select the k nearest neighbours in embedding space (a new selection) and list their distances."""

        def run() -> None:
            if self._of.value == "focused" and self.state.focused_row is not None:
                source = [int(self.state.focused_row)]
            else:
                source = None if self.state.mask is None else np.flatnonzero(self.state.mask)
            self.state.apply_expression(self.similar_expression(), mode="replace")
            found = self.state.similar.query(source, int(self._k.value))
            self._distances.value = pd.DataFrame(
                {
                    "row": found.rows.astype(np.int64),
                    "star": star_ids(self.state.catalog, found.rows),
                    "distance": found.distances.astype(np.float64),
                }
            )
            self._distances.visible = True

        return self._run(run)

    def search(self, text: str) -> bool:
        """Focus the star the typed identifier names (dashboard/search.py); say what was found."""
        if not text.strip():
            self._found.object = ""
            return False
        found = find_star(self.state.catalog, text)
        # The message may quote the typed text: escaped.
        self._found.object = escape_markdown(found.message)
        if found.row is None:
            return False
        self.state.focused_row = found.row
        return True

    def _on_distance_click(self, event: Any) -> None:
        value = self._distances.value
        if 0 <= event.row < len(value):
            self.state.focused_row = int(value["row"].iloc[event.row])

    def _on_terms(self, _event: param.parameterized.Event) -> None:
        self._expression.value = self.state.expression

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            "### Find a star",
            self._search,
            self._found,
            "### Selection",
            self._count,
            pn.pane.Markdown("Mode"),
            self._mode,
            self._clear,
            "### Expression",
            self._expression,
            self._apply,
            self._alert,
            "### Find similar",
            self._of,
            pn.Row(self._k, self._similar),
            self._distances,
            "### Colour",
            self._color,
            "### CMD photometry",
            self._photometry,
            sizing_mode="stretch_width",
        )
