"""Ingest of stars with one modality, and the streaming ingest: chunked, resumable, atomic."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import ingest, preprocess, schema
from data.gaia import read_gaia_table, write_gaia_table
from data.ingest import RESUME_DIR, ingest_survey
from data.storage import SurveyStore
from tests.dataio.conftest import N_SIMULATED as N
from training.tensors import training_splits


@pytest.fixture
def store(tmp_path: Path, simulated_raw: Path) -> SurveyStore:
    store = SurveyStore(tmp_path / "survey")
    shutil.copytree(simulated_raw, store.raw_dir)
    return store


def _catalog(store: SurveyStore) -> pd.DataFrame:
    """The catalogue without its file columns (relative to the survey folder, so they differ)."""
    return store.read_catalog().drop(columns=["kepler_path", "lamost_path"])


def _arrays(store: SurveyStore) -> dict[str, np.ndarray]:
    return {a.name: np.asarray(store.read_array(a.name)) for a in schema.INPUT_ARRAYS}


def test_stars_with_one_modality_are_kept_flagged_and_left_out_of_training(store: SurveyStore) -> None:
    raw = store.raw_dir
    truth = pd.read_parquet(raw / "truth.parquet")
    gaia_path = raw / "gaia_source.ecsv"
    gaia = read_gaia_table(gaia_path).astype({"kic_id": "Int64", "lamost_obsid": "Int64"})
    lc_only, spec_only = truth["kic_id"].iloc[:3].tolist(), truth["kic_id"].iloc[3:5].tolist()
    for _, star in truth.iloc[:3].iterrows():  # observed by Kepler only
        (raw / str(star["lamost_file"])).unlink()
    for _, star in truth.iloc[3:5].iterrows():  # observed by LAMOST only
        for rel in str(star["kepler_files"]).split(";"):
            (raw / rel).unlink()
    gaia.loc[gaia["kic_id"].isin(lc_only), "lamost_obsid"] = pd.NA
    spec_obsids = gaia.loc[gaia["kic_id"].isin(spec_only), "lamost_obsid"].tolist()
    gaia.loc[gaia["kic_id"].isin(spec_only), "kic_id"] = pd.NA
    write_gaia_table(gaia_path, gaia)

    summary = ingest_survey(raw, store, progress=False, workers=1)
    assert summary.n_stars == N and summary.n_quarantined == 0
    assert (summary.n_lightcurve_only, summary.n_spectrum_only) == (3, 2)
    cat = store.read_catalog()
    has_lc, has_spec = cat[schema.HAS_LIGHTCURVE].to_numpy(), cat[schema.HAS_SPECTRUM].to_numpy()
    lc_rows = np.flatnonzero(cat["kic_id"].isin(lc_only))
    spec_rows = np.flatnonzero(cat["lamost_obsid"].isin(spec_obsids))
    assert len(lc_rows) == 3 and len(spec_rows) == 2
    assert not has_spec[lc_rows].any() and has_lc[lc_rows].all()
    assert not has_lc[spec_rows].any() and has_spec[spec_rows].all()
    assert (has_lc & has_spec).sum() == N - 5
    assert (cat.loc[spec_rows, "kic_id"] == schema.NO_ID).all()
    assert (cat.loc[spec_rows, schema.MISSION] == "").all()
    assert (cat.loc[lc_rows, "lamost_path"] == "").all() and (cat.loc[spec_rows, "kepler_path"] == "").all()
    # The absent modality is stored as ingest stores it for the model: fill values, nothing valid.
    arrays = _arrays(store)
    assert not arrays["spec_mask"][lc_rows].any()
    assert (arrays["spec_flux"][lc_rows] == preprocess.SPEC_FILL_VALUE).all()
    assert not arrays["lc_mask"][spec_rows].any()
    assert (arrays["lc_channels"][spec_rows] == preprocess.LC_FILL_VALUE).all()
    assert arrays["lc_mask"][has_lc].any(axis=1).all() and arrays["spec_mask"][has_spec].any(axis=1).all()
    # Truth still joins (by KIC) where a star has one; one-modality stars are in no training split.
    assert len(store.read_truth()) == N
    split = training_splits(cat)
    assert (split[lc_rows] == "").all() and (split[spec_rows] == "").all()
    assert set(split[has_lc & has_spec]) <= {"train", "val", "test"}


def test_a_named_observation_that_is_missing_still_quarantines_the_star(store: SurveyStore) -> None:
    """Only a null (or absent) cross-match makes a one-modality star; a lost file is a problem."""
    truth = pd.read_parquet(store.raw_dir / "truth.parquet")
    (store.raw_dir / str(truth["lamost_file"].iloc[0])).unlink()
    summary = ingest_survey(store.raw_dir, store, progress=False, workers=1)
    assert summary.n_stars == N - 1 and summary.reasons == {"no spectrum for this star": 1}


def test_chunked_ingest_writes_the_same_store_as_one_chunk(store: SurveyStore, tmp_path: Path) -> None:
    ingest_survey(store.raw_dir, store, progress=False, workers=1, chunk_stars=7)
    other = SurveyStore(tmp_path / "other")
    ingest_survey(store.raw_dir, other, progress=False, workers=1, chunk_stars=1000)
    pd.testing.assert_frame_equal(_catalog(store), _catalog(other))
    for name, values in _arrays(store).items():
        np.testing.assert_array_equal(values, _arrays(other)[name], err_msg=name)
    # The preallocated files were cut to the stars kept, and the resume folder is gone.
    assert store.read_array("lc_channels").shape[0] == N
    assert not (store.store_dir / "generations" / RESUME_DIR).exists()


class _Killed(BaseException):
    """Stands for a kill: nothing in ingest catches it."""


def _killed_at(n: int, monkeypatch: pytest.MonkeyPatch) -> tuple[list, Callable]:
    """Ingest's per-star work records its tasks and is killed at the ``n``-th; (the tasks, the real work)."""
    real = ingest._process
    calls = []

    def dying(task):
        calls.append(task)
        if len(calls) == n:
            raise _Killed
        return real(task)

    monkeypatch.setattr(ingest, "_process", dying)
    return calls, real


def test_an_interrupted_ingest_resumes_after_its_last_finished_chunk(
    store: SurveyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = SurveyStore(tmp_path / "reference")
    ingest_survey(store.raw_dir, reference, progress=False, workers=1)
    calls, real = _killed_at(13, monkeypatch)
    with pytest.raises(_Killed):
        ingest_survey(store.raw_dir, store, progress=False, workers=1, chunk_stars=5)
    assert not store.has_catalog(), "nothing is visible before the commit"
    assert len(list((store.store_dir / "generations" / RESUME_DIR / "chunks").glob("*.json"))) == 2
    calls.clear()
    monkeypatch.setattr(ingest, "_process", lambda task: (calls.append(task), real(task))[1])
    summary = ingest_survey(store.raw_dir, store, progress=False, workers=1, chunk_stars=5)
    assert summary.n_chunks_resumed == 2 and len(calls) == N - 10, "the 10 finished stars are not read again"
    pd.testing.assert_frame_equal(_catalog(store), _catalog(reference))
    pd.testing.assert_frame_equal(store.read_quarantine(), reference.read_quarantine())
    for name, values in _arrays(store).items():
        np.testing.assert_array_equal(values, _arrays(reference)[name], err_msg=name)
    assert not (store.store_dir / "generations" / RESUME_DIR).exists()


def test_changed_inputs_are_not_resumed(store: SurveyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _, real = _killed_at(8, monkeypatch)
    with pytest.raises(_Killed):
        ingest_survey(store.raw_dir, store, progress=False, workers=1, chunk_stars=5)
    monkeypatch.setattr(ingest, "_process", real)
    victim = sorted((store.raw_dir / "kepler").glob("*.fits"))[0]
    stat = victim.stat()
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: re-read all
    summary = ingest_survey(store.raw_dir, store, progress=False, workers=1, chunk_stars=5)
    assert summary.n_chunks_resumed == 0 and summary.n_stars == N
