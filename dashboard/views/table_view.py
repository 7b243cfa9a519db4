"""The selected-stars table: paginated on the server, sortable; a click opens the star card.

Only one page (``PAGE_SIZE`` rows) travels to the browser (Tabulator remote pagination), so the
table stays light for a selection of 10^6 stars. Gaia ``source_id`` is shown as text: as a JS
number it would lose its last digits (DASHBOARD.md section 2.4).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from dashboard.rounding import column_decimals
from dashboard.state import DashboardState
from dashboard.store import column_label
from data import schema
from data.schema import TRUTH_PREFIX

PAGE_SIZE = 25

#: Predicted properties shown with their 68 % interval (our choice of the schema's, for width).
KEY_PREDICTIONS = (schema.TEFF_K, schema.LOGG, schema.FEH, schema.AGE_GYR, schema.PROT_D)

_TITLES = {
    "row": "row",
    "kic_id": "KIC",
    "gaia_source_id": "Gaia DR3 source_id",
    "phot_g_mean_mag": "G [mag]",
    "bp_rp_mag": "BP-RP [mag]",
    "abs_g_mag": "M_G [mag]",
    "binary_prob": "P(binary)",
    TRUTH_PREFIX + schema.POPULATION: "true population",
}


def table_columns(df: pd.DataFrame) -> list[str]:
    """The key columns present in ``df``: ids, Gaia G, colour, M_G, predictions with intervals."""
    wanted = ["row", "kic_id", "gaia_source_id", "phot_g_mean_mag", "bp_rp_mag", "abs_g_mag"]
    for stem in KEY_PREDICTIONS:
        wanted += [f"pred_{stem}", f"pred_{stem}_lo", f"pred_{stem}_hi"]
    wanted += ["binary_prob", TRUTH_PREFIX + schema.POPULATION]
    return [name for name in wanted if name in df.columns]


def table_frame(state: DashboardState) -> pd.DataFrame:
    """The selected rows' key columns, ids as they should read (source_id as text)."""
    columns = table_columns(state.catalog)
    frame = state.selected_frame(columns).reset_index(drop=True)
    if "gaia_source_id" in frame.columns:
        frame = frame.assign(gaia_source_id=frame["gaia_source_id"].astype(str))
    return frame


def number_format(name: str) -> str:
    """The Bokeh/numbro format of column ``name``'s numbers, e.g. ``0.000`` for magnitudes."""
    decimals = column_decimals(name)
    return "0" if decimals == 0 else "0." + "0" * decimals


def _title(name: str) -> str:
    if name in _TITLES:
        return _TITLES[name]
    if name.endswith(("_lo", "_hi")):
        return f"{column_label(name[:-3])} {'16%' if name.endswith('_lo') else '84%'}"
    return column_label(name)


class TableView(pn.viewable.Viewer):
    """Tabulator of the selected stars; clicking a row sets ``state.focused_row``."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        frame = table_frame(self.state)
        floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
        self._table = pn.widgets.Tabulator(
            frame,
            pagination="remote",
            page_size=PAGE_SIZE,
            show_index=False,
            disabled=True,
            selectable=1,
            titles={c: _title(c) for c in frame.columns},
            # Each number to its column's precision (Teff to the kelvin, magnitudes to mmag).
            formatters={c: NumberFormatter(format=number_format(c)) for c in floats},
            frozen_columns=["row"] if "row" in frame.columns else [],
            sizing_mode="stretch_width",
            height=470,
            css_classes=["selected-table"],
        )
        self._table.on_click(self._on_click)
        self._title = pn.pane.Markdown(self._heading(), css_classes=["selected-table-title"])
        self.state.param.watch(self._on_mask, "mask")

    def _heading(self) -> str:
        n = self.state.n_selected
        if n == 0:
            return "### Selected stars\n*Select stars in a plot or type an expression to list them here.*"
        return f"### Selected stars ({n:,}; click a row for its star card)"

    def _on_mask(self, _event: param.parameterized.Event) -> None:
        self._table.value = table_frame(self.state)
        self._title.object = self._heading()

    def _on_click(self, event: Any) -> None:
        self.focus_table_row(event.row)

    def focus_table_row(self, position: int) -> None:
        """Focus the star shown at ``position`` of the table's (unsorted) frame."""
        value = self._table.value
        if "row" not in value.columns or not 0 <= position < len(value):
            return
        self.state.focused_row = int(np.int64(value["row"].iloc[position]))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._title, self._table, sizing_mode="stretch_width")
