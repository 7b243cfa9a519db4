"""Named subsets: saved from the selection, combined by set algebra, drawn in every view, shared by URL."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pandas as pd
import pytest
from panel.io.location import Location

from dashboard import subsets as named
from dashboard.state import DashboardState
from dashboard.store import color_options
from dashboard.urlstate import UrlSync, restore
from dashboard.views.subsets_view import SubsetsView
from dashboard.views.umap_view import UmapView
from data.query import ExpressionError, expression_mask


@pytest.fixture
def state(catalog: pd.DataFrame) -> DashboardState:
    return DashboardState(catalog=catalog, color_options=color_options(catalog), color_by="density")


def test_set_algebra_counts_match_the_masks(state: DashboardState, catalog: pd.DataFrame) -> None:
    state.apply_expression("binary_prob > 0.5")
    state.save_selection("binaries")
    state.apply_expression("box(umap_x, umap_y, -3.0, 3.0, -3.0, 3.0)")
    state.save_selection("centre")
    a, b = state.subset_mask("binaries"), state.subset_mask("centre")
    assert 0 < a.sum() < len(catalog) and 0 < b.sum() < len(catalog)
    for operation, expected in (
        ("union", a | b),
        ("intersection", a & b),
        ("difference", a & ~b),
    ):
        subset = state.combine_subsets("binaries", "centre", operation)
        np.testing.assert_array_equal(state.subset_mask(subset.name), expected)
        # The expression alone reproduces it.
        np.testing.assert_array_equal(expression_mask(subset.expression, catalog), expected)
        assert state.subset_count(subset.name) == expected.sum()
    assert [s.name for s in state.subsets] == [
        "binaries",
        "centre",
        "binaries or centre",
        "binaries and centre",
        "binaries not centre",
    ]
    state.select_subset("binaries and centre")
    np.testing.assert_array_equal(state.mask, a & b)


def test_names_and_counts_are_bounded(state: DashboardState) -> None:
    with pytest.raises(named.SubsetError, match="nothing selected"):
        state.save_selection("empty")
    state.apply_expression("row < 10")
    for bad in ("", "<img src=x>", "a:b", "x" * 40):
        with pytest.raises(named.SubsetError):
            state.save_selection(bad)
    for i in range(named.MAX_SUBSETS):
        state.save_selection(f"s{i}")
    with pytest.raises(named.SubsetError, match="at most"):
        state.save_selection("one too many")
    state.save_selection("s0")  # replacing an existing name is allowed
    assert len(state.subsets) == named.MAX_SUBSETS
    with pytest.raises(ExpressionError):
        state.add_subset("bad", "row <")
    assert len(state.subsets) == named.MAX_SUBSETS


def test_subsets_are_drawn_in_their_colours_in_every_view(state: DashboardState) -> None:
    view = UmapView(state=state)
    empty = view._selected.image(*view._selected._ranges)
    assert not empty.any()
    state.apply_expression("true_population == 'giant'")
    state.save_selection("giants")
    state.clear()
    image = view._selected.image(*view._selected._ranges)
    rgba = image.view(np.uint8).reshape(*image.shape, 4)
    drawn = rgba[rgba[..., 3] > 0][:, :3]
    assert len(drawn) > 20
    colour = tuple(int(named.SUBSET_COLOURS[0][i : i + 2], 16) for i in (1, 3, 5))
    assert {tuple(c) for c in drawn} == {colour}, "the subset is not drawn in its palette colour"
    state.remove_subset("giants")
    assert not view._selected.image(*view._selected._ranges).any()


def test_subsets_travel_in_the_url(state: DashboardState, catalog: pd.DataFrame) -> None:
    location = Location(search="")
    sync = UrlSync(state, location)
    state.apply_expression("binary_prob > 0.5")
    state.save_selection("binaries")
    state.apply_expression("row < 100")
    state.save_selection("first 100")
    pairs = urllib.parse.parse_qsl(sync.search.lstrip("?"))
    assert [v for k, v in pairs if k == "subset"] == ["binaries:binary_prob > 0.5", "first 100:row < 100"]
    other = DashboardState(catalog=catalog, color_options=color_options(catalog))
    assert restore(other, sync.search) == []
    assert other.subsets == state.subsets
    np.testing.assert_array_equal(other.subset_mask("binaries"), state.subset_mask("binaries"))


def test_a_bad_subset_in_a_link_is_reported_not_applied(state: DashboardState) -> None:
    search = "?" + urllib.parse.urlencode(
        [
            ("subset", "<b>x</b>:row < 3"),
            ("subset", "ok:row <"),
            ("subset", "nocolon"),
            ("subset", "fine:row < 3"),
        ]
        + [("subset", f"s{i}:row < 3") for i in range(named.MAX_SUBSETS)]
    )
    problems = restore(state, search)
    assert [s.name for s in state.subsets][:1] == ["fine"]
    assert len(problems) == 4 and "first 8 kept" in problems[0]


def test_subsets_view_saves_and_combines(state: DashboardState) -> None:
    view = SubsetsView(state=state)
    assert not view.save("x")  # nothing selected: a message, no exception
    state.apply_expression("row < 50")
    assert view.save("a")
    state.apply_expression("row >= 25 and row < 75")
    assert view.save("b")
    assert view.combine("a", "b", "intersection")
    assert state.subset_count("a and b") == 25
    assert "25 stars" in view._message.object


def test_subset_colours_differ_from_populations_and_selection() -> None:
    from dashboard.selected_layer import SELECTED_COLOR
    from data.schema import POPULATION_COLOURS

    taken = {c.lower() for c in POPULATION_COLOURS.values()} | {SELECTED_COLOR.lower()}
    assert len(set(named.SUBSET_COLOURS)) == named.MAX_SUBSETS
    assert not {c.lower() for c in named.SUBSET_COLOURS} & taken


def test_a_new_selection_does_not_redraw_the_subsets(state: DashboardState, monkeypatch) -> None:
    view = UmapView(state=state)
    layer = view._selected
    state.apply_expression("binary_prob > 0.5")
    state.save_selection("a")
    state.apply_expression("row < 300")
    state.save_selection("b")
    layer.image(*layer._ranges)
    shaded: list[str] = []
    original = layer._shade
    monkeypatch.setattr(
        layer, "_shade", lambda canvas, mask, colour: shaded.append(colour) or original(canvas, mask, colour)
    )
    state.apply_expression("row < 50")  # the views redraw: only the selection is aggregated again
    layer.image(*layer._ranges)
    assert shaded and set(shaded) == {"#e6007e"}, shaded
    shaded.clear()
    state.remove_subset("b")  # a change of subsets redraws them once
    layer.image(*layer._ranges)
    assert shaded.count(named.SUBSET_COLOURS[0]) == 1, shaded
