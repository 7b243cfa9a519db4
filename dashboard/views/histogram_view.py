"""A histogram of any numeric column for all stars, each named subset and the selection; brushing selects.

All stars in grey, each subset as an outline in its colour, the selection filled in the selection
colour; each as the fraction of its stars per bin, so small subsets compare with the whole. Dragging a range
(an x-only box select) selects ``lo <= column <= hi`` through the state, combined by the selection
mode like a box in the other views, so the histogram cross-filters every view.

Plain Bokeh, built once per session like the star card: a new selection, subset or column
replaces the sources' data (a few hundred numbers), never the figure, so a selection costs the
page one small message and no HoloViews re-render.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.events import SelectionGeometry
from bokeh.models import BoxSelectTool, ColumnDataSource, Range1d
from bokeh.plotting import figure
from panel.io import unlocked

from dashboard import plots, shared
from dashboard.selected_layer import SELECTED_COLOR
from dashboard.selection import expression_term, round_geometry, term_mask
from dashboard.state import DashboardState
from dashboard.store import column_label, continuous_columns

BINS = 40
#: Figure size: the frame of the other views plus axes and toolbar.
WIDTH, HEIGHT = plots.FRAME_WIDTH + 70, plots.FRAME_HEIGHT + 50


def range_text(column: str, bounds: tuple[float, float]) -> str:
    """The expression of a brushed range, ``column >= lo and column <= hi`` (rounded as boxes are)."""
    lo, hi = sorted(float(v) for v in round_geometry(bounds))
    return f"{column} >= {lo!r} and {column} <= {hi!r}"


def bin_edges(values: np.ndarray) -> np.ndarray:
    """``BINS + 1`` edges spanning the finite ``values`` (a unit around a constant column)."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, BINS + 1)


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin as ``np.histogram(values, edges)`` counts it, as uint8; ``len(edges) - 1`` for none.

    Bin i holds ``edges[i] <= v < edges[i + 1]``, the last bin its right edge too; a non-finite
    value or one outside the edges is in no bin.
    """
    n_bins = len(edges) - 1
    if n_bins >= 255:
        raise ValueError(f"at most 254 bins fit a uint8 index, not {n_bins}")
    index = np.searchsorted(edges, values, side="right") - 1  # NaN sorts last: no bin
    index[values == edges[-1]] = n_bins - 1
    index[(index < 0) | (index >= n_bins)] = n_bins
    return index.astype(np.uint8)


def binned_fractions(index: np.ndarray, n_bins: int, mask: np.ndarray | None = None) -> np.ndarray:
    """``fractions`` from ``bin_index``: the stars of ``mask`` (all if None) per bin, summing to 1."""
    counts = np.bincount(index if mask is None else index[mask], minlength=n_bins + 1)[:n_bins]
    total = counts.sum()
    return counts / total if total else np.zeros(n_bins)


def column_bins(catalog: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A column's bin edges, every star's bin (``bin_index``) and the all-star fractions.

    Once per process for a served catalogue (dashboard/shared.py): a selection then bins only
    its own stars' bin numbers (``np.bincount``), 1 byte a star, instead of testing every star's
    value for finiteness and binning the selected values anew in each session (~10 ms per
    selection at 10^6 stars, issue 16 item 7). The index is 1 MB a column at 10^6 stars.
    """

    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        series = catalog[column]
        values = series.to_numpy()
        if values.dtype.kind != "f":  # integers, nullable or Arrow-backed columns: as floats
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        edges = bin_edges(values)  # the values read once, for the edges and the bins
        index = bin_index(values, edges)
        return edges, index, binned_fractions(index, len(edges) - 1)

    return shared.shared(catalog, "histogram_bins", (column, BINS), compute)


def _no_dimming(renderer: Any) -> None:
    # The x-range drag is a brush, not a glyph selection: bars keep their look.
    renderer.nonselection_glyph = renderer.glyph.clone()
    renderer.selection_glyph = renderer.glyph.clone()


