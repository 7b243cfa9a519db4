"""The selected layer of a view: a one-colour image of the selected stars, drawn straight into Bokeh.

A selection changes only this layer of each view. Sending the selected rows through a HoloViews
``Pipe`` into ``datashade`` re-ran the whole overlay's pipeline per view (Dataset wrapping, range
computation, overlay resolution) and recomputed the Bokeh document's model graph once per view:
about 0.1 s per view at 10^6 stars, while the aggregation itself takes milliseconds (DASHBOARD.md
2.1). Here a new mask is aggregated with datashader and shaded once, and the image is written into
the ``ColumnDataSource`` of every rendered copy of the layer (each browser session's own plot).

The layer is not a HoloViews element either: a HoloViews hook on the view's base layer
(``attach``) adds the image's Bokeh renderer to the figure HoloViews made, just above the base
image, and the view's zoom stream (``zoom``, a ``RangeXY`` subscriber) redraws it at the plotted
ranges. As layers of the HoloViews overlay (an element plot each, with its ranges and stream,
made and resolved for every session), this layer and the hover points (``dashboard.hover_layer``) made
each view of a new page cost 0.32 s of CPU at 10^6 stars instead of 0.13 s (issue 16, item 7),
for the same pixels.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

import datashader as ds
import datashader.transfer_functions as tf
import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, GlyphRenderer, ImageRGBA
from panel.io import unlocked
from panel.io.state import state as panel_state

from dashboard import chunked

#: Colour of selected stars (magenta stands out from the grey density and the label colours).
SELECTED_COLOR = "#e6007e"
#: Alpha of the faintest selected pixel (denser pixels up to 255, by histogram equalisation).
MIN_ALPHA = 180

Range = tuple[float, float]
#: Name of the layer's renderer in a view's figure (HoloViews runs hooks again on each redraw).
RENDERER_NAME = "desa-selected-stars"


def _sorted_range(bounds: Any, default: Range) -> Range:
    """``bounds`` as ``(low, high)``; ``default`` when unset or degenerate (inverted axes give high first)."""
    if bounds is None or None in bounds:
        return default
    lo, hi = sorted(float(b) for b in bounds)
    return (lo, hi) if np.isfinite(lo) and np.isfinite(hi) and hi > lo else default


class SelectedLayer:
    """The selected stars of one view, as an image that follows the mask and the zoom.

    ``update(mask)`` redraws every rendered copy at once; ``attach`` (a HoloViews hook) adds the
    layer to a view's figure and ``zoom`` (a ``RangeXY`` subscriber) redraws it on zoom and pan.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        x: str,
        y: str,
        xlim: Range,
        ylim: Range,
        *,
        width: int,
        height: int,
    ) -> None:
        self.x, self.y = x, y
        self.width, self.height = int(width), int(height)
        self._limits = (xlim, ylim)
        # Views of the catalogue's columns (no copy for the float32 store); only selected rows are copied.
        self._xs, self._ys = df[x].to_numpy(), df[y].to_numpy()
        self._mask: np.ndarray | None = None
        self._subsets: list[tuple[np.ndarray, str]] = []
        self._subset_cache: tuple[tuple[Range, Range], Any] | None = None
        self._ranges: tuple[Range, Range] = (xlim, ylim)
        self._copies = RenderedCopies()

    @property
    def mask(self) -> np.ndarray | None:
        return self._mask

    @property
    def n_selected(self) -> int:
        return 0 if self._mask is None else int(np.count_nonzero(self._mask))

    def image(self, x_range: Range, y_range: Range) -> np.ndarray:
        """``(height, width)`` uint32 RGBA of the selected stars in the ranges; row 0 at the bottom.

        Count per pixel, shaded in one colour with alpha by histogram equalisation, then spread up
        to 3 px where stars are sparse (as the base layer), so a few selected stars stay visible.
        Named subsets (``set_subsets``) are drawn the same way in their colours, below the selection.
        """
        canvas = ds.Canvas(plot_width=self.width, plot_height=self.height, x_range=x_range, y_range=y_range)
        subsets = self._subsets_image(canvas, (x_range, y_range))
        images = [] if subsets is None else [subsets]
        if self._mask is not None and self._mask.any():
            images.append(self._shade(canvas, self._mask, SELECTED_COLOR))
        if not images:
            return np.zeros((self.height, self.width), dtype=np.uint32)
        image = images[0] if len(images) == 1 else tf.stack(*images)
        return np.ascontiguousarray(image.data, dtype=np.uint32)

    def _shade(self, canvas: ds.Canvas, mask: np.ndarray, colour: str) -> Any:
        if chunked.applies(len(mask)):  # a large catalogue: the selected stars of a chunk at a time
            counts = chunked.count_selected(self._xs, self._ys, mask, canvas)
        else:
            # Row numbers first: two gathers of the selected stars read less than two boolean
            # masks over every star (10^6 stars, 1 / 10 / 40 % selected: 0.7 / 3.9 / 8.4 ms a view
            # against 0.3 / 1.9 / 1.2 ms).
            rows = np.flatnonzero(mask)
            frame = pd.DataFrame({"x": self._xs[rows], "y": self._ys[rows]}, copy=False)
            counts = canvas.points(frame, "x", "y", agg=ds.count())
        shaded = tf.shade(counts, cmap=[colour], min_alpha=MIN_ALPHA)
        return tf.dynspread(shaded, max_px=3, threshold=0.8)

    def _subsets_image(self, canvas: ds.Canvas, ranges: tuple[Range, Range]) -> Any:
        """The subsets' image at ``ranges``, kept until the subsets or the ranges change.

        A new selection redraws only the selection's image on top of it: the subsets' aggregation
        (one per subset) is not repeated for every drag.
        """
        if self._subset_cache is not None and self._subset_cache[0] == ranges:
            return self._subset_cache[1]
        parts = [self._shade(canvas, mask, colour) for mask, colour in self._subsets if mask.any()]
        image = None if not parts else parts[0] if len(parts) == 1 else tf.stack(*parts)
        self._subset_cache = (ranges, image)
        return image

    def zoom(self, x_range: Any = None, y_range: Any = None) -> int:
        """The view was zoomed or panned: redraw every copy at the plotted ranges (a ``RangeXY`` subscriber).

        Unset or degenerate ranges mean the full data range; inverted axes come sorted. Returns how
        many copies were redrawn.
        """
        xr = _sorted_range(x_range, self._limits[0])
        yr = _sorted_range(y_range, self._limits[1])
        self._ranges = (xr, yr)
        return self.update(self._mask)

    def data(self) -> dict[str, list[Any]]:
        """The image at the current ranges as a ``ColumnDataSource``'s data (row 0 at the bottom)."""
        (x0, x1), (y0, y1) = self._ranges
        return {"image": [self.image(*self._ranges)], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}

    def attach(self, plot: Any, _element: Any = None) -> None:
        """HoloViews hook of the view's base layer: add this layer's image to the plot's figure.

        Once per figure (one per browser session's plot), just above the base image; its
        ``ColumnDataSource`` is remembered for ``update``.
        """
        figure = plot.state
        if any(renderer.name == RENDERER_NAME for renderer in figure.renderers):
            return
        source = ColumnDataSource(self.data())
        glyph = ImageRGBA(image="image", x="x", y="y", dw="dw", dh="dh")
        add_above_base(figure, GlyphRenderer(name=RENDERER_NAME, data_source=source, glyph=glyph))
        self._copies.add(source)

    def set_subsets(self, layers: list[tuple[np.ndarray, str]]) -> int:
        """Draw the named subsets ``[(mask, colour), ...]`` (under the selection); redraw every copy."""
        self._subsets = [(np.asarray(mask, dtype=bool), str(colour)) for mask, colour in layers]
        self._subset_cache = None
        return self.update(self._mask)

    def update(self, mask: np.ndarray | None) -> int:
        """Take the new selection and redraw every rendered copy; returns how many were redrawn."""
        self._mask = None if mask is None else np.asarray(mask, dtype=bool)
        return self._copies.write(self.data)


