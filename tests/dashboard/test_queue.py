"""The candidate queue: from a few positives it ranks their kind first, and the diversity term spreads it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmarks.fixtures import synthetic_embedding
from dashboard.followup import FollowupList
from dashboard.queue import diverse_order, fit_scores, knn_order, rank
from dashboard.similar import SimilarStars
from dashboard.state import DashboardState
from dashboard.views.followup_view import FollowupActions
from dashboard.views.keys import KeyListener, key_handler
from dashboard.views.queue_view import QueueView
from data.schema import POPULATION_NAMES


@pytest.fixture
def world() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    populations = rng.choice(POPULATION_NAMES, size=1500)
    vectors = synthetic_embedding(populations, seed=3, dim=8).astype(np.float64)
    vectors = (vectors - vectors.mean(0)) / vectors.std(0)
    return vectors, populations == "sync_binary"


def test_five_positives_put_their_kind_at_the_top(world: tuple[np.ndarray, np.ndarray]) -> None:
    vectors, target = world
    rng = np.random.default_rng(0)
    positives = rng.choice(np.flatnonzero(target), 5, replace=False)
    queue = rank(vectors, positives, np.array([], dtype=np.int64), 50, rng=rng)
    assert len(set(queue.tolist())) == 50 and not set(queue) & set(positives)
    # Random order would find about 50 * target.mean() of them.
    assert target[queue].mean() > 0.8, f"{target[queue].sum()} of 50 queued stars are sync binaries"


def test_the_diversity_term_spreads_the_queue() -> None:
    rng = np.random.default_rng(1)
    # A tight clump of near-copies with the best scores, and a spread of slightly lower ones.
    clump = rng.normal(0, 0.01, (30, 4)) + np.array([5.0, 0, 0, 0])
    spread = rng.normal(0, 3, (200, 4))
    vectors = np.vstack([clump, spread])
    scores = np.concatenate([np.full(30, 10.0), np.full(200, 9.0)]) + rng.normal(0, 0.01, 230)
    plain = diverse_order(vectors, scores, np.arange(230), 10, diversity=0.0)
    diverse = diverse_order(vectors, scores, np.arange(230), 10, diversity=0.5)
    assert (plain < 30).all()  # ten near-copies
    assert (diverse < 30).sum() <= 3, diverse


def test_rejections_change_the_fit_and_knn_baseline(world: tuple[np.ndarray, np.ndarray]) -> None:
    vectors, target = world
    rng = np.random.default_rng(0)
    positives = np.flatnonzero(target)[:5]
    with pytest.raises(ValueError, match="at least one"):
        fit_scores(vectors, np.array([], dtype=np.int64), positives, rng=rng)
    near = knn_order(vectors, positives, positives, 30)
    assert target[near].mean() > 0.8 and not set(near) & set(positives)


def test_the_queue_view_focuses_the_next_candidate_and_moves_on(
    tmp_path, world: tuple[np.ndarray, np.ndarray]
) -> None:
    vectors, target = world
    catalog = pd.DataFrame(
        {"row": np.arange(len(vectors), dtype=np.int32), "kic_id": np.arange(len(vectors)) + 10}
    )
    state = DashboardState(catalog=catalog, similar=SimilarStars(vectors.astype(np.float32)))
    actions = FollowupActions(state=state, store=FollowupList(tmp_path / "f.sqlite", "t"), user="ana")
    queue = QueueView(actions=actions)
    assert queue.next_candidate() is None  # no positive label yet
    for row in np.flatnonzero(target)[:5]:
        state.focused_row = int(row)
        actions.label_focused("confirmed")
    first = queue.next_candidate()
    assert first is not None and state.focused_row == first and target[first]
    actions.label_focused("rejected")  # labelling the candidate moves on to the next
    assert state.focused_row != first and state.focused_row == int(queue.queue[0])
    assert actions.store.labels("ana")[first] == "rejected"


def test_keys_label_and_ask_for_the_next_candidate() -> None:
    calls: list[tuple[str, str]] = []
    handle = key_handler(lambda label: calls.append(("label", label)), lambda: calls.append(("next", "")))
    listener = KeyListener()
    listener.on_msg(handle)
    for message in ({"key": "1"}, {"key": "3"}, {"key": "x"}, "junk", {"key": None}):
        handle(message)
    handle(SimpleNamespace(data={"key": "n"}))  # as Panel calls it: the DataEvent
    assert calls == [("label", "candidate"), ("label", "rejected"), ("next", "")]
