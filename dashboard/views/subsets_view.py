"""Named subsets on the page: save the live selection under a name, list, select, combine, remove.

Each subset shows its colour (from dashboard/subsets.py's palette, never from user text), its
name (escaped), its star count and its expression; set algebra makes a new subset from two.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from dashboard import subsets as named
from dashboard.safe_text import escape_markdown
from dashboard.state import DashboardState
from data.query import ExpressionError


class SubsetsView(pn.viewable.Viewer):
    """Widgets over ``state.subsets``; the views draw the subsets themselves."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._name = pn.widgets.TextInput(
            placeholder="subset name", max_length=named.MAX_NAME, width=170, css_classes=["subset-name"]
        )
        self._save = pn.widgets.Button(
            label="Save selection as subset", color="primary", css_classes=["subset-save"]
        )
        self._save.on_click(lambda _event: self.save(self._name.value))
        self._a = pn.widgets.Select(label="A", options=[], width=130, css_classes=["subset-a"])
        self._b = pn.widgets.Select(label="B", options=[], width=130, css_classes=["subset-b"])
        self._operation = pn.widgets.RadioButtonGroup(
            options=list(named.OPERATIONS), value="intersection", variant="outline", css_classes=["subset-op"]
        )
        self._combine = pn.widgets.Button(label="Combine", color="primary", css_classes=["subset-combine"])
        self._combine.on_click(
            lambda _event: self.combine(self._a.value, self._b.value, self._operation.value)
        )
        self._list = pn.Column(css_classes=["subset-list"], sizing_mode="stretch_width")
        self._message = pn.pane.Alert("", alert_type="info", visible=False, css_classes=["subset-message"])
        self.state.param.watch(self._on_subsets, "subsets")
        self._on_subsets()

    def _run(self, action: Any, *args: Any) -> bool:
        try:
            subset = action(*args)
        except (named.SubsetError, ExpressionError) as exc:
            self._message.param.update(object=escape_markdown(exc), alert_type="warning", visible=True)
            return False
        if isinstance(subset, named.Subset):
            text = (
                f"Subset **{escape_markdown(subset.name)}**: {self.state.subset_count(subset.name):,} stars."
            )
            self._message.param.update(object=text, alert_type="success", visible=True)
        return True

    def save(self, name: str) -> bool:
        """Keep the live selection as subset ``name``."""
        return self._run(self.state.save_selection, name)

    def combine(self, a: str | None, b: str | None, operation: str) -> bool:
        """Make a new subset of ``a`` ``operation`` ``b``."""
        if not a or not b:
            return self._run(_refuse, "save two subsets first")
        return self._run(self.state.combine_subsets, a, b, operation)

    def _row(self, subset: named.Subset) -> pn.Row:
        colour = named.colour_of(self.state.subsets, subset.name)  # from the palette only
        swatch = pn.pane.HTML(
            f'<div style="width:14px;height:14px;border-radius:3px;background:{colour}"></div>', width=20
        )
        count = self.state.subset_count(subset.name)
        text = pn.pane.Markdown(
            f"**{escape_markdown(subset.name)}** · {count:,} stars  \n"
            f"<small>{escape_markdown(named.shorten_expression(subset.expression))}</small>",
            css_classes=["subset-entry"],
            sizing_mode="stretch_width",
        )
        select = pn.widgets.Button(label="select", width=60, css_classes=["subset-select"])
        select.on_click(lambda _event, name=subset.name: self.state.select_subset(name))
        remove = pn.widgets.Button(label="✕", width=40, css_classes=["subset-remove"])
        remove.on_click(lambda _event, name=subset.name: self.state.remove_subset(name))
        return pn.Row(swatch, text, select, remove, sizing_mode="stretch_width")

    def _on_subsets(self, *_events: param.parameterized.Event) -> None:
        names = [s.name for s in self.state.subsets]
        self._a.options, self._b.options = names, names
        if len(names) >= 2:
            self._a.value, self._b.value = names[-2], names[-1]
        self._list.objects = [self._row(s) for s in self.state.subsets] or [
            pn.pane.Markdown("*No subsets yet: select stars, name them and save.*")
        ]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            "### Named subsets",
            pn.Row(self._name, self._save),
            self._list,
            "### Combine two subsets",
            pn.Row(self._a, self._b),
            self._operation,
            self._combine,
            self._message,
            sizing_mode="stretch_width",
            css_classes=["subsets-view"],
        )


def _refuse(reason: str) -> None:
    raise named.SubsetError(reason)
