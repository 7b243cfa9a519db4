"""The dashboard's memory-mapped column files: the same table as the joined catalogue, shared on disk."""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.fixtures import write_synthetic_survey
from dashboard import columns
from dashboard.store import DERIVED, add_derived_columns, color_options, load_catalog
from data.errors import DataError
from data.storage import SurveyStore


def reference(store: SurveyStore) -> pd.DataFrame:
    """What the dashboard held before the column files: the joined table, derived columns, tidied."""
    df = add_derived_columns(store.read_catalog_with_truth())
    return pd.DataFrame(
        {name: columns.tidy_column(name, col) for name, col in df.items() if not name.endswith("_path")}
    )


def assert_same_table(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for name in want.columns:
        assert got[name].dtype == want[name].dtype, name
        if isinstance(want[name].dtype, pd.CategoricalDtype):
            pd.testing.assert_series_equal(got[name], want[name])
        else:
            # The interval widths are subtracted in float64 here, in float32 before: 1 ulp apart.
            rtol = 1e-6 if name == "uncertainty_score" else 0
            np.testing.assert_allclose(got[name].to_numpy(), want[name].to_numpy(), rtol=rtol, err_msg=name)


def mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a view of a memory-mapped file."""
    while array is not None:
        if isinstance(array, np.memmap | mmap.mmap):
            return True
        array = getattr(array, "base", None)
    return False


def test_the_served_table_is_the_joined_catalogue_in_memory_mapped_columns(
    survey_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columns, "MAP_MIN_BYTES", 0)  # the test survey's columns are small
    store = SurveyStore(survey_dir).snapshot()
    table = load_catalog(survey_dir)
    assert_same_table(table, reference(store))
    for name in ("umap_x", "pred_teff_k", "ra_deg", "gaia_source_id", "true_teff_k", "uncertainty_score"):
        values = table[name].to_numpy()
        assert mapped(values) and not values.flags.writeable, name
    assert table["true_population"].cat.categories.size > 1
    assert (store.data_dir / columns.FOLDER / columns.INDEX).is_file()
    assert not any(name.endswith("_path") for name in table.columns)  # not plotted, filtered or exported


def test_colour_choices_come_from_the_index_without_reading_the_columns(survey_dir: Path) -> None:
    table = load_catalog(survey_dir)
    assert "pred_feh" in color_options(table).values()
    # The index, not the values, decides: a column it lists as empty is not offered.
    claimed = table.copy(deep=False)
    claimed.attrs = {"has_values": [c for c in table.attrs["has_values"] if c != "pred_feh"]}
    assert "pred_feh" not in color_options(claimed).values()
    # A table without an index (not from column files) is judged by its values.
    plain = table.assign(pred_feh=np.float32("nan"))
    plain.attrs = {}
    assert "pred_feh" not in color_options(plain).values()
    assert color_options(table.assign(x=1.0).drop(columns="x")) == color_options(table)


def test_a_second_process_maps_the_files_the_first_wrote(tmp_path: Path) -> None:
    root = tmp_path / "s"
    store = write_synthetic_survey(root, n=80, seed=3).snapshot()
    columns.load_columns(store, DERIVED)
    index = store.data_dir / columns.FOLDER / columns.INDEX
    written = index.stat().st_mtime_ns
    again = columns.load_columns(store, DERIVED)  # another process: finds them current
    assert index.stat().st_mtime_ns == written and len(again) == 80
    assert not [p for p in store.data_dir.iterdir() if p.name.startswith(".")]  # no temporary folders


def test_a_catalogue_replaced_in_place_is_read_again(tmp_path: Path) -> None:
    """A store from before generations replaces its files in place: the stamps catch it."""
    store = write_synthetic_survey(tmp_path / "s", n=60, seed=4).snapshot()
    first = columns.load_columns(store, DERIVED)
    catalogue = store.read_catalog()
    catalogue["umap_x"] = catalogue["umap_x"] + 100.0
    catalogue.to_parquet(store.catalog_path, index=False)
    second = columns.load_columns(store, DERIVED)
    np.testing.assert_allclose(second["umap_x"], first["umap_x"] + 100.0, rtol=1e-6)
    assert_same_table(second, reference(store))


def test_truth_gaps_read_as_a_left_join_and_a_duplicate_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "s"
    write_synthetic_survey(root, n=50, seed=5)
    survey = SurveyStore(root)
    truth = survey.read_truth()
    with survey.new_generation("edit") as new:
        new.write_truth(truth.iloc[7:].sample(frac=1.0, random_state=0))  # rows 0..6 unknown, shuffled
    store = survey.snapshot()
    table = columns.load_columns(store, DERIVED)
    assert_same_table(table, reference(store))
    assert table["true_teff_k"][:7].isna().all() and table["true_teff_k"][7:].notna().all()
    assert table["true_population"][:7].isna().all()
    with survey.new_generation("edit") as new:
        new.write_truth(pd.concat([truth, truth.iloc[:1]]))
    with pytest.raises(DataError, match="twice"):
        columns.load_columns(survey.snapshot(), DERIVED)


def test_a_read_only_survey_folder_gets_its_columns_from_the_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = write_synthetic_survey(tmp_path / "s", n=40, seed=6).snapshot()
    real_mkdtemp = tempfile.mkdtemp

    def read_only(*args: object, dir: str | os.PathLike | None = None, **kwargs: object) -> str:
        if dir is not None and Path(dir) == store.data_dir:
            raise PermissionError(13, "Read-only file system", str(dir))
        return real_mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    monkeypatch.setenv(columns.CACHE_ENV, str(tmp_path / "cache"))
    table = columns.load_columns(store, DERIVED)
    assert len(table) == 40 and not (store.data_dir / columns.FOLDER).exists()
    assert list((tmp_path / "cache" / columns.FOLDER).glob(f"*/{columns.INDEX}"))
    monkeypatch.setenv(columns.CACHE_ENV, str(tmp_path / "cache" / columns.INDEX))  # not a folder
    (tmp_path / "cache" / columns.INDEX).write_text("")
    with pytest.raises(OSError, match="cannot write the dashboard's column files"):
        columns.load_columns(store, DERIVED)


def test_desa_serve_writes_the_column_files_before_the_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.cli.serve as serve
    from training.cli import main

    store = write_synthetic_survey(tmp_path / "s", n=30, seed=7).snapshot()
    started = []

    def panel_serve(cmd: list[str], env: dict[str, str]) -> None:  # stands in for `panel serve`
        started.append((store.data_dir / columns.FOLDER / columns.INDEX).is_file())

    monkeypatch.setattr(serve, "become_server", panel_serve)
    assert main(["serve", "--survey-dir", str(store.root)]) == 0
    assert started == [True]


def test_a_build_folder_left_by_a_killed_build_goes_but_a_running_one_stays(tmp_path: Path) -> None:
    store = write_synthetic_survey(tmp_path / "s", n=20, seed=8).snapshot()
    old = store.data_dir / f".{columns.FOLDER}.abcd1234.building"
    running = store.data_dir / f".{columns.FOLDER}.efgh5678.building"
    for folder in (old, running):
        folder.mkdir()
        (folder / "0.npy").write_bytes(b"")
    long_ago = old.stat().st_mtime - columns.LEFTOVER_S - 60
    os.utime(old, (long_ago, long_ago))
    columns.load_columns(store, DERIVED)
    assert not old.exists() and running.exists()


def test_small_columns_are_read_and_hold_no_file_descriptor(survey_dir: Path) -> None:
    # Every open map holds a descriptor; a process that opens many small surveys (a test run)
    # would pass select()'s limit of 1,024.
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd")
    columns.load_columns(SurveyStore(survey_dir).snapshot(), DERIVED)  # built once
    before = len(list(fds.iterdir()))
    tables = [columns.load_columns(SurveyStore(survey_dir).snapshot(), DERIVED) for _ in range(3)]
    assert len(list(fds.iterdir())) - before < 3, "small columns must not stay mapped"
    assert not mapped(tables[0]["umap_x"].to_numpy()) and not tables[0]["umap_x"].to_numpy().flags.writeable
