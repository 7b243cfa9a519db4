"""A serving process paces Panel's full garbage collection after sessions end (dashboard/warm.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from panel.io import document

from dashboard import warm


@pytest.fixture
def full_collections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Generations of the collections that run (gc.callbacks), with Panel's hook restored after."""
    monkeypatch.setattr(document, "_garbage_collect", document._garbage_collect)
    monkeypatch.setitem(warm._collections, "skipped", 0)
    monkeypatch.setitem(warm._collections, "last", 0.0)
    seen: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


def test_panels_collection_after_a_session_runs_one_time_in_collect_every(full_collections) -> None:
    warm.pace_panel_collections()
    # Panel calls its module function by name when a session's document is destroyed.
    assert document._garbage_collect is warm.paced_collect
    ran = [document._garbage_collect() for _ in range(2 * warm.COLLECT_EVERY)]
    assert ran == ([False] * (warm.COLLECT_EVERY - 1) + [True]) * 2
    assert full_collections.count(2) >= 2  # the ones that ran are full collections


def test_a_quiet_server_still_collects_after_the_interval(full_collections, monkeypatch) -> None:
    warm.pace_panel_collections()
    assert document._garbage_collect() is False
    monkeypatch.setitem(warm._collections, "last", warm._collections["last"] - warm.COLLECT_INTERVAL_S)
    assert document._garbage_collect() is True and 2 in full_collections
