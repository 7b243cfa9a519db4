"""The selected-stars table: paginated on the server, sortable; a click opens the star card.

Only the page on show (``PAGE_SIZE`` rows) is ever built: a new selection costs the rows' indices
(``np.flatnonzero`` of the mask) and 25 rows of the catalogue, whatever its size, and sorting by a
column header orders the whole selection here (a partial sort for the first pages), so a
selection of 10^6 stars costs the server no more than one of 10 (issue 16: the table was half of
a box selection's CPU when it held every selected row). Gaia ``source_id`` is shown as text: as a
JS number it would lose its last digits (DASHBOARD.md section 2.4); it is sorted as the integer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard.rounding import column_decimals
from dashboard.state import DashboardState
from dashboard.store import column_label
from data import schema
from data.schema import TRUTH_PREFIX

PAGE_SIZE = 25
#: Catalogue identifiers, shown as text.
ID_COLUMNS = ("kic_id", "gaia_source_id")

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


def table_frame(state: DashboardState, rows: np.ndarray) -> pd.DataFrame:
    """Key columns of catalogue ``rows`` (a page: each column's rows taken, not the catalogue's)."""
    columns = table_columns(state.catalog)
    rows = np.asarray(rows, dtype=np.int64)
    frame = pd.DataFrame({c: state.catalog[c].array.take(rows) for c in columns}, columns=columns)
    # Identifiers as text: read and copied as the archives write them (no digit grouping, no
    # rounding of 19-digit Gaia ids in JavaScript); sorting uses the catalogue's integers.
    ids = {c: frame[c].astype(str) for c in ID_COLUMNS if c in frame.columns}
    return frame.assign(**ids)


def _sort_key(values: np.ndarray, ascending: bool) -> np.ndarray:
    """A numeric key that orders ``values`` (missing last in either direction)."""
    if values.dtype.kind in "biuf":
        key = values.astype(np.float64)
    else:  # text or categories: their rank among the values present
        codes, _ = pd.factorize(pd.Series(values), sort=True, use_na_sentinel=True)
        key = np.where(codes < 0, np.nan, codes).astype(np.float64)
    return key if ascending else -key


def sorted_page(
    catalog: pd.DataFrame, rows: np.ndarray, sorters: list[dict[str, Any]], start: int, stop: int
) -> np.ndarray:
    """Rows ``start:stop`` of ``rows`` (catalogue order) once ordered by Tabulator ``sorters``.

    ``sorters`` are Tabulator's ``[{"field": name, "dir": "asc" | "desc"}, ...]``, the first the
    primary key; fields not in ``catalog`` are ignored. Ties and missing values keep catalogue
    order (missing last), as a stable sort of the whole selection would. One key and an early
    page use a partial sort: O(n) for the first pages of 10^6 stars instead of O(n log n).
    """
    keys = [
        _sort_key(catalog[s["field"]].to_numpy()[rows], s.get("dir", "asc") != "desc")
        for s in sorters
        if s.get("field") in catalog.columns
    ]
    if not keys:
        return rows[start:stop]
    stop = min(stop, len(rows))
    if len(keys) == 1 and stop < len(rows) // 4:
        key = np.nan_to_num(keys[0], nan=np.inf)  # missing after every number, as in a full sort
        first = np.argpartition(key, stop - 1)[:stop] if stop > 0 else np.empty(0, np.int64)
        # Everything tied with the last kept key competes by catalogue order, as a stable sort.
        edge = key[first].max() if len(first) else np.inf
        candidates = np.union1d(first, np.flatnonzero(key == edge))
        order = candidates[np.lexsort((candidates, key[candidates]))]
        return rows[order[start:stop]]
    # lexsort: the last key is the primary one; row position breaks the remaining ties.
    order = np.lexsort((np.arange(len(rows)), *[np.nan_to_num(k, nan=np.inf) for k in reversed(keys)]))
    return rows[order[start:stop]]


#: Shown for a missing number (NaN), as Bokeh's NumberFormatter showed it.
MISSING_NUMBER = "-"


def number_formatter(name: str) -> pn.io.JSCode:
    """Tabulator formatter of column ``name``: its numbers to its precision, a missing one as "-".

    A plain function of the cell's value, compiled once in the browser. Bokeh's ``NumberFormatter``
    (numbro format ``0.000``) gave the same text, but Panel bridges it into Tabulator by building
    each cell's HTML and parsing it back (``innerHTML``) for every cell of every new page: Tabulator's
    ``setData`` took 2.5 and 1.7 s with it, 1.4 s without, for eight box selections (Chromium
    traces, docs/DEPLOY.md §4). Values are numbers from the catalogue, never HTML, and the code
    is ours (only ``decimals`` varies).
    """
    decimals = int(column_decimals(name))
    return pn.io.JSCode(
        "function(cell) { const v = cell.getValue();"
        " return (v === null || v === undefined || Number.isNaN(v))"
        f" ? {MISSING_NUMBER!r} : v.toFixed({decimals}); }}"
    )


def column_width(name: str) -> int:
    """Pixels for column ``name``: its title, or its widest value, whichever is longer.

    Fixed widths spare the browser Tabulator's measuring of every cell on each new page of rows
    (about 10 % of Chromium's CPU per box selection, docs/DEPLOY.md §4).
    """
    if name == "gaia_source_id":
        chars = 19
    elif name in ID_COLUMNS or name == "row":
        chars = 9
    else:
        chars = 6 + column_decimals(name)  # e.g. 12345.678
    return int(min(230, 34 + 8.5 * max(len(_title(name)), chars)))


def _title(name: str) -> str:
    if name in _TITLES:
        return _TITLES[name]
    if name.endswith(("_lo", "_hi")):
        return f"{column_label(name[:-3])} {'16%' if name.endswith('_lo') else '84%'}"
    return column_label(name)


#: Tabulator configuration of a table whose rows are clicked. Tabulator's own resize module
#: redraws the whole table, every cell replaced, each time the table scrolls into view; Chrome
#: sends no click when the cell under a press is replaced before the release, so a row clicked as
#: the table scrolled in was lost on a loaded machine (tests/ui/test_table.py). Panel redraws the
#: table itself when its size changes.
CLICKABLE_TABLE = {"autoResize": False}
#: Rows of one text line at a fixed height: Tabulator otherwise measures every cell of every new
#: row (a forced layout each) when a box selection sends a new page (a Chromium trace of eight
#: selections: the table 1.45 s of the page's 4.3 s of main-thread work, the row heights 0.24 s).
ROW_HEIGHT_PX = 28
FAST_ROWS = {"rowHeight": ROW_HEIGHT_PX}


class TableView(pn.viewable.Viewer):
    """The selected stars, one page at a time; clicking a row sets ``state.focused_row``.

    The Tabulator holds only the page on show; the pager (previous / page number / next) and the
    column headers' sorting are served here over the whole selection.
    """

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._selected = self._selected_rows()
        frame = table_frame(self.state, self._selected[:0])
        floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
        self._table = pn.widgets.Tabulator(
            frame,
            pagination=None,
            widths={c: column_width(c) for c in frame.columns},
            show_index=False,
            disabled=True,
            selectable=1,
            titles={c: _title(c) for c in frame.columns},
            # Each number to its column's precision (Teff to the kelvin, magnitudes to mmag).
            formatters={c: number_formatter(c) for c in floats},
            frozen_columns=["row"] if "row" in frame.columns else [],
            sizing_mode="stretch_width",
            height=470,
            css_classes=["selected-table"],
            configuration={**CLICKABLE_TABLE, **FAST_ROWS},
        )
        self._table.on_click(self._on_click)
        self._table.param.watch(self._on_sort, "sorters")
        self._title = pn.pane.Markdown(self._heading(), css_classes=["selected-table-title"])
        self._previous = pn.widgets.Button(label="‹ Previous", width=100, css_classes=["table-previous"])
        self._next = pn.widgets.Button(label="Next ›", width=100, css_classes=["table-next"])
        self._page = pn.widgets.IntInput(value=1, start=1, end=1, width=90, css_classes=["table-page"])
        self._range = pn.pane.Str("", css_classes=["table-range"], margin=(12, 10))
        self._previous.on_click(lambda _event: self.go_to_page(self._page.value - 1))
        self._next.on_click(lambda _event: self.go_to_page(self._page.value + 1))
        self._page.param.watch(lambda event: self.go_to_page(event.new), "value")
        self._show_page(1)
        self.state.param.watch(self._on_mask, "mask")

    @property
    def n_pages(self) -> int:
        """Pages of ``PAGE_SIZE`` rows in the current selection (at least 1)."""
        return max(1, -(-len(self._selected) // PAGE_SIZE))

    def _heading(self) -> str:
        n = self.state.n_selected
        if n == 0:
            return "### Selected stars\n*Select stars in a plot or type an expression to list them here.*"
        return f"### Selected stars ({n:,}; click a row for its star card)"

    def _selected_rows(self) -> np.ndarray:
        mask = self.state.mask
        return np.empty(0, dtype=np.int64) if mask is None else np.flatnonzero(mask)

    def _on_mask(self, _event: param.parameterized.Event) -> None:
        self._selected = self._selected_rows()
        self._title.object = self._heading()
        self._show_page(1)

    def _on_sort(self, _event: param.parameterized.Event) -> None:
        self._show_page(1)

    def go_to_page(self, page: int) -> None:
        """Show page ``page`` (1-based; clipped to the selection's pages)."""
        page = min(max(int(page), 1), self.n_pages)
        if page != self._page.value or page != self._shown_page:
            self._show_page(page)

    def _show_page(self, page: int) -> None:
        self._shown_page = page
        n = len(self._selected)
        start = (page - 1) * PAGE_SIZE
        rows = sorted_page(self.state.catalog, self._selected, self._table.sorters, start, start + PAGE_SIZE)
        self._table.value = table_frame(self.state, rows)
        self._page.param.update(end=self.n_pages, value=page)
        self._previous.disabled = page <= 1
        self._next.disabled = page >= self.n_pages
        self._range.object = f"stars {start + 1:,}–{start + len(rows):,} of {n:,}" if n else ""

    def _on_click(self, event: Any) -> None:
        self.focus_table_row(event.row)

    def focus_table_row(self, position: int) -> None:
        """Focus the star shown at ``position`` of the page on show (its frame's order)."""
        value = self._table.value
        if "row" not in value.columns or not 0 <= position < len(value):
            return
        self.state.focused_row = int(np.int64(value["row"].iloc[position]))

    def __panel__(self) -> pn.viewable.Viewable:
        pager = pn.Row(self._previous, self._page, self._next, self._range, css_classes=["table-pager"])
        return pn.Column(self._title, self._table, pager, sizing_mode="stretch_width")
