"""Population templates panel: one click selects a template's stars in every view.

The top button selects synchronized binaries and young stars together and shows the two groups
side by side (counts, medians, one typical star of each). Each template has its thresholds as
widgets; its selection goes through ``state.apply_expression``, so the expression box, URL and
export show exactly what was applied. On a simulated survey a clearly labelled check reports how
pure each selection is against the true population (the truth is never part of a template).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard import templates as tpl
from dashboard.state import DashboardState
from dashboard.views.star_card import header_text, predictions_table


def purity_text(df: pd.DataFrame, template: tpl.Template, mask: np.ndarray) -> str:
    """The truth check of one selection, or ``""`` when the survey has no truth."""
    check = tpl.purity(df, template, mask)
    if check is None:
        return ""
    selected, hits, total = check
    share = f"{hits / selected:.0%}" if selected else "–"
    found = f"{hits / total:.0%}" if total else "–"
    return (
        f"*Check against simulation truth (not used to select):* {hits} of {selected} selected are "
        f"`{template.target}` ({share} pure); {found} of the {total} `{template.target}` stars found."
    )


def typical_row(df: pd.DataFrame, mask: np.ndarray) -> int | None:
    """The group member closest to the group's medians of the summary columns (robust z-scores)."""
    rows = np.flatnonzero(mask)
    if not rows.size:
        return None
    columns = [c for c in tpl.SUMMARY_COLUMNS if c in df.columns]
    values = df.iloc[rows][columns].to_numpy(dtype=np.float64)
    centre = np.nanmedian(values, axis=0) if np.isfinite(values).any() else np.zeros(len(columns))
    spread = np.nanmedian(np.abs(values - centre), axis=0)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    score = np.nansum(np.abs(values - centre) / spread, axis=1)
    return int(rows[int(np.argmin(score))])


def markdown_table(table: pd.DataFrame) -> str:
    """A small numeric frame as a Markdown table (index as the first column, 4 significant digits)."""
    lines = ["| | " + " | ".join(map(str, table.columns)) + " |", "|---" * (len(table.columns) + 1) + "|"]
    for name, row in table.iterrows():
        lines.append(f"| {name} | " + " | ".join(f"{v:.4g}" for v in row.to_numpy(dtype=float)) + " |")
    return "\n".join(lines)


class TemplatesView(pn.viewable.Viewer):
    """Template buttons with editable thresholds, and the sync-vs-young comparison."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        #: Each template's threshold inputs, made when its card is first opened (``widgets``): a
        #: page whose user never opens a card does not carry 13 inputs and their Bokeh models, about
        #: 4,800 of a page's 55,900 Python objects (10^6-star survey), which every full collection of
        #: the server walks for every open page.
        self._widgets: dict[str, dict[str, pn.widgets.FloatInput]] = {}
        self._pair_button = pn.widgets.Button(
            label="Synchronized binaries vs young stars", color="primary", css_classes=["template-pair"]
        )
        self._pair_button.on_click(lambda _event: self.apply_pair())
        self._summary = pn.Column(css_classes=["template-summary"], sizing_mode="stretch_width")
        self._checks = {name: pn.pane.Markdown("", css_classes=["template-check"]) for name in tpl.TEMPLATES}
        #: The cards' bodies, filled by ``_open`` the first time each card is opened.
        self._bodies = {name: pn.Column(sizing_mode="stretch_width") for name in tpl.TEMPLATES}
        self._cards = pn.Accordion(
            *[(template.label, self._bodies[name]) for name, template in tpl.TEMPLATES.items()], active=[]
        )
        self._cards.param.watch(self._open, "active")

    def widgets(self, name: str) -> dict[str, pn.widgets.FloatInput]:
        """The threshold inputs of template ``name`` (made on first use, at their defaults)."""
        if name not in self._widgets:
            self._widgets[name] = {
                t.name: pn.widgets.FloatInput(
                    label=t.label, value=t.default, start=t.start, end=t.end, step=t.step, width=200
                )
                for t in tpl.TEMPLATES[name].thresholds
            }
        return self._widgets[name]

    def _values(self, name: str) -> dict[str, float]:
        """The thresholds of template ``name``: its inputs' values, or the defaults before it was opened."""
        if name not in self._widgets:
            return {t.name: float(t.default) for t in tpl.TEMPLATES[name].thresholds}
        return {key: float(w.value) for key, w in self._widgets[name].items()}

    def _open(self, event: param.parameterized.Event) -> None:
        names = list(tpl.TEMPLATES)
        for index in set(event.new) - set(event.old or []):
            body = self._bodies[names[index]]
            if not body.objects:
                body.objects = self._card_body(names[index])

    def _card_body(self, name: str) -> list[Any]:
        template = tpl.TEMPLATES[name]
        button = pn.widgets.Button(label=f"Select {template.label.lower()}", css_classes=[f"template-{name}"])
        button.on_click(lambda _event, name=name: self.apply(name))
        inputs = self.widgets(name).values()
        return [pn.pane.Markdown(template.description), *inputs, button, self._checks[name]]

    def apply(self, name: str) -> np.ndarray:
        """Apply one template with the widgets' thresholds; return its mask."""
        template = tpl.TEMPLATES[name]
        values = self._values(name)
        self.state.apply_expression(template.expression(values))
        mask = template.mask(self.state.catalog, values)
        self._checks[name].object = purity_text(self.state.catalog, template, mask)
        return mask

    def apply_pair(self) -> dict[str, np.ndarray]:
        """Select both groups of the comparison and show their summary side by side."""
        values = {name: self._values(name) for name in tpl.PAIR}
        self.state.apply_expression(tpl.pair_expression(values))
        df = self.state.catalog
        masks = {name: tpl.TEMPLATES[name].mask(df, values[name]) for name in tpl.PAIR}
        self._summary.objects = self.summary(masks)
        return masks

    def summary(self, masks: dict[str, np.ndarray]) -> list[pn.viewable.Viewable]:
        """Counts and medians per group, one typical star per group, and the truth check."""
        df = self.state.catalog
        table = tpl.group_summary(df, masks)
        table.columns = [tpl.TEMPLATES[name].label for name in table.columns]
        columns = []
        for name, mask in masks.items():
            row = typical_row(df, mask)
            parts: list[Any] = [f"#### {tpl.TEMPLATES[name].label}: {int(mask.sum())} stars"]
            if row is not None:
                star = df.iloc[row]
                open_card = pn.widgets.Button(label="Open star card", css_classes=["template-example"])
                open_card.on_click(lambda _event, row=row: setattr(self.state, "focused_row", row))
                parts += [
                    pn.pane.Markdown("Typical member: " + header_text(star).removeprefix("## ")),
                    pn.pane.Markdown(predictions_table(star)),
                    open_card,
                ]
            check = purity_text(df, tpl.TEMPLATES[name], mask)
            if check:
                parts.append(pn.pane.Markdown(check))
            columns.append(pn.Column(*parts, width=470, css_classes=["mini-card"]))
        return [pn.pane.Markdown(markdown_table(table), css_classes=["template-medians"]), pn.Row(*columns)]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            "### Population templates",
            pn.pane.Markdown(
                "Expressions over predictions and observables (never the truth); edit the "
                "thresholds, then select."
            ),
            self._pair_button,
            self._summary,
            self._cards,
            sizing_mode="stretch_width",
        )
