"""Sidebar controls: selection mode, clear, colour-by, the count and the selection expression."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from dashboard.state import DashboardState


class Controls(pn.viewable.Viewer):
    """Widgets bound to the shared state; no logic beyond calling it."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        state = self.state
        self._mode = pn.widgets.RadioButtonGroup.from_param(
            state.param.mode, label="Selection mode", color="primary", variant="outline"
        )
        self._clear = pn.widgets.Button(label="Clear selection", color="warning")
        self._clear.on_click(lambda _event: state.clear())
        self._color = pn.widgets.Select.from_param(state.param.color_by, label="Colour by")
        self._count = pn.pane.Markdown(
            pn.bind(lambda _mask: state.selected_count, state.param.mask),
            css_classes=["selected-count"],
            styles={"font-size": "1.2em", "font-weight": "bold"},
        )
        self._expression = pn.pane.Markdown(
            pn.bind(self._expression_text, state.param.terms), css_classes=["selection-expression"]
        )

    def _expression_text(self, _terms: list) -> str:
        text = self.state.expression
        return f"`{text}`" if text else "*Drag a box or lasso on any plot to select stars.*"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            "### Selection",
            self._count,
            pn.pane.Markdown("Mode"),
            self._mode,
            self._clear,
            "### Expression",
            self._expression,
            "### Colour",
            self._color,
            sizing_mode="stretch_width",
        )
