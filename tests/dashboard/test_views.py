"""Views and app without a server: a box in one view reaches the state and every view's Pipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import pytest

from dashboard.app import build_app
from dashboard.safe_text import escape_markdown
from dashboard.state import DashboardState
from dashboard.store import color_options
from dashboard.views import base
from dashboard.views.base import nearest_row
from dashboard.views.cmd_view import CmdView
from dashboard.views.controls import Controls
from dashboard.views.hr_view import HrView
from dashboard.views.umap_view import UmapView
from data.query import expression_mask


def test_box_in_umap_updates_state_and_every_views_selected_layer(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog, color_options=color_options(catalog))
    views = [UmapView(state=state), CmdView(state=state), HrView(state=state)]
    views[0]._on_box(bounds=(-1.0, -1.0, 1.0, 1.0))
    expected = ((catalog["umap_x"].between(-1, 1)) & (catalog["umap_y"].between(-1, 1))).to_numpy()
    np.testing.assert_array_equal(state.mask, expected)
    assert state.expression.startswith("box(umap_x, umap_y,")
    np.testing.assert_array_equal(expression_mask(state.expression, catalog), expected)
    for view in views:
        assert view._selected.n_selected == expected.sum(), type(view).__name__
    views[1]._on_lasso(geometry=None)  # an empty lasso event changes nothing
    assert state.n_selected == expected.sum()


def test_lasso_in_cmd_with_intersect_mode(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    umap, cmd = UmapView(state=state), CmdView(state=state)
    umap._on_box(bounds=(-10.0, -10.0, 10.0, 10.0))
    state.mode = "intersect"
    cmd._on_lasso(geometry=np.array([[0.0, -5.0], [1.0, -5.0], [1.0, 20.0], [0.0, 20.0]]))
    in_colour = catalog[cmd.columns()[0]].between(0, 1).to_numpy()
    assert 0 < state.n_selected <= in_colour.sum()
    assert [mode for mode, _ in state.terms] == ["replace", "intersect"]


def test_colour_change_rebuilds_plots_and_controls_show_the_count(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog, color_options=color_options(catalog))
    view = UmapView(state=state)
    first = view._pane.object
    state.color_by = "pred_teff_k"
    assert view._pane.object is not first
    controls = Controls(state=state)
    assert controls._count.object == f"Selected: 0 / {len(catalog)}"
    state.select(np.arange(len(catalog)) < 7, {"box": {"x": "umap_x", "y": "umap_y", "bounds": [0, 0, 1, 1]}})
    assert controls._count.object == f"Selected: 7 / {len(catalog)}"
    assert "box(umap_x, umap_y" in controls._expression.value


def test_app_without_catalogue_shows_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DESA_SURVEY", "missing")
    page = build_app()
    alerts = [obj for obj in page.select(pn.pane.Alert)]
    assert len(alerts) == 1
    assert escape_markdown(tmp_path / "missing") in alerts[0].object  # a path is text, not Markdown
    assert "make demo" in alerts[0].object and "desa ingest" in alerts[0].object


def test_app_with_catalogue_builds_the_template(survey_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESA_DATA_DIR", str(survey_dir.parent))
    monkeypatch.setenv("DESA_SURVEY", survey_dir.name)
    page = build_app()
    assert isinstance(page, pn.template.FastListTemplate)
    assert page.title == "DESA stellar embedding explorer"
    parts = [part for obj in page.main for part in obj.select()]
    classes = {c for part in parts for c in part.css_classes}
    assert {"star-card", "template-pair", "template-summary"} <= classes
    # Beside the views: the card with the queue and label buttons, the follow-up list, the subsets.
    assert {"side-panel", "queue-view", "label-bar", "histogram-view"} <= classes
    # The hidden tabs are made when first shown, not for every new page.
    assert not {"followup-view", "subsets-view", "free-x"} & classes
    (side,) = [part for part in parts if "side-panel" in part.css_classes]
    (cell,) = [part for part in parts if isinstance(part, pn.Tabs) and "Any two columns" in part._names]
    for tabs, titles in ((side, ["Follow-up list", "Subsets"]), (cell, ["Any two columns"])):
        for title in titles:
            tabs.active = tabs._names.index(title)
            tabs.get_root()  # the browser shows the tab: it is made and rendered now
    shown = {c for obj in page.main for part in obj.select() for c in part.css_classes}
    assert {"followup-view", "subsets-view", "free-x"} <= shown
    sidebar = [part for obj in page.sidebar for part in obj.select()]
    assert any("overlay-ages" in part.css_classes for part in sidebar)


def test_click_on_a_star_focuses_it_in_the_state(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    umap, cmd = UmapView(state=state), CmdView(state=state)
    star = catalog.iloc[17]
    umap._on_tap(x=float(star["umap_x"]) + 1e-4, y=float(star["umap_y"]))
    assert state.focused_row == 17
    x, y = cmd.columns()
    cmd._on_tap(x=float(catalog[x].iloc[42]), y=float(catalog[y].iloc[42]))
    assert state.focused_row == 42
    cmd._on_tap(x=None, y=None)  # a tap event without a position changes nothing
    assert state.focused_row == 42


def test_nearest_row_needs_a_star_within_a_few_screen_pixels(grid: pd.DataFrame) -> None:
    grid = grid.assign(row=np.arange(len(grid), dtype=np.int32))
    assert nearest_row(grid, "x", "y", (1.0, 1.0)) == 4
    # Full view: the 3 x 3 grid spans the plot, so a point between two stars is tens of pixels away.
    assert nearest_row(grid, "x", "y", (1.5, 1.5)) is None
    # Zoomed far in, 0.01 data units are many pixels: the same offset misses ...
    near = (1.0 + 0.01, 1.0)
    assert nearest_row(grid, "x", "y", near, x_range=(0.99, 1.02), y_range=(0.99, 1.02)) is None
    # ... while at full view it is well under a pixel.
    assert nearest_row(grid, "x", "y", near) == 4
    assert nearest_row(grid, "x", "y", (float("nan"), 1.0)) is None


def test_kd_tree_is_cached_per_catalogue(catalog: pd.DataFrame) -> None:
    first = base._tree(catalog, "umap_x", "umap_y")
    assert base._tree(catalog, "umap_x", "umap_y")[0] is first[0]
    assert base._tree(catalog.copy(), "umap_x", "umap_y")[0] is not first[0]


def test_app_without_a_writable_followup_database_still_builds(
    survey_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESA_DATA_DIR", str(survey_dir.parent))
    monkeypatch.setenv("DESA_SURVEY", survey_dir.name)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("DESA_FOLLOWUP_DB", str(blocker / "followup.sqlite"))  # below a file: unusable
    page = build_app()
    parts = [part for obj in page.main for part in obj.select()]
    classes = {c for part in parts for c in part.css_classes}
    assert "followup-unavailable" in classes and "star-card" in classes and "label-bar" not in classes


def test_a_page_never_joins_the_process_wide_busy_spinner(
    survey_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Panel's busy flag is one per process: each page's spinner would turn for every other user.

    Every event of any session set the spinner of every open page (one message to each page); the
    template has none, and a new page adds nothing to Panel's list of spinners to update.
    """
    from bokeh.document import Document
    from panel.io.state import state

    monkeypatch.setenv("DESA_DATA_DIR", str(survey_dir.parent))
    monkeypatch.setenv("DESA_SURVEY", survey_dir.name)
    before = list(state._indicators)
    page = build_app()
    page.server_doc(Document())
    assert page.busy_indicator is None
    assert state._indicators == before
