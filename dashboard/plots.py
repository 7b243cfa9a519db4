"""Pure HoloViews builders for the three linked views: UMAP, CMD and HR diagram.

Each view is a base layer (datashaded by a label column, or rasterized by density or the mean of a
numeric column, then dynspread so isolated stars stay visible) overlaid with a one-colour
"selected" layer fed by a ``Pipe`` carrying the selected rows (DASHBOARD.md section 2.3-2.4). The
base changes only on zoom, pan or colour-by; a selection re-sends only the selected image.
"""

from __future__ import annotations

from collections.abc import Sequence

import datashader as ds
import holoviews as hv
import holoviews.plotting.bokeh  # registers the bokeh backend that .opts needs
import numpy as np
import pandas as pd
from holoviews.operation.datashader import datashade, dynspread, rasterize

from dashboard.store import column_label

DENSITY = "density"
SELECTED_COLOR = "#e6007e"
#: Label colours (Okabe-Ito without the magenta-like ones, so the selection stands out).
CATEGORY_COLORS = (
    "#0072B2",
    "#009E73",
    "#E69F00",
    "#56B4E9",
    "#D55E00",
    "#8c6d31",
    "#000000",
    "#F0E442",
    "#7f7f7f",
    "#17becf",
    "#bcbd22",
    "#393b79",
)
#: Fixed plot-area sizes (the figure, with axes and legend, stays within 800 x 600): no resize
#: storms (holoviews issue 6672).
FRAME_WIDTH, FRAME_HEIGHT = 340, 290
TOOLS = ["box_select", "lasso_select"]

UMAP_COLUMNS = ("umap_x", "umap_y")
CMD_COLUMNS = ("bp_rp_mag", "abs_g_mag")
HR_CANDIDATES = (("pred_teff_k", "pred_logl"), ("true_teff_k", "true_logl"))


def hr_columns(df: pd.DataFrame) -> tuple[str, str] | None:
    """The (Teff, log L) columns of the HR diagram: predictions, else truth, else None."""
    for pair in HR_CANDIDATES:
        if all(c in df.columns and df[c].notna().any() for c in pair):
            return pair
    return None


def has_columns(df: pd.DataFrame, columns: Sequence[str]) -> bool:
    return all(c in df.columns and df[c].notna().any() for c in columns)


def _limits(values: pd.Series, pad: float = 0.04) -> tuple[float, float]:
    """Finite data range with a small margin; fixes the axes so empty layers cannot stretch them."""
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    margin = (hi - lo) * pad or 0.5
    return lo - margin, hi + margin


def _base(df: pd.DataFrame, x: str, y: str, color_by: str) -> hv.DynamicMap:
    """Base layer: density, the mean of a numeric column, or labels shaded by category."""
    colour = color_by if color_by in df.columns else DENSITY
    columns = [x, y] if colour == DENSITY else list(dict.fromkeys([x, y, colour]))
    points = hv.Points(df[columns], kdims=[x, y], vdims=columns[2:])
    if colour == DENSITY:
        image = rasterize(points, aggregator=ds.count()).opts(
            cmap=["#cfcfcf", "#3b3b3b"], cnorm="eq_hist", colorbar=True, clabel="stars per pixel"
        )
    elif isinstance(df[colour].dtype, pd.CategoricalDtype):
        cats = [str(c) for c in df[colour].cat.categories]
        key = dict(zip(cats, CATEGORY_COLORS, strict=False))
        # HoloViews adds the categorical legend of a count_cat datashade itself.
        image = datashade(points, aggregator=ds.count_cat(colour), color_key=key, min_alpha=80)
    else:
        image = rasterize(points, aggregator=ds.mean(colour)).opts(
            cmap="viridis", cnorm="eq_hist", colorbar=True, clabel=column_label(colour)
        )
    base = dynspread(image, max_px=3, threshold=0.5).opts(tools=TOOLS)
    return base


