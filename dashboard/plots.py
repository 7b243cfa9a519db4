"""Pure HoloViews builders for the three linked views: UMAP, CMD and HR diagram.

Each view is a base layer (datashaded by a label column, or rasterized by density or the mean of a
numeric column, then dynspread so isolated stars stay visible) with a one-colour "selected" layer
above it (dashboard/selected_layer.py, DASHBOARD.md section 2.3-2.4). The base changes only on
zoom, pan or colour-by; a selection redraws only the selected image, straight into Bokeh. Labels
get a legend, numbers a colour bar. Once zoomed in to at most ``HOVER_MAX_POINTS`` stars, a layer
of transparent points gives hover tooltips (star id, population, predictions); physics overlays
(dashboard/overlays.py) go on top. The selected and hover layers are Bokeh renderers that hooks
add to the figure HoloViews makes of the base (``SelectedLayer.attach``, ``HoverLayer``), not
HoloViews layers: a view of a new page costs 0.13 s of CPU instead of 0.32 s at 10^6 stars.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import datashader as ds
import holoviews as hv
import holoviews.plotting.bokeh  # registers the bokeh backend that .opts needs
import numpy as np
import pandas as pd
from bokeh.core.validation import silence
from bokeh.core.validation.warnings import FIXED_SIZING_MODE
from holoviews.operation.datashader import datashade, dynspread, rasterize

from dashboard import aggregates, shared
from dashboard.hover_layer import HOVER_MAX_POINTS, HoverLayer, hover_frame, visible_rows
from dashboard.selected_layer import SelectedLayer
from dashboard.store import CMD_DEREDDENED, CMD_OBSERVED, categorical_columns, column_label, has_values
from data import schema
from data.schema import TRUTH_PREFIX

DENSITY = "density"
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
#: Fixed plot-area sizes: no resize storms (holoviews issue 6672). Chosen so that two views side
#: by side, each with its axes, toolbar above and legend below, leave a 1600 x 1000 screen room
#: for the sidebar and the star card (issue 18, item 0).
FRAME_WIDTH, FRAME_HEIGHT = 300, 250
#: Legend and colour bars below the frame, small and thin (to the right: a third of the width).
COLORBAR_OPTS = {"colorbar_position": "bottom", "colorbar_opts": {"height": 8, "padding": 2}}
LEGEND_OPTS = {"label_text_font_size": "8pt", "glyph_width": 12, "spacing": 0, "padding": 2, "margin": 2}
TOOLS = ["box_select", "lasso_select"]

# The views' figures are fixed by frame_width/frame_height, which Bokeh honours but its validator
# ignores (W-1005 on every page); an outer width or no sizing mode distorts the frames.
silence(FIXED_SIZING_MODE, True)
# Canvas, not WebGL: the views are images, and without a GPU (a VM, a remote desktop) WebGL runs in
# software: 16 % more browser CPU per box selection (docs/DEPLOY.md §4).
hv.renderer("bokeh").webgl = False
UMAP_COLUMNS = ("umap_x", "umap_y")
CMD_COLUMNS = CMD_OBSERVED
#: Axis labels of the CMD columns: observed, and dereddened with GSP-Phot (subscript 0).
CMD_LABELS = {
    "bp_rp_mag": "BP − RP [mag]",
    "abs_g_mag": "M_G [mag]",
    "bp_rp0_mag": "(BP − RP)₀ [mag]",
    "abs_g0_mag": "M_G,0 [mag]",
}
HR_CANDIDATES = tuple(
    tuple(prefix + name for name in schema.HR_PROPERTIES) for prefix in ("pred_", TRUTH_PREFIX)
)


def hr_columns(df: pd.DataFrame) -> tuple[str, str] | None:
    """The (Teff, log L) columns of the HR diagram: predictions, else truth, else None."""
    for pair in HR_CANDIDATES:
        if has_columns(df, pair):
            return pair
    return None


def has_columns(df: pd.DataFrame, columns: Sequence[str]) -> bool:
    """Whether ``df`` has every one of ``columns`` with at least one value (the column files' index)."""
    return all(
        c in df.columns and shared.shared(df, "has_values", c, lambda c=c: has_values(df, c)) for c in columns
    )


def data_limits(values: pd.Series, pad: float = 0.04) -> tuple[float, float]:
    """Finite data range with a small margin; fixes the axes so empty layers cannot stretch them."""
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    margin = (hi - lo) * pad or 0.5
    return lo - margin, hi + margin


def column_limits(df: pd.DataFrame, name: str) -> tuple[float, float]:
    """``data_limits`` of column ``name`` of ``df``, computed once per catalogue (shared.py).

    A view column of a catalogue with aggregates has them in its pyramid (the same limits,
    written when it was built), so its pages are not read here.
    """

    def limits() -> tuple[float, float]:
        for pyramid in _pyramids(df).values():
            for axis, column in enumerate((pyramid.x, pyramid.y)):
                if column == name:
                    return pyramid.limits[axis]
        return data_limits(df[name])

    return shared.shared(df, "limits", name, limits)


def category_colours(categories: Sequence[str]) -> dict[str, str]:
    """Colour per category: the schema's population colours, else ``CATEGORY_COLORS`` in order.

    The population colours (those of the training report's figures) apply when every category is
    a population.
    """
    if set(categories) <= set(schema.POPULATION_COLOURS):
        return {name: schema.POPULATION_COLOURS[name] for name in categories}
    return dict(zip(categories, CATEGORY_COLORS, strict=False))


class _SharedOperation:
    """Mixin: an operation's full-view result on a shared input (shared.py) is computed once.

    The key is what the result depends on: the input's key and every parameter of the call
    (ranges, plot size, aggregator, colours) by value. The full view is the same for every session,
    so a new session draws its base layers from here. A zoomed range is one user's: computed for
    that session and not kept (it would only fill the cache).
    """

    _IGNORED = frozenset({"name", "streams", "link_inputs", "dynamic", "input_ranges"})

    def _full_view(self, element) -> bool:
        ranges = [self.p[name] if name in self.param else None for name in ("x_range", "y_range")]
        for axis, bounds in enumerate(ranges):
            if bounds is not None and None not in bounds:
                # Kept by ``_points`` for a shared input: a range reads every star of the column.
                lo, hi = shared.shared(element, "data_range", axis, lambda axis=axis: element.range(axis))
                if not (min(bounds) <= lo and max(bounds) >= hi):
                    return False
        return True

    def _process(self, element, key=None):
        if not self._full_view(element):
            return super()._process(element, key)
        params = tuple(sorted((n, repr(self.p[n])) for n in self.param if n not in self._IGNORED))
        return shared.shared(
            element, type(self).__name__, params, lambda: super(_SharedOperation, self)._process(element, key)
        )


class _Rasterize(_SharedOperation, rasterize):
    """``rasterize`` whose result on a shared input is shared; counts from a ``pyramid`` if given."""

    _transforms = aggregates.with_pyramids(rasterize._transforms)


class _Datashade(_SharedOperation, datashade):
    """``datashade`` whose result on a shared input is shared; counts from a ``pyramid`` if given."""

    _transforms = aggregates.with_pyramids(datashade._transforms)


class _Dynspread(_SharedOperation, dynspread):
    """``dynspread`` whose result on a shared input is shared."""


def _points(df: pd.DataFrame, columns: tuple[str, ...]) -> hv.Points:
    """The stars as ``hv.Points`` on ``columns`` (x, y, then value dimensions), one per catalogue."""
    # Operations read their input and never change it: the one object is handed to every session.
    points = shared.shared(
        df,
        "points",
        columns,
        lambda: hv.Points(df[list(columns)], kdims=list(columns[:2]), vdims=list(columns[2:])),
        clone=False,
    )
    # Its extent on each axis, once per process (``_SharedOperation``): with aggregates their
    # limits, which hold every star, so that no column is read for it.
    pyramid = base_pyramid(df, *columns[:2])
    for axis in (0, 1):
        shared.shared(
            points,
            "data_range",
            axis,
            lambda axis=axis: pyramid.limits[axis] if pyramid is not None else points.range(axis),
        )
    return points


def view_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The (x, y) columns of the fixed views with values: UMAP, CMD observed and dereddened, HR."""
    hr = hr_columns(df)
    pairs = [UMAP_COLUMNS, CMD_OBSERVED, CMD_DEREDDENED, *([hr] if hr else [])]
    return [tuple(p) for p in pairs if has_columns(df, p)]


def _pyramids(df: pd.DataFrame) -> dict[tuple[str, str], aggregates.Pyramid]:
    """The aggregates of the views of a catalogue of at least ``aggregates.min_rows()`` stars, else none."""
    if len(df) < aggregates.min_rows():
        return {}
    return aggregates.pyramids(df, view_pairs(df), categorical_columns(df))


def base_pyramid(df: pd.DataFrame, x: str, y: str) -> aggregates.Pyramid | None:
    """The aggregates of ``(x, y)`` for a catalogue of at least ``aggregates.min_rows()`` stars, else None."""
    return _pyramids(df).get((x, y))


def _base(df: pd.DataFrame, x: str, y: str, color_by: str, limits: tuple | None = None) -> hv.DynamicMap:
    """Base layer: density, the mean of a numeric column, or labels shaded by category.

    A large catalogue's counts come from its aggregates (``base_pyramid``) where they suffice.
    ``limits`` ((x0, x1), (y0, y1)): the view's axes, where the zoom streams start (``scatter_view``).
    """
    colour = color_by if color_by in df.columns else DENSITY
    columns = (x, y) if colour == DENSITY else tuple(dict.fromkeys([x, y, colour]))
    points = _points(df, columns)
    pyramid = base_pyramid(df, x, y)
    ranges = {} if limits is None else {"x_range": limits[0], "y_range": limits[1]}
    counts = ranges if pyramid is None else {"pyramid": pyramid, **ranges}
    if colour == DENSITY:
        image = _Rasterize(points, aggregator=ds.count(), **counts).opts(
            cmap=["#cfcfcf", "#3b3b3b"],
            cnorm="eq_hist",
            colorbar=True,
            clabel="stars per pixel",
            **COLORBAR_OPTS,
        )
    elif isinstance(df[colour].dtype, pd.CategoricalDtype):
        key = category_colours([str(c) for c in df[colour].cat.categories])
        # HoloViews adds the categorical legend of a count_cat datashade itself.
        image = _Datashade(points, aggregator=ds.count_cat(colour), color_key=key, min_alpha=80, **counts)
    else:
        image = _Rasterize(points, aggregator=ds.mean(colour), **ranges).opts(
            cmap="viridis", cnorm="eq_hist", colorbar=True, clabel=column_label(colour), **COLORBAR_OPTS
        )
    base = _Dynspread(image, max_px=3, threshold=0.5).opts(tools=TOOLS)
    return base


def selected_layer(df: pd.DataFrame, x: str, y: str) -> SelectedLayer:
    """The (empty) selected layer of ``df[x]`` against ``df[y]`` at this module's plot size."""
    return SelectedLayer(
        df, x, y, column_limits(df, x), column_limits(df, y), width=FRAME_WIDTH, height=FRAME_HEIGHT
    )


def hover_stars(df: pd.DataFrame, x: str, y: str, x_range=None, y_range=None) -> pd.DataFrame:
    """The hover table (``hover_frame``) of the stars in view; none until at most ``HOVER_MAX_POINTS`` are."""
    if _covers(column_limits(df, x), x_range) and _covers(column_limits(df, y), y_range):
        # The whole catalogue is in view (a new session's first draw): count it once per process
        # rather than testing every star against the ranges.
        pyramid = base_pyramid(df, x, y)  # its coarsest level counts every star with a position
        n_finite = shared.shared(
            df,
            "finite_xy",
            (x, y),
            lambda: (
                int(np.count_nonzero(visible_rows(df, x, y, None, None)))
                if pyramid is None
                else int(pyramid.levels[aggregates.COUNT][0].sum())
            ),
        )
        if n_finite > HOVER_MAX_POINTS:
            return hover_frame(df, x, y, np.array([], dtype=np.int64))
    inside = visible_rows(df, x, y, x_range, y_range)
    n_visible = int(np.count_nonzero(inside))
    rows = np.flatnonzero(inside) if 0 < n_visible <= HOVER_MAX_POINTS else np.array([], dtype=np.int64)
    return hover_frame(df, x, y, rows)


def _covers(limits: tuple[float, float], bounds: tuple[float, float] | None) -> bool:
    """Whether the plotted range ``bounds`` (None: the full view) contains ``limits``."""
    if bounds is None or None in bounds:
        return True
    lo, hi = sorted(float(b) for b in bounds)
    return lo <= limits[0] and hi >= limits[1]


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
    selected: SelectedLayer | None = None,
    streams: Sequence[hv.streams.Stream] = (),
    overlay: hv.DynamicMap | hv.Element | None = None,
    hover: bool = True,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    invert_xaxis: bool = False,
    invert_yaxis: bool = False,
) -> hv.DynamicMap:
    """The base layer of ``df[x]`` against ``df[y]``, with the selected and hover layers added by hooks.

    ``streams`` (linked tool streams such as ``BoundsXY``, ``Lasso``, ``Tap`` and ``RangeXY``) get
    the base layer as their source, so drags and clicks on the plot reach them. ``overlay``
    (physics curves, see dashboard/overlays.py) is drawn on top; with ``hover`` the stars in view
    get tooltips once zoomed in below ``HOVER_MAX_POINTS``.
    """
    xlim, ylim = column_limits(df, x), column_limits(df, y)
    base = _base(df, x, y, color_by, (xlim, ylim))
    for stream in streams:
        stream.source = base
        if isinstance(stream, hv.streams.RangeXY) and stream.x_range is None:
            # At the axes, HoloViews' second draw after the first frame finds every layer as it is.
            stream.update(x_range=xlim, y_range=ylim)
    if selected is None:
        selected = selected_layer(df, x, y)
    # The selected stars and the hover points are Bokeh renderers that the hooks add to the
    # figure HoloViews makes of the base, redrawn by the view's zoom stream (``SelectedLayer``):
    # the caller's ``RangeXY`` if it gave one (a second would send every zoom twice).
    zoom = next((s for s in streams if isinstance(s, hv.streams.RangeXY)), None)
    if zoom is None:
        zoom = hv.streams.RangeXY(source=base, x_range=xlim, y_range=ylim)
    hooks = [selected.attach]
    zoom.add_subscriber(selected.zoom)
    if hover:
        hover_layer = HoverLayer(df, x, y, partial(hover_stars, df, x, y))
        hooks.append(hover_layer.attach)
        zoom.add_subscriber(hover_layer.zoom)
    legend = {"legend_position": "bottom", "legend_cols": 3, "legend_opts": LEGEND_OPTS}
    if overlay is not None:
        layers = base * overlay
    else:  # the base alone: a legend only for labels (HoloViews' count_cat image draws it)
        layers = base
        categorical = color_by in df.columns and isinstance(df[color_by].dtype, pd.CategoricalDtype)
        # An element's ``legend_cols`` sets Bokeh's rows, an overlay's its columns: three columns
        # here too, so that the legend and the view keep their size.
        columns = {**LEGEND_OPTS, "ncols": 3, "orientation": "vertical"}
        legend = (
            {"legend_position": "bottom", "legend_opts": columns, "show_legend": True} if categorical else {}
        )
    return layers.opts(
        hooks=hooks,
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
        toolbar="above",
        **legend,
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


def cmd_plot(
    df: pd.DataFrame, *, columns: tuple[str, str] = CMD_COLUMNS, **kwargs
) -> hv.DynamicMap | hv.Overlay:
    """Gaia colour-magnitude diagram, colour against M_G with the magnitude axis inverted.

    ``columns`` are the (colour, magnitude) columns: observed ``CMD_COLUMNS`` by default, or the
    GSP-Phot-dereddened ``CMD_DEREDDENED``; other keywords as ``scatter_view``.
    """
    kind = {CMD_DEREDDENED: " (dereddened)", CMD_OBSERVED: " (observed)"}.get(tuple(columns), "")
    # Short: a longer title ("Colour–magnitude diagram (dereddened)") ran past the 300-pixel frame
    # and pushed the view's toolbar out of sight.
    title = f"Gaia CMD{kind}"
    if not has_columns(df, columns):
        return _note(f"no Gaia {' / '.join(columns)} values in the catalogue", title)
    return scatter_view(
        df,
        *columns,
        title=title,
        xlabel=CMD_LABELS.get(columns[0], columns[0]),
        ylabel=CMD_LABELS.get(columns[1], columns[1]),
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


def free_plot(df: pd.DataFrame, *, columns: tuple[str, str], **kwargs) -> hv.DynamicMap | hv.Overlay:
    """Any two numeric columns of the catalogue against each other; keywords as ``scatter_view``."""
    x, y = columns
    title = f"{column_label(y)} against {column_label(x)}"
    if not has_columns(df, columns):
        return _note(f"no values in {x} / {y}", title)
    return scatter_view(df, x, y, title=title, xlabel=column_label(x), ylabel=column_label(y), **kwargs)
