"""The selected-stars table: paginated on the server, sortable; a click opens the star card.

Only the page on show (``PAGE_SIZE`` rows) is ever built: a new selection costs the rows' indices
(``np.flatnonzero`` of the mask) and 25 rows of the catalogue, whatever its size, and sorting by a
column header orders the whole selection here (a partial sort for the first pages), so a
selection of 10^6 stars costs the server no more than one of 10 (issue 16: the table was half of
a box selection's CPU when it held every selected row). Gaia ``source_id`` is shown as text: as a
JS number it would lose its last digits (DASHBOARD.md section 2.4); it is sorted as the integer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from panel.custom import JSComponent

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
    """Rows ``start:stop`` of ``rows`` (catalogue order) once ordered by ``sorters``.

    ``sorters`` are ``[{"field": name, "dir": "asc" | "desc"}, ...]``, the first the
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

#: A cell's text in the browser: a number to ``decimals`` places (a missing one as
#: ``MISSING_NUMBER``), or, with ``decimals`` null, the value as text. Cells are set as text
#: (``textContent``), never parsed as HTML: a catalogue value cannot become markup.
CELL_TEXT_JS = (
    "(value, decimals) => (decimals === null || decimals === undefined)"
    " ? (value === null || value === undefined ? '' : String(value))"
    " : ((value === null || value === undefined || Number.isNaN(value))"
    f" ? {MISSING_NUMBER!r} : Number(value).toFixed(decimals))"
)


def column_width(name: str) -> int:
    """Pixels for column ``name``: its title, or its widest value, whichever is longer.

    Fixed widths (``table-layout: fixed``) spare the browser measuring every cell of each new
    page of rows (docs/DEPLOY.md §4).
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


#: Rows of one text line at a fixed height (the browser lays out no cell to size a row).
ROW_HEIGHT_PX = 28
#: Height of the table [px]: its header, a whole page of rows and a sideways scroll bar.
TABLE_HEIGHT_PX = (PAGE_SIZE + 1) * ROW_HEIGHT_PX + 20

#: The table's look. The first column (``row``) is a table of its own beside the others, which
#: scroll sideways; the box is tall enough for a whole page, so the header never scrolls away.
#: (CSS ``position: sticky`` cells did the same, but Chromium made a compositing layer of each:
#: ~0.1 s more per new page in a trace of eight box selections.) Colours follow the page's theme.
TABLE_CSS = f"""
:host {{ display: block; }}
.desa-table {{ display: flex; align-items: flex-start; border: 1px solid rgba(128,128,128,0.35); }}
.desa-table-scroll {{ overflow-x: auto; overflow-y: hidden; flex: 1 1 auto; }}
.desa-table-frozen {{ flex: 0 0 auto; border-right: 1px solid rgba(128,128,128,0.5); }}
table {{ border-collapse: separate; border-spacing: 0; table-layout: fixed; font-size: 13px;
  font-variant-numeric: tabular-nums; color: var(--panel-on-background-color, inherit); }}
th, td {{ height: {ROW_HEIGHT_PX}px; box-sizing: border-box; padding: 0 8px; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; border-bottom: 1px solid rgba(128,128,128,0.2); }}
td.number, th.number {{ text-align: right; }}
th {{ text-align: left; font-weight: 600; cursor: pointer; user-select: none;
  border-bottom: 1px solid rgba(128,128,128,0.5); }}