class HistogramView(pn.viewable.Viewer):
    """Histogram of a chosen column; a dragged x range selects stars in every view."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        options = {column_label(c): c for c in continuous_columns(self.state.catalog)}
        default = next((c for c in options.values() if c.startswith("pred_")), None)
        self._column = pn.widgets.Select(
            label="Histogram of",
            options=options,
            value=default or next(iter(options.values()), None),
            width=WIDTH - 20,
            css_classes=["histogram-column"],
        )
        self.base = ColumnDataSource({"left": [], "right": [], "top": []})
        self.selection = ColumnDataSource({"left": [], "right": [], "top": []})
        # Every subset's outline in one renderer (one line each): eight renderers, one a subset,
        # were 55 of a page's ~670 Bokeh models, made for every page and mostly empty.
        self.subsets = ColumnDataSource({"xs": [], "ys": [], "color": []})
        self.figure = self._figure()
        self._drawn_column: str | None = None
        self._doc = pn.state.curdoc
        self.fill()
        for name in ("mask", "subsets"):
            self.state.param.watch(self._on_change, name)
        self._column.param.watch(self._on_change, "value")

    def _figure(self) -> figure:
        fig = figure(
            width=WIDTH,
            height=HEIGHT,
            x_range=Range1d(0, 1),
            y_range=Range1d(0, 1),
            tools="reset,save",
            toolbar_location="above",
            y_axis_label="fraction of stars per bin",
        )
        brush = BoxSelectTool(dimensions="width")
        fig.add_tools(brush)
        fig.toolbar.active_drag = brush
        fig.toolbar.logo = None
        fig.grid.visible = False
        _no_dimming(
            fig.quad("left", "right", "top", 0, source=self.base, fill_color="#cfcfcf", line_color="#9a9a9a")
        )
        selected = fig.quad(
            "left",
            "right",
            "top",
            0,
            source=self.selection,
            fill_color=SELECTED_COLOR,
            fill_alpha=0.55,
            line_color=None,
        )
        _no_dimming(selected)
        _no_dimming(fig.multi_line("xs", "ys", source=self.subsets, line_color="color", line_width=2))
        fig.on_event(SelectionGeometry, self._on_geometry)
        return fig

    def fill(self) -> None:
        """Draw the chosen column for all stars, each subset and the selection.

        The all-star bars and the axes are sent only when the column changes; a new selection
        counts only its own stars' bin numbers (``column_bins``).
        """
        column = self._column.value
        if column is None:
            return
        edges, index, base = column_bins(self.state.catalog, column)
        left, right = edges[:-1], edges[1:]
        new_column = column != self._drawn_column
        if new_column:
            self.base.data = {"left": left, "right": right, "top": base}
        mask = self.state.mask
        chosen = binned_fractions(index, len(left), mask) if mask is not None and mask.any() else np.empty(0)
        self.selection.data = {"left": left[: chosen.size], "right": right[: chosen.size], "top": chosen}
        tops = [base.max(), chosen.max(initial=0.0)]
        outlines: dict[str, list[Any]] = {"xs": [], "ys": [], "color": []}
        for mask, colour in self.state.subset_layers():  # each in the colour the views give it
            part = binned_fractions(index, len(left), mask)
            # The bins' tops as a step line: (e0, f0) (e1, f0) (e1, f1) (e2, f1) ...
            outlines["xs"].append(np.repeat(edges, 2)[1:-1])
            outlines["ys"].append(np.repeat(part, 2))
            outlines["color"].append(colour)
            tops.append(part.max(initial=0.0))
        if outlines["xs"] or len(self.subsets.data["xs"]):
            self.subsets.data = outlines
        if new_column:
            self.figure.x_range.update(
                start=edges[0], end=edges[-1], reset_start=edges[0], reset_end=edges[-1]
            )
            self.figure.xaxis.axis_label = column_label(column)
            self.figure.title.text = "Histogram: drag a range to select it"
            self._drawn_column = column
        top = 1.05 * max(tops) or 1.0
        if (self.figure.y_range.start, self.figure.y_range.end) != (0.0, top):
            self.figure.y_range.update(start=0.0, end=top, reset_start=0.0, reset_end=top)

    def brush(self, bounds: tuple[float, float]) -> None:
        """Select the stars whose column lies in ``bounds`` (combined by the selection mode)."""
        column = self._column.value
        term = expression_term(range_text(column, bounds))
        self.state.select(term_mask(self.state.catalog, term), term)

    def _on_geometry(self, event: SelectionGeometry) -> None:
        geometry = event.geometry or {}
        if not event.final or geometry.get("type") != "rect":
            return
        bounds = (geometry.get("x0"), geometry.get("x1"))
        if None in bounds or not np.all(np.isfinite(np.asarray(bounds, dtype=np.float64))):
            return
        for source in (self.base, self.selection, self.subsets):
            source.selected.indices = []
        self.brush(bounds)

    def _on_change(self, *_events: param.parameterized.Event) -> None:
        # A tool event arrives in a callback without the session's lock: as the star card does,
        # change the figure on the next tick then (dashboard/views/star_card.py, show).
        doc = self._doc
        if doc is not None and doc.session_context is not None and pn.state.curdoc is not doc:
            doc.add_next_tick_callback(partial(self.fill))
            return
        with unlocked():
            self.fill()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._column, pn.pane.Bokeh(self.figure), css_classes=["histogram-view"])