class RenderedCopies:
    """The ``ColumnDataSource`` of each rendered copy of a layer (one per browser session's plot).

    Held weakly: a plot that is gone (a closed page, a view redrawn for a new colouring) drops out.
    """

    def __init__(self) -> None:
        self._refs: list[weakref.ref] = []

    def add(self, source: Any) -> None:
        self._refs = [ref for ref in self._refs if ref() is not None]
        self._refs.append(weakref.ref(source))

    def write(self, data: Callable[[], dict[str, Any]]) -> int:
        """Write ``data()`` (made only if a copy is left) into every copy; how many were written."""
        sources = [s for s in (ref() for ref in self._refs) if s is not None]
        if sources:
            made = data()
            for source in sources:
                write(source, dict(made))
        return len(sources)


def add_above_base(figure: Any, renderer: Any) -> None:
    """Put ``renderer`` into ``figure`` just above its first image (the base layer HoloViews drew).

    Below whatever HoloViews drew after it (contours, physics curves); on top if there is no image.
    """
    renderers = list(figure.renderers)
    images = [
        i for i, r in enumerate(renderers) if type(getattr(r, "glyph", None)).__name__.startswith("Image")
    ]
    at = images[0] + 1 if images else len(renderers)
    while at < len(renderers) and str(getattr(renderers[at], "name", "")).startswith("desa-"):
        at += 1  # after this module's other layers, in the order they were added
    figure.renderers = [*renderers[:at], renderer, *renderers[at:]]


def _assign(source: Any, data: dict[str, list[Any]]) -> None:
    source.data = data


def write(source: Any, data: dict[str, list[Any]]) -> None:
    """Set ``source.data`` the way HoloViews refreshes a plot under ``panel serve``.

    A tool event (box, lasso) arrives in an async HoloViews callback that does not hold the
    session's document lock: ``unlocked`` sends the change straight to the browser, as HoloViews'
    own refresh does. A change from outside the session's context waits for the next tick, which
    holds the lock. Without a server session (tests, benchmarks, notebooks) it is a plain assignment.
    """
    doc = source.document
    if doc is not None and doc.session_context is not None and panel_state.curdoc is not doc:
        doc.add_next_tick_callback(partial(_assign, source, data))
        return
    with unlocked():
        _assign(source, data)
