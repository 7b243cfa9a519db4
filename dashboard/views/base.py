"""The linked scatter view shared by the UMAP, CMD and HR views.

A view draws its plot builder's output, attaches ``BoundsXY`` (box select), ``Lasso`` (lasso
select), ``Tap`` (click) and ``RangeXY`` (zoom) streams to the base layer, turns a drag into a mask
and hands it to ``state.select``, and a click on a star into ``state.focused_row`` (the star card).
It watches ``state.mask`` and hands it to its selected layer (dashboard/selected_layer.py), so a
selection made in any view redraws the selected image of every view; nothing else is re-rendered.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard import plots
from dashboard.selection import box_mask, box_term, lasso_mask, lasso_term
from dashboard.state import DashboardState

#: A click picks the nearest star within this many screen pixels.
TAP_RADIUS_PX = 6.0
#: Cell size of the click lookup, in full-view pixels: a click reads the cells within its radius.
CELL_PX = 2.0
#: Rows converted at a time while the lookup is built (bounds its temporary memory at 10^7 stars).
_CHUNK = 1 << 20

#: The overlay settings (dashboard.overlays.OverlaySettings) a view redraws on.
OVERLAY_PARAMETERS = ("contours", "ages_gyr", "binary_sequence")

#: Click lookups (``PixelGrid``) per catalogue and column pair; dropped with the frame.
_TREES: dict[tuple[int, str, str], tuple[weakref.ref, PixelGrid, np.ndarray]] = {}


class PixelGrid:
    """Stars sorted by the full-view pixel cell they fall in, for the nearest star to a click.

    It holds one int32 per star with a finite position (the catalogue positions in cell order) and
    one offset per cell; the coordinates stay the catalogue's own columns (memory-mapped, shared by
    the server's processes). A KD-tree of the same stars held ~32 bytes per star per view, 0.9 GiB
    for the three views at 10^7 stars. A click reads only the cells within its radius at the
    current zoom and measures exact screen distances, so what it picks is what looks nearest.
    """

    def __init__(
        self, xs: np.ndarray, ys: np.ndarray, origin: tuple[float, float], scale: np.ndarray
    ) -> None:
        self.xs, self.ys = xs, ys
        self.origin = np.asarray(origin, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.shape = (int(plots.FRAME_HEIGHT // CELL_PX) + 1, int(plots.FRAME_WIDTH // CELL_PX) + 1)
        cells = np.empty(len(xs), dtype=np.int32)
        for start in range(0, len(xs), _CHUNK):
            part = slice(start, start + _CHUNK)
            cells[part] = self._cells(xs[part], ys[part])
        order = np.argsort(cells, kind="stable")
        n_outside = int(np.count_nonzero(cells < 0))  # non-finite positions: cell -1, sorted first
        self.order = order[n_outside:].astype(np.int32)
        del order
        counts = np.bincount(cells[cells >= 0], minlength=self.shape[0] * self.shape[1])
        self.starts = np.concatenate([[0], np.cumsum(counts)])

    def _cells(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Cell number (row-major) of each position; -1 where it is not finite."""
        px = (np.asarray(xs, dtype=np.float64) - self.origin[0]) * (self.scale[0] / CELL_PX)
        py = (np.asarray(ys, dtype=np.float64) - self.origin[1]) * (self.scale[1] / CELL_PX)
        finite = np.isfinite(px) & np.isfinite(py)
        cx = np.clip(np.floor(np.where(finite, px, 0.0)), 0, self.shape[1] - 1).astype(np.int64)
        cy = np.clip(np.floor(np.where(finite, py, 0.0)), 0, self.shape[0] - 1).astype(np.int64)
        return np.where(finite, cy * self.shape[1] + cx, -1)

    @property
    def size(self) -> int:
        """Stars with a finite position."""
        return len(self.order)

    def nearest(self, point: np.ndarray, zoom: np.ndarray, radius_px: float) -> int | None:
        """Catalogue position of the star nearest ``point`` on screen within ``radius_px``, or None.

        ``zoom``: screen pixels per full-view pixel, per axis.
        """
        centre = (point - self.origin) * self.scale / CELL_PX
        reach = radius_px / zoom / CELL_PX
        lo = np.floor(centre - reach).astype(np.int64)
        hi = np.floor(centre + reach).astype(np.int64)
        x0, x1 = max(lo[0], 0), min(hi[0], self.shape[1] - 1)
        y0, y1 = max(lo[1], 0), min(hi[1], self.shape[0] - 1)
        if x0 > x1 or y0 > y1:
            return None
        width = self.shape[1]
        # Within a row of cells the stars of cells x0..x1 are contiguous in ``order``.
        pieces = [
            self.order[self.starts[cy * width + x0] : self.starts[cy * width + x1 + 1]]
            for cy in range(y0, y1 + 1)
        ]
        candidates = np.concatenate(pieces)
        if not candidates.size:
            return None
        factor = self.scale * zoom
        dx = (self.xs[candidates].astype(np.float64) - point[0]) * factor[0]
        dy = (self.ys[candidates].astype(np.float64) - point[1]) * factor[1]
        dist = np.hypot(dx, dy)
        best = int(np.argmin(dist))
        return int(candidates[best]) if dist[best] <= radius_px else None