def _selected(
    selected: hv.streams.Pipe | None,
    x: str,
    y: str,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> hv.DynamicMap:
    """The one-colour layer of the selected rows carried by ``selected``.

    The initial ranges are given because an empty selection has no extent of its own (the plot's
    range stream takes over once it is drawn).
    """
    pipe = selected if selected is not None else hv.streams.Pipe(data=pd.DataFrame({x: [], y: []}))
    dmap = hv.DynamicMap(lambda data: hv.Points(data, kdims=[x, y]), streams=[pipe])
    shaded = datashade(dmap, cmap=[SELECTED_COLOR], min_alpha=180, x_range=xlim, y_range=ylim)
    return dynspread(shaded, max_px=3, threshold=0.8)


def _note(text: str, title: str) -> hv.Overlay:
    """An empty plot carrying a message, for a view whose columns are missing."""
    empty = hv.Points(np.empty((0, 2)))
    note = hv.Text(0, 0, text).opts(text_font_size="11pt")
    return (empty * note).opts(
        frame_width=FRAME_WIDTH, frame_height=FRAME_HEIGHT, title=title, xaxis=None, yaxis=None
    )


def scatter_view(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    color_by: str = DENSITY,
    selected: hv.streams.Pipe | None = None,
    streams: Sequence[hv.streams.Stream] = (),
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    invert_xaxis: bool = False,
    invert_yaxis: bool = False,
) -> hv.DynamicMap:
    """Base layer * selected layer of ``df[x]`` against ``df[y]``.

    ``streams`` (linked tool streams such as ``BoundsXY`` and ``Lasso``) get the base layer as
    their source, so box and lasso drags on the plot reach them.
    """
    base = _base(df, x, y, color_by)
    for stream in streams:
        stream.source = base
    xlim, ylim = _limits(df[x]), _limits(df[y])
    overlay = base * _selected(selected, x, y, xlim, ylim)
    return overlay.opts(
        frame_width=FRAME_WIDTH,
        frame_height=FRAME_HEIGHT,
        title=title,
        xlabel=xlabel or x,
        ylabel=ylabel or y,
        xlim=xlim,
        ylim=ylim,
        invert_xaxis=invert_xaxis,
        invert_yaxis=invert_yaxis,
        tools=TOOLS,
        active_tools=["box_select", "wheel_zoom"],
        legend_position="right",
    )


def umap_plot(df: pd.DataFrame, **kwargs) -> hv.DynamicMap | hv.Overlay:
    """UMAP layout of the embedding; keyword arguments as ``scatter_view``."""
    if not has_columns(df, UMAP_COLUMNS):
        return _note("no UMAP layout in the catalogue; run `desa embed`", "UMAP of DESA embeddings")
    return scatter_view(
        df,
        *UMAP_COLUMNS,
        title="UMAP of DESA embeddings",
        xlabel="UMAP 1",
        ylabel="UMAP 2",
        **kwargs,
    )


def cmd_plot(df: pd.DataFrame, **kwargs) -> hv.DynamicMap | hv.Overlay:
    """Gaia colour-magnitude diagram, BP−RP against M_G with the magnitude axis inverted."""
    if not has_columns(df, CMD_COLUMNS):
        return _note("no Gaia BP−RP / M_G columns in the catalogue", "Colour–magnitude diagram")
    return scatter_view(
        df,
        *CMD_COLUMNS,
        title="Colour–magnitude diagram",
        xlabel="BP − RP [mag]",
        ylabel="M_G [mag]",
        invert_yaxis=True,
        **kwargs,
    )


def hr_plot(df: pd.DataFrame, **kwargs) -> hv.DynamicMap | hv.Overlay:
    """HR diagram, Teff against log L with the Teff axis inverted: predictions, else truth."""
    cols = hr_columns(df)
    if cols is None:
        return _note("no predicted or true Teff and log L; run `desa embed`", "HR diagram")
    kind = "predicted" if cols[0].startswith("pred_") else "true"
    return scatter_view(
        df,
        *cols,
        title=f"HR diagram ({kind})",
        xlabel=f"{kind} Teff [K]",
        ylabel=f"{kind} log10(L / Lsun)",
        invert_xaxis=True,
        **kwargs,
    )
