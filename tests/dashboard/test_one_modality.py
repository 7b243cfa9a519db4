"""Stars with one modality in the dashboard: a note on the star card, a name, and a filter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.state import DashboardState
from dashboard.views import star_card
from dashboard.views.star_card import StarCard
from data import schema
from data.query import expression_mask


def test_a_star_without_a_spectrum_gets_the_one_modality_note(
    catalog: pd.DataFrame, survey_dir: Path
) -> None:
    catalog = catalog.copy()
    catalog[schema.HAS_LIGHTCURVE] = True
    catalog[schema.HAS_SPECTRUM] = True
    catalog.loc[2, schema.HAS_SPECTRUM] = False
    state = DashboardState(catalog=catalog)
    card = StarCard(state=state, survey_dir=survey_dir)
    state.focused_row = 2
    assert [key for key, note in card._notes.items() if note.visible] == ["spec_absent"]
    assert "Light curve only" in card._notes["spec_absent"].object
    assert "one modality: not trained on" in card._header.text and "split" not in card._header.text
    state.focused_row = 1
    assert not any(note.visible for note in card._notes.values())


def test_missing_modality_keys_read_the_catalogue_flags_first() -> None:
    class Arrays:
        lc_mask = np.ones((2, 4), bool)
        spec_mask = np.zeros((2, 4), bool)

    star = pd.Series({schema.HAS_LIGHTCURVE: True, schema.HAS_SPECTRUM: False})
    assert star_card._missing(Arrays, 0, star) == {"lc": None, "spec": "spec_absent"}
    # Without the flags (an older catalogue) an all-masked spectrum is still named as such.
    assert star_card._missing(Arrays, 0) == {"lc": None, "spec": "spec_masked"}


def test_stars_are_named_by_mission_and_id() -> None:
    def name(**values: object) -> str:
        return star_card.star_name(pd.Series({"row": 7, "kic_id": schema.NO_ID, "lamost_obsid": 5, **values}))

    assert name(mission=schema.TESS, target_id=358108509) == "TIC 358108509"
    assert name(mission=schema.K2, target_id=211117077) == "EPIC 211117077"
    assert name(mission=schema.KEPLER, target_id=10002792) == "KIC 10002792"
    assert name(mission="", target_id=schema.NO_ID) == "LAMOST 5"


def test_the_selection_language_filters_stars_by_modality() -> None:
    df = pd.DataFrame(
        {
            "row": np.arange(4, dtype=np.int32),
            schema.HAS_LIGHTCURVE: [True, True, False, True],
            schema.HAS_SPECTRUM: [True, False, True, True],
        }
    )
    assert expression_mask("not has_spectrum", df).tolist() == [False, True, False, False]
    assert expression_mask("has_lightcurve and has_spectrum", df).tolist() == [True, False, False, True]
