"""Hover tooltips on a view: the stars in view as transparent points, once few enough are in view.

A rasterized image cannot tell which star is under the cursor, so once a view is zoomed in to at
most ``HOVER_MAX_POINTS`` stars it gets the stars themselves as invisible glyphs that carry the
tooltip's values (star id as text, population, predictions). Like the selected layer
(dashboard/selected_layer.py), a Bokeh renderer that a HoloViews hook adds to the view's figure and
that the view's zoom stream refills, not a HoloViews layer (docs/DASHBOARD.md §2.4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, GlyphRenderer, HoverTool, Scatter

from dashboard.selected_layer import RenderedCopies, add_above_base
from dashboard.store import column_label
from data import schema
from data.schema import TRUTH_PREFIX

#: Hover tooltips appear once at most this many stars are in the visible range (zoomed in).
HOVER_MAX_POINTS = 1500
#: Columns shown in a hover tooltip when the catalogue has them (after the star id).
HOVER_COLUMNS = (
    TRUTH_PREFIX + schema.POPULATION,
    "binary_prob",
    "pred_teff_k",
    "pred_logg",
    "pred_prot_d",
    "pred_age_gyr",
)


def visible_rows(
    df: pd.DataFrame,
    x: str,
    y: str,
    x_range: tuple[float, float] | None,
    y_range: tuple[float, float] | None,
) -> np.ndarray:
    """Boolean mask of rows whose ``(x, y)`` lie in the plotted ranges (all finite rows if None)."""
    xs, ys = df[x].to_numpy(dtype=np.float64), df[y].to_numpy(dtype=np.float64)
    inside = np.isfinite(xs) & np.isfinite(ys)
    for values, bounds in ((xs, x_range), (ys, y_range)):
        if bounds is not None and None not in bounds:
            lo, hi = sorted(float(b) for b in bounds)
            inside &= (values >= lo) & (values <= hi)
    return inside


def hover_frame(df: pd.DataFrame, x: str, y: str, rows: np.ndarray) -> pd.DataFrame:
    """The hover table of ``rows``: position, ``row``, the star id as text, population, predictions.

    The KIC id is text: a 64-bit id is not exact as a JavaScript number (DASHBOARD.md 2.4).
    """
    sub = df.iloc[rows]
    out = pd.DataFrame({x: sub[x].to_numpy(), y: sub[y].to_numpy()})
    out["row"] = sub["row"].to_numpy() if "row" in sub.columns else rows
    if "kic_id" in sub.columns:
        out["star"] = [f"KIC {k}" for k in sub["kic_id"].to_numpy()]
    else:
        out["star"] = [f"row {r}" for r in out["row"]]
    for name in HOVER_COLUMNS:
        if name in sub.columns and name not in out.columns:
            col = sub[name]
            out[name] = (
                col.astype(str).to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy()
            )
    return out


#: Name of the hover layer's renderer in a view's figure.
HOVER_RENDERER = "desa-hover-stars"


class HoverLayer:
    """Points carrying tooltips (star id, population, predictions), empty until zoomed in.

    A rasterized image cannot tell which star is under the cursor, so below ``HOVER_MAX_POINTS``
    visible stars the view adds the stars themselves as transparent glyphs. As the selected layer
    (dashboard/selected_layer.py), a Bokeh renderer added to the view's figure by a HoloViews hook
    (``attach``) and refilled by the view's zoom stream (``zoom``), not a HoloViews layer (see
    there for what the two layers cost as ``DynamicMap``s).
    """

    def __init__(self, df: pd.DataFrame, x: str, y: str, stars: Callable[[Any, Any], pd.DataFrame]) -> None:
        """``stars(x_range, y_range)``: the ``hover_frame`` of the stars to show at those ranges."""
        self.df, self.x, self.y = df, x, y
        self._stars = stars
        self._ranges: tuple = (None, None)
        self._copies = RenderedCopies()

    def data(self) -> dict[str, np.ndarray]:
        """The stars in view as a ``ColumnDataSource``'s data."""
        frame = self._stars(*self._ranges)
        return {name: frame[name].to_numpy() for name in frame.columns}

    def tooltips(self) -> list[tuple[str, str]]:
        tooltips = [("star", "@{star}")]
        for name in HOVER_COLUMNS:
            if name in self.df.columns:
                numeric = pd.api.types.is_numeric_dtype(self.df[name])
                # Numbers as 4784.1, not Bokeh's default 4.784e+3.
                tooltips.append((column_label(name), f"@{{{name}}}" + ("{0.[000]}" if numeric else "")))
        return tooltips

    def attach(self, plot: Any, _element: Any = None) -> None:
        """HoloViews hook of the view's base layer: add the points and their hover tool, once per figure."""
        figure = plot.state
        if any(renderer.name == HOVER_RENDERER for renderer in figure.renderers):
            return
        source = ColumnDataSource(self.data())
        invisible = {"x": self.x, "y": self.y, "size": 7, "fill_alpha": 0.0, "line_alpha": 0.0}
        renderer = GlyphRenderer(
            name=HOVER_RENDERER,
            data_source=source,
            glyph=Scatter(**invisible),
            hover_glyph=Scatter(**{**invisible, "line_alpha": 1.0, "line_color": "black"}),
            selection_glyph=None,
            nonselection_glyph=Scatter(**invisible),
        )
        add_above_base(figure, renderer)
        figure.add_tools(HoverTool(renderers=[renderer], tooltips=self.tooltips()))
        self._copies.add(source)

    def zoom(self, x_range: Any = None, y_range: Any = None) -> None:
        """The view was zoomed or panned (a ``RangeXY`` subscriber): the stars now in view."""
        if (x_range, y_range) == self._ranges:
            return
        self._ranges = (x_range, y_range)
        self._copies.write(self.data)