th .arrow {{ margin-left: 4px; opacity: 0.7; }}
tbody tr {{ cursor: pointer; }}
tbody tr.hover td {{ background: rgba(128,128,128,0.12); }}
tbody tr.focused td {{ background: rgba(0,114,178,0.22); }}
tbody tr:focus-visible {{ outline: 2px solid #0072B2; outline-offset: -2px; }}
"""


class StarRows(JSComponent):
    """A page of catalogue rows as a plain HTML table; the server does the paging and sorting.

    ``columns`` are ``{"field", "title", "width", "decimals"}`` (``decimals`` null for text) and
    ``values`` the page, one list per column. The browser sends ``{"click": position}`` when a row
    is clicked (or Enter pressed on it) and ``{"sort": field, "add": bool}`` when a header is
    (``add``: with Shift, Ctrl or Cmd, a further sort key); the server answers with new
    ``sorters`` and ``values``.

    Why not Panel's Tabulator (which this replaced, issue 16): each new page made Tabulator
    rebuild its rows, ~0.2 s of the browser's main thread per box selection (a Chromium trace of
    eight selections: ``setData`` 1.6 s) against ~0.01 s for this table's 25 rows; the browser's
    share was what kept a selection over 1 s under load (docs/DEPLOY.md §4).
    """

    columns = param.List(default=[], doc="The columns: field, title, width [px], decimals.")
    values = param.List(default=[], doc="The page on show, one list per column (null: missing).")
    sorters = param.List(default=[], doc='The sort keys, first the primary: {"field", "dir"}.')

    _esm = """
    const cellText = CELL_TEXT;
    export function render({ model }) {
      // The first column in a table of its own (not scrolled sideways), the others beside it.
      const box = document.createElement("div");
      box.className = "desa-table";
      const parts = [0, 1].map(() => {
        const table = document.createElement("table");
        const colgroup = document.createElement("colgroup");
        const head = document.createElement("thead");
        const body = document.createElement("tbody");
        table.append(colgroup, head, body);
        return { table, colgroup, head, body, from: 0, to: 0 };
      });
      const frozen = document.createElement("div");
      frozen.className = "desa-table-frozen";
      frozen.append(parts[0].table);
      const scroll = document.createElement("div");
      scroll.className = "desa-table-scroll";
      scroll.append(parts[1].table);
      box.append(frozen, scroll);
      let focused = -1;
      const rowsAt = (position) => parts.map((p) => p.body.children[position]).filter(Boolean);
      const drawHeader = () => {
        const cols = model.columns;
        parts[0].to = parts[1].from = Math.min(1, cols.length);
        parts[1].to = cols.length;
        const dirs = new Map(model.sorters.map((s, i) => [s.field, [s.dir, i]]));
        for (const p of parts) {
          const mine = cols.slice(p.from, p.to);
          p.colgroup.replaceChildren(...mine.map((c) => {
            const col = document.createElement("col");
            col.style.width = c.width + "px";
            return col;
          }));
          p.table.style.width = mine.reduce((sum, c) => sum + c.width, 0) + "px";
          const tr = document.createElement("tr");
          for (const c of mine) {
            const th = document.createElement("th");
            th.dataset.field = c.field;
            if (c.decimals !== null) th.className = "number";
            th.title = c.title + " (click to sort; Shift-click to add a key)";
            th.textContent = c.title;
            const sorted = dirs.get(c.field);
            if (sorted) {
              const arrow = document.createElement("span");
              arrow.className = "arrow";
              const rank = dirs.size > 1 ? sorted[1] + 1 : "";
              arrow.textContent = (sorted[0] === "desc" ? "\\u25BC" : "\\u25B2") + rank;
              th.setAttribute("aria-sort", sorted[0] === "desc" ? "descending" : "ascending");
              th.append(arrow);
            }
            tr.append(th);
          }
          p.head.replaceChildren(tr);
        }
      };
      const drawBody = () => {
        const cols = model.columns;
        const values = model.values;
        const n = values.length ? values[0].length : 0;
        for (const p of parts) {
          const rows = [];
          for (let i = 0; i < n; i++) {
            const tr = document.createElement("tr");
            tr.dataset.position = i;
            if (p.from === 0) tr.tabIndex = 0;
            for (let j = p.from; j < p.to; j++) {
              const td = document.createElement("td");
              td.dataset.field = cols[j].field;
              if (cols[j].decimals !== null) td.className = "number";
              td.textContent = cellText(values[j][i], cols[j].decimals);
              tr.append(td);
            }
            rows.push(tr);
          }
          p.body.replaceChildren(...rows);
        }
        focused = -1;
      };
      const choose = (tr) => {
        for (const row of rowsAt(focused)) row.classList.remove("focused");
        focused = Number(tr.dataset.position);
        for (const row of rowsAt(focused)) row.classList.add("focused");
        model.send_msg({ click: focused });
      };
      for (const p of parts) {
        p.body.addEventListener("click", (event) => {
          const tr = event.target.closest("tr");
          if (tr) choose(tr);
        });
        p.body.addEventListener("keydown", (event) => {
          const tr = event.target.closest("tr");
          if (tr && event.key === "Enter") choose(tr);
        });
        // One row across both tables lights up under the pointer.
        p.body.addEventListener("mouseover", (event) => {
          const tr = event.target.closest("tr");
          if (tr) for (const row of rowsAt(Number(tr.dataset.position))) row.classList.add("hover");
        });
        p.body.addEventListener("mouseout", (event) => {
          const tr = event.target.closest("tr");
          if (tr) for (const row of rowsAt(Number(tr.dataset.position))) row.classList.remove("hover");
        });
        p.head.addEventListener("click", (event) => {
          const th = event.target.closest("th");
          const add = event.shiftKey || event.ctrlKey || event.metaKey;
          if (th) model.send_msg({ sort: th.dataset.field, add });
        });
      }
      model.on("values", drawBody);
      model.on("sorters", drawHeader);
      model.on("columns", () => { drawHeader(); drawBody(); });
      drawHeader();
      drawBody();
      return box;
    }
    """.replace("CELL_TEXT", CELL_TEXT_JS)

    def __init__(self, **params: Any) -> None:
        params.setdefault("stylesheets", [TABLE_CSS])
        super().__init__(**params)
        #: ``(position)`` when a row of the page is clicked; ``(field, add)`` when a header is.
        self.on_row: Callable[[int], Any] = lambda _position: None
        self.on_header: Callable[[str, bool], Any] = lambda _field, _add: None

    def _handle_msg(self, data: Any) -> None:
        # From the browser: anything but a known field or a position on the page is ignored.
        if not isinstance(data, dict):
            return
        position, field = data.get("click"), data.get("sort")
        if isinstance(position, int) and not isinstance(position, bool):
            if 0 <= position < (len(self.values[0]) if self.values else 0):
                self.on_row(position)
        elif isinstance(field, str) and field in {c["field"] for c in self.columns}:
            self.on_header(field, bool(data.get("add")))


def column_spec(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``StarRows.columns`` for the columns of ``frame``: numbers with their column's decimals."""
    return [
        {
            "field": name,
            "title": _title(name),
            "width": column_width(name),
            "decimals": int(column_decimals(name)) if pd.api.types.is_float_dtype(frame[name]) else None,
        }
        for name in frame.columns
    ]


def column_values(frame: pd.DataFrame) -> list[list[Any]]:
    """``StarRows.values`` of ``frame``: one list per column, a missing value as ``None``."""
    out = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_float_dtype(column):
            array = column.to_numpy(dtype=np.float64)
            out.append([None if v != v else v for v in array.tolist()])
        elif pd.api.types.is_integer_dtype(column) or pd.api.types.is_bool_dtype(column):
            # Nullable integer columns (``Int64``) may hold NA: sent as null, like a missing float.
            out.append([None if pd.isna(v) else v for v in column.astype(object).tolist()])
        else:
            out.append([None if pd.isna(v) else str(v) for v in column.tolist()])
    return out


def next_sorters(sorters: list[dict[str, str]], field: str, add: bool) -> list[dict[str, str]]:
    """The sort keys after a click on ``field``'s header (``add``: Shift-click, a further key).

    A first click sorts ascending, the next descending, and so on; a plain click makes ``field``
    the only key, a Shift-click adds it after the others (or flips it where it already is).
    """
    current = next((s for s in sorters if s["field"] == field), None)
    direction = "desc" if current is not None and current["dir"] == "asc" else "asc"
    if not add:
        return [{"field": field, "dir": direction}]
    if current is None:
        return [*sorters, {"field": field, "dir": direction}]
    return [{"field": s["field"], "dir": direction} if s is current else s for s in sorters]


class TableView(pn.viewable.Viewer):
    """The selected stars, one page at a time; clicking a row sets ``state.focused_row``.

    The table holds only the page on show; the pager (previous / page number / next) and the
    column headers' sorting are served here over the whole selection.
    """

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._selected = self._selected_rows()
        self._frame = table_frame(self.state, self._selected[:0])
        self._table = StarRows(
            columns=column_spec(self._frame),
            sizing_mode="stretch_width",
            height=TABLE_HEIGHT_PX + 2,
            css_classes=["selected-table"],
        )
        self._table.on_row = self.focus_table_row
        self._table.on_header = self.sort_by
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

    @property
    def page_frame(self) -> pd.DataFrame:
        """The rows on show, as the table shows them (ids as text)."""
        return self._frame

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

    def sort_by(self, field: str, add: bool = False) -> None:
        """A click on ``field``'s header (``add``: Shift-click): sort the selection, show page 1."""
        if field not in self._frame.columns:
            return
        self._table.sorters = next_sorters(self._table.sorters, field, add)
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
        self._frame = table_frame(self.state, rows)
        self._table.values = column_values(self._frame)
        self._page.param.update(end=self.n_pages, value=page)
        self._previous.disabled = page <= 1
        self._next.disabled = page >= self.n_pages
        self._range.object = f"stars {start + 1:,}–{start + len(rows):,} of {n:,}" if n else ""

    def focus_table_row(self, position: int) -> None:
        """Focus the star shown at ``position`` of the page on show (its frame's order)."""
        value = self._frame
        if "row" not in value.columns or not 0 <= position < len(value):
            return
        self.state.focused_row = int(np.int64(value["row"].iloc[position]))

    def __panel__(self) -> pn.viewable.Viewable:
        pager = pn.Row(self._previous, self._page, self._next, self._range, css_classes=["table-pager"])
        return pn.Column(self._title, self._table, pager, sizing_mode="stretch_width")
