"""Store generations: a step's outputs appear together or not at all, old stores keep working.

In-process checks of data/generations.py through ``SurveyStore``; the crash tests in
tests/hardening/test_crash.py kill real ``desa`` steps mid-generation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import atomic, generations
from data import catalog as schema
from data.atomic import LockedError
from data.storage import SurveyStore


def _catalog(n: int) -> pd.DataFrame:
    """A catalogue with every required column (values do not matter here)."""
    columns = {col.name: np.arange(n).astype(col.dtype) for col in schema.REQUIRED if col.dtype[0] in "if"}
    columns.update(split=pd.Categorical(["train"] * n), kepler_path=["k"] * n, lamost_path=["l"] * n)
    return pd.DataFrame(columns)


def _ingested(root: Path, n: int = 10) -> SurveyStore:
    store = SurveyStore(root)
    with store.new_generation("ingest", fresh=True) as new:
        new.write_catalog(_catalog(n))
        new.write_array("spec_flux", np.ones((n, 4), np.float32))
        new.update_manifest(ingest={"n_stars": n})
    return store


def _embedded(store: SurveyStore, n: int) -> None:
    with store.new_generation("embed") as new:
        new.write_array("embedding", np.full((n, 2), 7, np.float32))
        new.update_catalog(pd.DataFrame({"row": np.arange(n), "umap_x": np.arange(n, dtype=float)}))
        new.update_manifest(embed={"run": "x"})


def test_a_steps_outputs_become_visible_together(tmp_path: Path) -> None:
    store = _ingested(tmp_path / "s")
    first = store.generation
    with store.new_generation("embed") as new:
        new.write_array("embedding", np.zeros((10, 2), np.float32))
        new.update_catalog(pd.DataFrame({"row": np.arange(10), "umap_x": np.arange(10.0)}))
        # Half-way: a reader of the store sees none of it.
        assert store.generation == first and not store.has_array("embedding")
        assert "umap_x" not in store.read_catalog().columns
        new.update_manifest(embed={"run": "x"})
    assert store.generation != first
    assert store.has_array("embedding") and "umap_x" in store.read_catalog().columns
    manifest = store.read_manifest()
    assert manifest["embed"] == {"run": "x"} and manifest["ingest"] == {"n_stars": 10}
    assert store.steps_done() == ["ingest", "embed"]
    complete = json.loads((store.data_dir / generations.COMPLETE).read_text())
    assert complete["base"] == first and complete["files"]["arrays/embedding.npy"] > 0


def test_a_failed_step_leaves_the_current_generation_and_no_leftovers(tmp_path: Path) -> None:
    store = _ingested(tmp_path / "s")
    first, before = store.generation, store.read_catalog()
    with pytest.raises(RuntimeError, match="model exploded"), store.new_generation("embed") as new:
        new.write_array("embedding", np.zeros((10, 2), np.float32))
        raise RuntimeError("model exploded")
    assert store.generation == first and not store.has_array("embedding")
    pd.testing.assert_frame_equal(store.read_catalog(), before)
    assert not list((store.store_dir / generations.GENERATIONS).glob(".*"))


def test_ingest_invalidates_the_embedding_layout_predictions_and_their_marker(tmp_path: Path) -> None:
    store = _ingested(tmp_path / "s")
    _embedded(store, 10)
    assert generations.marker_path(store.store_dir, "embed").is_file()
    _ingested(tmp_path / "s", n=6)  # a re-ingest with another star count
    assert not store.has_array("embedding"), "a stale embedding of the old catalogue survived ingest"
    assert "umap_x" not in store.read_catalog().columns and "embed" not in store.read_manifest()
    assert len(store.read_catalog()) == 6 and store.steps_done() == ["ingest"]
    assert not generations.marker_path(store.store_dir, "embed").exists()
    marker = json.loads(generations.marker_path(store.store_dir, "ingest").read_text())
    assert marker["generation"] == store.generation


def test_a_pinned_snapshot_keeps_its_generation_and_old_ones_are_collected(tmp_path: Path) -> None:
    store = _ingested(tmp_path / "s")
    pinned = store.snapshot()
    _embedded(store, 10)
    assert not pinned.has_array("embedding") and pinned.read_manifest()["ingest"] == {"n_stars": 10}
    with pytest.raises(RuntimeError, match="read-only"), pinned.new_generation("embed"):
        pass
    for _ in range(generations.KEEP + 1):
        store.update_manifest(note="again")
    kept = sorted(p.name for p in (store.store_dir / generations.GENERATIONS).iterdir())
    assert len(kept) == generations.KEEP and store.generation == kept[-1]
    assert not pinned.data_dir.exists(), "generations older than KEEP are removed"


def test_a_store_from_before_generations_reads_and_moves_into_its_first_generation(tmp_path: Path) -> None:
    root = tmp_path / "old"
    flat = root / "store"
    (flat / "arrays").mkdir(parents=True)
    _catalog(5).to_parquet(flat / "catalog.parquet", index=False)
    np.save(flat / "arrays" / "embedding.npy", np.arange(10.0).reshape(5, 2))
    (flat / "manifest.json").write_text(json.dumps({"format_version": 1, "embed": {"run": "old"}}))
    store = SurveyStore(root)
    assert store.generation is None and store.catalog_path == flat / "catalog.parquet"
    assert store.steps_done() == ["ingest", "embed"] and len(store.read_catalog()) == 5
    store.update_manifest(note="first write")
    assert store.generation == "g000001"
    np.testing.assert_array_equal(store.read_array("embedding"), np.arange(10.0).reshape(5, 2))
    assert store.read_manifest()["embed"] == {"run": "old"} and len(store.read_catalog()) == 5
    assert not (flat / "catalog.parquet").exists() and not (flat / "arrays").exists()


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    store = _ingested(tmp_path / "s")
    with (
        store.new_generation("embed"),
        pytest.raises(LockedError, match=rf"pid {os.getpid()}\) is writing"),
    ):
        store.update_manifest(note="second writer")
    store.update_manifest(note="after the first")
    assert store.read_manifest()["note"] == "after the first"


def test_leftovers_of_a_killed_step_are_removed_by_the_next(tmp_path: Path) -> None:
    store = _ingested(tmp_path / "s")
    folder = store.store_dir / generations.GENERATIONS / ".g000099.building"
    (folder / "arrays").mkdir(parents=True)
    (folder / "arrays" / "embedding.npy").write_bytes(b"half")
    temp = store.data_dir / ".catalog.parquet.a1b2c3d4.tmp"
    temp.write_bytes(b"half")
    _embedded(store, 10)
    assert not folder.exists() and not temp.exists()
    assert store.generation == "g000002", "a leftover's number is not taken by the next generation"


def test_writes_are_flushed_before_they_get_their_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    target = atomic.atomic_write_text(tmp_path / "report.json", "{}")
    kinds = [(kind, Path(path).name if kind == "fsync" else path) for kind, path in events]
    assert [k for k, _ in kinds] == ["fsync", "replace", "fsync"], kinds
    assert kinds[0][1].startswith(".report.json.") and kinds[1][1] == str(target)
    assert Path(events[2][1]) == tmp_path, "the folder holding the new name is flushed"


def test_no_overwrite_keeps_the_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("mine")
    with pytest.raises(FileExistsError):
        atomic.atomic_write(path, lambda tmp: tmp.write_text("theirs"), overwrite=False)
    assert path.read_text() == "mine" and not list(tmp_path.glob(".*.tmp"))
    atomic.atomic_write(tmp_path / "new.txt", lambda tmp: tmp.write_text("x"), overwrite=False)
    assert (tmp_path / "new.txt").read_text() == "x"
