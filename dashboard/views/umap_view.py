"""UMAP view of the learned embeddings; box and lasso drags select stars in every view."""

from __future__ import annotations

from dashboard import plots
from dashboard.views.base import ScatterView


class UmapView(ScatterView):
    """The 2-D UMAP layout (computed offline by ``desa embed``, only looked up here)."""

    builder = staticmethod(plots.umap_plot)

    def columns(self) -> tuple[str, str] | None:
        return plots.UMAP_COLUMNS if plots.has_columns(self.state.catalog, plots.UMAP_COLUMNS) else None
