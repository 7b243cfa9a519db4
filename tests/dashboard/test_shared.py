"""Values shared by the sessions of one process (dashboard/shared.py): once per store generation.

A new generation (``desa embed`` writing a new layout) must reach the next session's plots, never
the previous generation's cached limits or base layers.
"""

from __future__ import annotations

from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd

from benchmarks import fixtures
from dashboard import plots, shared
from dashboard.store import load_catalog, session_generation
from data.storage import SurveyStore


def _counting(value: object) -> tuple[list[int], object]:
    calls: list[int] = []

    def compute() -> object:
        calls.append(1)
        return value

    return calls, compute


def test_a_value_is_computed_once_per_generation_and_dropped_by_a_newer_one() -> None:
    old, new = pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [2.0]})
    shared.register(old, "/survey", "g000001")
    calls, compute = _counting(1.0)
    assert shared.shared(old, "limits", "a", compute) == 1.0
    assert shared.shared(old, "limits", "a", compute) == 1.0
    assert len(calls) == 1
    shared.register(new, "/survey", "g000002")
    calls_new, compute_new = _counting(2.0)
    assert shared.shared(new, "limits", "a", compute_new) == 2.0
    assert len(calls_new) == 1
    # A session still on the old generation computes its own value and nothing keeps it.
    calls_old, compute_old = _counting(1.0)
    shared.shared(old, "limits", "a", compute_old)
    shared.shared(old, "limits", "a", compute_old)
    assert len(calls_old) == 2
    assert shared.shared(new, "limits", "a", compute_new) == 2.0 and len(calls_new) == 1


def test_values_of_only_the_most_recent_survey_folders_are_kept() -> None:
    # Kept values can hold memory-mapped columns (one file descriptor each): a process opening
    # many surveys in turn must not keep them all.
    frames = [pd.DataFrame({"a": [float(i)]}) for i in range(shared.MAX_FOLDERS + 1)]
    for i, frame in enumerate(frames):
        shared.register(frame, f"/folders/{i}", "g000001")
        shared.shared(frame, "limits", "a", lambda: object())
    kept = {key[0] for key in shared._VALUES}
    assert "/folders/0" not in kept and f"/folders/{shared.MAX_FOLDERS}" in kept
    assert len([k for k in kept if k.startswith("/folders/")]) == shared.MAX_FOLDERS
    calls, compute = _counting(0.0)
    shared.shared(frames[0], "limits", "a", compute)
    shared.shared(frames[0], "limits", "a", compute)
    assert len(calls) == 2, "an evicted folder's sessions compute their own values"


def test_an_unregistered_frame_is_never_cached() -> None:
    frame = pd.DataFrame({"a": [1.0]})
    calls, compute = _counting(1.0)
    shared.shared(frame, "limits", "a", compute)
    shared.shared(frame, "limits", "a", compute)
    assert len(calls) == 2


def test_a_holoviews_value_is_handed_out_as_a_clone_of_the_same_data() -> None:
    frame = pd.DataFrame({"a": [1.0]})
    shared.register(frame, "/clone", "g000001")
    image = hv.Image(np.zeros((3, 3)))
    first = shared.shared(frame, "image", (), lambda: image)
    second = shared.shared(frame, "image", (), lambda: image)
    assert first is not second and first is not image
    assert np.shares_memory(first.data, image.data)
    # A value made from a shared value is shared too (an operation's result on a shared input).
    calls, compute = _counting(7)
    shared.shared(first, "derived", (), compute)
    shared.shared(second, "derived", (), compute)
    assert len(calls) == 1


def test_a_new_embed_generation_reaches_the_next_sessions_plots(tmp_path: Path) -> None:
    survey = tmp_path / "survey"
    store = fixtures.write_synthetic_survey(survey, n=300, seed=4)
    catalog = load_catalog(survey, session_generation(survey))
    before = plots.column_limits(catalog, "umap_x")
    base_before = _first_frame(catalog)
    assert plots.column_limits(catalog, "umap_x") == before  # the cached value
    # desa embed: a new layout, ten times wider, in a new generation.
    layout = store.read_catalog()
    layout["umap_x"] = layout["umap_x"] * 10
    with store.new_generation("embed") as new:
        new.write_catalog(layout)
    catalog_new = load_catalog(survey, session_generation(survey))
    assert catalog_new is not catalog
    after = plots.column_limits(catalog_new, "umap_x")
    assert after[1] - after[0] > 5 * (before[1] - before[0])
    base_after = _first_frame(catalog_new)
    assert base_after.range("umap_x")[1] > 5 * base_before.range("umap_x")[1]
    assert SurveyStore(survey).generation == session_generation(survey)


def _first_frame(catalog: pd.DataFrame) -> hv.Element:
    """The UMAP base layer a new session draws first (full view), through the shared operations."""
    base = plots._base(catalog, "umap_x", "umap_y", "density")
    return base[()]


def test_a_zoomed_base_layer_is_drawn_for_its_session_and_not_kept(tmp_path: Path) -> None:
    survey = tmp_path / "survey"
    fixtures.write_synthetic_survey(survey, n=300, seed=5)
    catalog = load_catalog(survey, session_generation(survey))
    points = plots._points(catalog, ("umap_x", "umap_y"))
    kept = shared.stats()["values"]
    zoomed = plots._Rasterize(points, dynamic=False, x_range=(0.0, 0.5), y_range=(0.0, 0.5))
    assert zoomed.range("umap_x")[1] <= 0.5 + 1e-9
    assert shared.stats()["values"] == kept
    plots._Rasterize(points, dynamic=False)  # the full view: kept for the next session
    assert shared.stats()["values"] == kept + 1