def _tree(df: pd.DataFrame, x: str, y: str) -> tuple[PixelGrid, np.ndarray]:
    """The cached click lookup of ``(x, y)`` and its full-view pixel scale (pixels per data unit)."""
    key = (id(df), x, y)
    cached = _TREES.get(key)
    if cached is not None and cached[0]() is df:
        return cached[1:]
    (x0, x1), (y0, y1) = plots.column_limits(df, x), plots.column_limits(df, y)
    scale = np.array([plots.FRAME_WIDTH / (x1 - x0), plots.FRAME_HEIGHT / (y1 - y0)])
    grid = PixelGrid(df[x].to_numpy(), df[y].to_numpy(), (x0, y0), scale)
    _TREES[key] = (weakref.ref(df, lambda _ref, key=key: _TREES.pop(key, None)), grid, scale)
    return grid, scale


def nearest_row(
    df: pd.DataFrame,
    x: str,
    y: str,
    point: tuple[float, float],
    *,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    radius_px: float = TAP_RADIUS_PX,
) -> int | None:
    """Catalogue ``row`` of the star nearest to ``point`` within ``radius_px`` screen pixels.

    Distances are in pixels of the current zoom (``x_range``, ``y_range``; the full view when
    None), so a click picks what looks nearest on screen. None when no star is that close.
    """
    grid, scale = _tree(df, x, y)
    if not grid.size or not np.all(np.isfinite(point)):
        return None
    zoom = np.ones(2)
    for axis, (bounds, size) in enumerate(((x_range, plots.FRAME_WIDTH), (y_range, plots.FRAME_HEIGHT))):
        if bounds is not None and None not in bounds and bounds[1] != bounds[0]:
            zoom[axis] = size / abs(float(bounds[1]) - float(bounds[0])) / scale[axis]
    position = grid.nearest(np.asarray(point, dtype=np.float64), zoom, radius_px)
    if position is None:
        return None
    return int(df["row"].iloc[position]) if "row" in df.columns else int(position)


class ScatterView(pn.viewable.Viewer):
    """Base class: subclasses set ``builder`` and ``columns``."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")
    overlays = param.Parameter(
        default=None, doc="Physics overlay settings (dashboard.overlays.OverlaySettings) or None."
    )

    #: Overlay kind drawn by ``overlays`` on this view ("cmd", "hr"), None for no overlay.
    overlay_kind: ClassVar[str | None] = None
    #: Pure plot builder, e.g. ``plots.umap_plot``.
    builder: ClassVar[Callable[..., Any]]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        cols = self.columns()
        self._selected = self._selected_layer()
        self._pane = pn.pane.HoloViews(self._plot(), linked_axes=False)
        if cols is not None:
            # The click lookup (PixelGrid, cached per process) is built once the page has loaded,
            # not on the first click: 0.5 s at 10^6 stars, which a click would otherwise wait for.
            pn.state.onload(partial(_tree, self.state.catalog, *cols))
        self.state.param.watch(self._on_mask, "mask")
        self.state.param.watch(self._on_subsets, "subsets")
        self.state.param.watch(self._on_color, "color_by")
        if self.overlays is not None:
            self.overlays.param.watch(self._on_overlays, list(OVERLAY_PARAMETERS))

    def columns(self) -> tuple[str, str] | None:
        """The (x, y) catalogue columns of this view, or None when the catalogue lacks them."""
        raise NotImplementedError

    def _selected_layer(self) -> Any:
        """The selected-stars layer on this view's current columns (subsets and mask drawn), or None."""
        cols = self.columns()
        layer = None if cols is None else plots.selected_layer(self.state.catalog, *cols)
        if layer is not None:
            layer.set_subsets(self.state.subset_layers())
            layer.update(self.state.mask)
        return layer

    def _replot_on_new_columns(self) -> None:
        """The view's columns changed: a new selected layer on them, and the plot rebuilt."""
        self._selected = self._selected_layer()
        self._pane.object = self._plot()

    def _plot(self) -> hv.core.Dimensioned:
        if self.columns() is None:
            return type(self).builder(self.state.catalog, **self.builder_options())
        box, lasso, tap = hv.streams.BoundsXY(), hv.streams.Lasso(), hv.streams.Tap()
        self._range = hv.streams.RangeXY()
        box.add_subscriber(self._on_box)
        lasso.add_subscriber(self._on_lasso)
        tap.add_subscriber(self._on_tap)
        return type(self).builder(
            self.state.catalog,
            **self.builder_options(),
            color_by=self.state.color_by,
            selected=self._selected,
            streams=[box, lasso, tap, self._range],
            overlay=self._overlay(),
        )

    def builder_options(self) -> dict[str, Any]:
        """Extra keywords for ``builder`` (a subclass passes e.g. the columns it plots)."""
        return {}

    def _overlays_drawn(self) -> tuple[bool, bool]:
        """Whether the settings draw (density contours, physics curves) on this view now."""
        settings = self.overlays
        if settings is None:
            return False, False
        physics = self.overlay_kind is not None and bool(settings.ages_gyr or settings.binary_sequence)
        return bool(settings.contours), physics

    def _overlay(self) -> hv.DynamicMap | None:
        """Physics curves (``overlay_kind``) and density contours, as the settings say.

        Only the layers switched on are in the plot: each layer is a renderer with its glyphs,
        made for every new page (an empty one cost ~0.1 s of a page's CPU at 10^6 stars). Switching
        a kind on or off rebuilds the plot (``_on_overlays``); changing what a shown layer draws
        (another age) redraws that layer alone.
        """
        contours_on, physics_on = self._drawn_overlays = self._overlays_drawn()
        layers = []
        if contours_on:
            layers.append(self.overlays.contour_layer(self.state.catalog, self.columns()))
        if physics_on:
            physics = self._physics()
            if physics is not None:
                layers.append(physics)  # drawn on top of the contours
        if not layers:
            return None
        return layers[0] if len(layers) == 1 else layers[0] * layers[1]

    def _physics(self) -> hv.DynamicMap | None:
        if self.overlay_kind is None:
            return None
        return self.overlays.layer(self.overlay_kind, self.columns())

    # --- tool events -> state ----------------------------------------------------------------
    # A tool event arrives in an async HoloViews callback that holds no document lock, so each
    # change it causes (every view's selected layer, the table page, the histogram, the counts,
    # the expression) went to the browser as a message of its own: ~34 messages per box
    # selection, each applied, laid out and painted by Chromium in turn. Held, they go as one
    # message, as Panel sends the changes of a widget's event (``panel.reactive``).
    def _on_box(self, bounds: tuple[float, float, float, float] | None = None) -> None:
        if bounds is None or not np.all(np.isfinite(bounds)):
            return
        x, y = self.columns()
        with pn.io.hold():
            self.state.select(box_mask(self.state.catalog, x, y, bounds), box_term(x, y, bounds))

    def _on_lasso(self, geometry: np.ndarray | None = None) -> None:
        if geometry is None or len(geometry) < 3:
            return
        x, y = self.columns()
        with pn.io.hold():
            self.state.select(lasso_mask(self.state.catalog, x, y, geometry), lasso_term(x, y, geometry))

    def _on_tap(self, x: float | None = None, y: float | None = None) -> None:
        if x is None or y is None:
            return
        xcol, ycol = self.columns()
        row = nearest_row(
            self.state.catalog,
            xcol,
            ycol,
            (x, y),
            x_range=self._range.x_range,
            y_range=self._range.y_range,
        )
        if row is not None:
            with pn.io.hold():
                self.state.focused_row = row

    # --- state -> plot -----------------------------------------------------------------------
    def _on_mask(self, _event: param.parameterized.Event) -> None:
        if self._selected is not None:
            self._selected.update(self.state.mask)

    def _on_subsets(self, _event: param.parameterized.Event) -> None:
        if self._selected is not None:
            self._selected.set_subsets(self.state.subset_layers())

    def _on_color(self, _event: param.parameterized.Event) -> None:
        self._pane.object = self._plot()

    def _on_overlays(self, *_events: param.parameterized.Event) -> None:
        if self.columns() is not None and self._overlays_drawn() != getattr(self, "_drawn_overlays", None):
            self._pane.object = self._plot()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane
