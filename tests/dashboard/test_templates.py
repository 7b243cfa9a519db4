"""Population templates: expressions from thresholds, never truth, and the parser agrees."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import panel as pn
import pytest

from dashboard import templates as tpl
from dashboard.state import DashboardState
from dashboard.views.templates_view import TemplatesView, purity_text, typical_row
from data.query import expression_mask


@pytest.mark.parametrize("name", list(tpl.TEMPLATES))
def test_templates_never_reference_truth(name: str) -> None:
    template = tpl.TEMPLATES[name]
    assert not tpl.uses_truth(template)
    text = template.expression()
    assert "true_" not in text and "population" not in text, text
    for column in re.findall(r"([a-z_]+) [<>]=? ", text):
        assert not column.startswith("true_"), column


def test_uses_truth_catches_a_truth_column() -> None:
    cheat = tpl.Template("cheat", "Cheat", "", (tpl.Condition("true_age_gyr", "<", "a"),), ())
    assert tpl.uses_truth(cheat)


def test_expression_is_built_from_the_thresholds() -> None:
    sync = tpl.TEMPLATES["sync_binary"]
    assert sync.expression() == "binary_prob > 0.5 and pred_prot_d < 8 and cmd_excess_mag > 0.5"
    edited = sync.expression({"p_binary": 0.9, "prot_fast": 3.25})
    assert edited == "binary_prob > 0.9 and pred_prot_d < 3.25 and cmd_excess_mag > 0.5"
    both = tpl.pair_expression({"young": {"age_max": 0.3}})
    assert both.startswith(f"({sync.expression()}) or (pred_age_gyr < 0.3 and")


@pytest.mark.parametrize("name", list(tpl.TEMPLATES))
def test_template_mask_matches_the_expression_parser(catalog: pd.DataFrame, name: str) -> None:
    template = tpl.TEMPLATES[name]
    values = {t.name: t.default * 0.97 for t in template.thresholds}
    np.testing.assert_array_equal(
        template.mask(catalog, values), expression_mask(template.expression(values), catalog)
    )


def test_stricter_threshold_selects_a_subset(catalog: pd.DataFrame) -> None:
    sync = tpl.TEMPLATES["sync_binary"]
    loose, strict = sync.mask(catalog, {"p_binary": 0.5}), sync.mask(catalog, {"p_binary": 0.8})
    assert strict.sum() < loose.sum() and not (strict & ~loose).any()


def test_missing_column_is_named(catalog: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="cmd_excess_mag"):
        tpl.TEMPLATES["sync_binary"].mask(catalog.drop(columns=["cmd_excess_mag"]))


def test_templates_recover_their_synthetic_population(catalog: pd.DataFrame) -> None:
    """A quality threshold on the synthetic survey, through the truth check (never the selection)."""
    for name in ("sync_binary", "young", "giant"):
        template = tpl.TEMPLATES[name]
        selected, hits, total = tpl.purity(catalog, template, template.mask(catalog))
        assert selected > 0 and hits / selected > 0.6, (name, selected, hits, total)


def test_group_summary_counts_and_medians(catalog: pd.DataFrame) -> None:
    masks = {name: tpl.TEMPLATES[name].mask(catalog) for name in tpl.PAIR}
    table = tpl.group_summary(catalog, masks)
    assert list(table.columns) == list(tpl.PAIR)
    assert table.loc["stars", "young"] == masks["young"].sum()
    expected = np.median(catalog.loc[masks["sync_binary"], "binary_prob"])
    assert table.loc["median binary_prob", "sync_binary"] == pytest.approx(expected)


def test_pair_button_selects_both_groups_and_shows_the_summary(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    view = TemplatesView(state=state)
    view._pair_button.clicks += 1
    masks = {name: tpl.TEMPLATES[name].mask(catalog) for name in tpl.PAIR}
    np.testing.assert_array_equal(state.mask, masks["sync_binary"] | masks["young"])
    assert "binary_prob > 0.5" in state.expression and "pred_age_gyr < 1" in state.expression
    table, cards = view._summary.objects
    assert table.object.splitlines()[0] == "| | Synchronized binaries | Young stars |"
    assert f"| stars | {masks['sync_binary'].sum()} | {masks['young'].sum()} |" in table.object
    assert len(cards.objects) == 2
    assert "Check against simulation truth" in cards.objects[0].objects[-1].object
    example = cards.objects[1].objects[3]
    example.clicks += 1
    assert state.focused_row is not None and masks["young"][state.focused_row]


def test_edited_threshold_changes_the_selection(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    view = TemplatesView(state=state)
    view.apply("giant")
    before = state.n_selected
    view.widgets("giant")["giant_excess"].value = 5.0
    view.apply("giant")
    assert 0 < state.n_selected < before
    assert "cmd_excess_mag > 5" in state.expression
    assert "pure" in view._checks["giant"].object


def test_purity_check_is_empty_without_truth(catalog: pd.DataFrame) -> None:
    no_truth = catalog.drop(columns=[c for c in catalog.columns if c.startswith("true_")])
    template = tpl.TEMPLATES["giant"]
    assert purity_text(no_truth, template, template.mask(no_truth)) == ""


def test_typical_row_is_a_member(catalog: pd.DataFrame) -> None:
    mask = tpl.TEMPLATES["young"].mask(catalog)
    assert mask[typical_row(catalog, mask)]
    assert typical_row(catalog, np.zeros(len(catalog), dtype=bool)) is None


def test_threshold_inputs_are_made_when_their_card_is_first_opened(catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog)
    view = TemplatesView(state=state)
    assert view._widgets == {} and not any(body.objects for body in view._bodies.values())
    # Unopened, a template applies its default thresholds.
    np.testing.assert_array_equal(view.apply("giant"), tpl.TEMPLATES["giant"].mask(catalog))
    names = list(tpl.TEMPLATES)
    view._cards.active = [names.index("wide_binary")]
    assert list(view._widgets) == ["wide_binary"]
    body = view._bodies["wide_binary"].objects
    inputs = [w for w in body if isinstance(w, pn.widgets.FloatInput)]
    assert [w.name for w in inputs] == [t.label for t in tpl.TEMPLATES["wide_binary"].thresholds]
    view._cards.active = []
    view._cards.active = [names.index("wide_binary"), names.index("giant")]
    assert view._bodies["wide_binary"].objects == body, "a card opened again keeps its inputs"
    assert sorted(view._widgets) == ["giant", "wide_binary"]
