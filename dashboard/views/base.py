"""The linked scatter view shared by the UMAP, CMD and HR views.

A view draws its plot builder's output, attaches ``BoundsXY`` (box select) and ``Lasso`` (lasso
select) streams to the base layer, turns a drag into a mask and hands it to ``state.select``. It
watches ``state.mask`` and sends the selected rows through its ``Pipe``, so a selection made in any
view redraws the selected layer of every view; only that layer is re-rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard.selection import box_mask, box_term, lasso_mask, lasso_term
from dashboard.state import DashboardState


class ScatterView(pn.viewable.Viewer):
    """Base class: subclasses set ``builder`` and ``columns``."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    #: Pure plot builder, e.g. ``plots.umap_plot``.
    builder: ClassVar[Callable[..., Any]]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._pipe = hv.streams.Pipe(data=self._selected_frame())
        self._pane = pn.pane.HoloViews(self._plot(), linked_axes=False)
        self.state.param.watch(self._on_mask, "mask")
        self.state.param.watch(self._on_color, "color_by")

    def columns(self) -> tuple[str, str] | None:
        """The (x, y) catalogue columns of this view, or None when the catalogue lacks them."""
        raise NotImplementedError

    def _selected_frame(self) -> pd.DataFrame:
        cols = self.columns()
        if cols is None:
            return pd.DataFrame()
        return self.state.selected_frame(list(cols))

    def _plot(self) -> hv.core.Dimensioned:
        box, lasso = hv.streams.BoundsXY(), hv.streams.Lasso()
        box.add_subscriber(self._on_box)
        lasso.add_subscriber(self._on_lasso)
        return (
            type(self).builder(
                self.state.catalog,
                color_by=self.state.color_by,
                selected=self._pipe,
                streams=[box, lasso],
            )
            if self.columns() is not None
            else type(self).builder(self.state.catalog)
        )

    # --- tool events -> state ----------------------------------------------------------------
    def _on_box(self, bounds: tuple[float, float, float, float] | None = None) -> None:
        if bounds is None or not np.all(np.isfinite(bounds)):
            return
        x, y = self.columns()
        self.state.select(box_mask(self.state.catalog, x, y, bounds), box_term(x, y, bounds))

    def _on_lasso(self, geometry: np.ndarray | None = None) -> None:
        if geometry is None or len(geometry) < 3:
            return
        x, y = self.columns()
        self.state.select(lasso_mask(self.state.catalog, x, y, geometry), lasso_term(x, y, geometry))

    # --- state -> plot -----------------------------------------------------------------------
    def _on_mask(self, _event: param.parameterized.Event) -> None:
        if self.columns() is not None:
            self._pipe.send(self._selected_frame())

    def _on_color(self, _event: param.parameterized.Event) -> None:
        self._pane.object = self._plot()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane
