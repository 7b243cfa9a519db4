"""Find similar: kNN in embedding space, built once per survey, and the similar() expression."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.similar import SimilarStars, similar_for_survey
from dashboard.state import DashboardState
from data.errors import DataError
from data.storage import SurveyStore


def test_neighbours_of_a_star_exclude_it_and_come_nearest_first() -> None:
    # Stars on a line: the neighbours of star 5 are 4 and 6, then 3 and 7.
    embedding = np.stack([np.arange(10.0), np.zeros(10)], axis=1)
    finder = SimilarStars(embedding)
    found = finder.query([5], 4)
    rows, dist = found.rows, found.distances
    assert sorted(rows[:2].tolist()) == [4, 6] and sorted(rows[2:].tolist()) == [3, 7]
    assert 5 not in rows and np.all(np.diff(dist) >= 0)
    # The centroid of 0 and 9 is 4.5: its two nearest are 4 and 5 (members may be included).
    assert sorted(finder([0, 9], 2).tolist()) == [4, 5]
    with pytest.raises(ValueError, match=r"rows must lie in 0\.\.9"):
        finder([10], 2)
    with pytest.raises(ValueError, match="empty selection"):
        finder([], 2)


def test_survey_index_is_cached_and_finds_the_same_population(
    survey_dir: Path, catalog: pd.DataFrame
) -> None:
    first = similar_for_survey(survey_dir, len(catalog))
    assert first is not None and similar_for_survey(survey_dir, len(catalog)) is first
    # The synthetic embedding clusters by population: a star's 10 neighbours share its population.
    row = int(catalog.index[catalog["true_population"] == "giant"][0])
    found = first(np.array([row]), 10)
    assert (catalog["true_population"].to_numpy()[found] == "giant").all()
    with pytest.raises(DataError, match="rows for a catalogue of 7 stars"):
        similar_for_survey(survey_dir, 7)


def test_no_embedding_means_no_similar(tmp_path: Path) -> None:
    assert similar_for_survey(tmp_path / "empty") is None


def test_bad_embedding_is_a_clear_error(tmp_path: Path) -> None:
    store = SurveyStore(tmp_path / "bad")
    store.write_array("embedding", np.array([[0.0, np.nan]], dtype=np.float32))
    with pytest.raises(DataError, match="embedding: holds NaN"):
        similar_for_survey(store.root)


def test_similar_expression_selects_neighbours_in_every_view(survey_dir: Path, catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog, similar=similar_for_survey(survey_dir, len(catalog)))
    state.apply_expression("similar(3, 15)")
    assert state.n_selected == 15 and not state.mask[3]
    assert state.expression == "similar(3, 15)"
    state.apply_expression("similar(true_population == 'young', 25)")
    young = catalog["true_population"].to_numpy() == "young"
    assert state.n_selected == 25 and young[state.mask].all()


def test_find_similar_lists_the_neighbours_with_their_distances(
    survey_dir: Path, catalog: pd.DataFrame
) -> None:
    from dashboard.views.controls import Controls

    similar = similar_for_survey(survey_dir, len(catalog))
    state = DashboardState(catalog=catalog, similar=similar)
    controls = Controls(state=state)
    state.focused_row = 7
    controls._k.value = 12
    assert controls.find_similar()
    listed = controls._distances.value
    expected = similar.query([7], 12)
    assert list(listed["row"]) == expected.rows.tolist() and 7 not in set(listed["row"])
    np.testing.assert_allclose(listed["distance"], expected.distances, rtol=1e-6)
    assert (np.diff(listed["distance"]) >= 0).all() and listed["star"].iloc[0].startswith("KIC ")
    assert set(np.flatnonzero(state.mask)) == set(listed["row"])
    controls._on_distance_click(type("Click", (), {"row": 2})())
    assert state.focused_row == int(listed["row"].iloc[2])
