"""Export of a selection: every format read back by astropy with units, UCDs and provenance."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.table import Table

from benchmarks.fixtures import SYNTHETIC_EMBED
from dashboard.export import (
    ExportError,
    ExportFolder,
    check_size,
    default_filename,
    export_selection,
    safe_filename,
    selection_export,
)
from dashboard.state import DashboardState
from data.provenance import file_sha256, provenance
from data.storage import SurveyStore

EXPRESSION = "binary_prob > 0.9 and true_population in ['sync_binary', 'wide_binary', 'ñ']"


@pytest.fixture
def state(catalog: pd.DataFrame) -> DashboardState:
    state = DashboardState(catalog=catalog)
    state.apply_expression("binary_prob > 0.9")
    return state


def _read(path: Path, fmt: str) -> Table:
    if fmt == "csv":
        return Table.read(path, format="ascii.csv", comment="#")
    return Table.read(path, format={"ecsv": "ascii.ecsv", "votable": "votable", "fits": "fits"}[fmt])


def _provenance(table: Table, path: Path, fmt: str) -> dict[str, str]:
    if fmt == "csv":
        return dict(line.split(": ", 1) for line in table.meta["comments"])
    if fmt == "votable":
        infos = parse_votable(str(path)).resources[0].infos
        return {info.name: info.value for info in infos}
    if fmt == "fits":
        header = fits.getheader(path, 1)
        keys = {"SELECTN": "selection", "CKPTSHA": "checkpoint_sha256", "MODELRUN": "model_run"}
        keys |= {"CATSHA": "catalogue_sha256", "DATE": "date", "SOFTWARE": "software", "NROWS": "n_rows"}
        return {name: str(header[key]) for key, name in keys.items()}
    return {str(k): str(v) for k, v in table.meta.items()}


@pytest.mark.parametrize("fmt", ["csv", "ecsv", "votable", "fits"])
def test_each_format_reads_back_with_units_and_provenance(
    tmp_path: Path, survey_dir: Path, state: DashboardState, fmt: str
) -> None:
    frame = state.selected_frame()
    path = export_selection(
        frame, tmp_path / f"out.{fmt}", fmt=fmt, survey_dir=survey_dir, expression=EXPRESSION, user="ana"
    )
    table = _read(path, fmt)
    assert len(table) == state.n_selected > 0
    np.testing.assert_array_equal(table["row"], frame["row"].to_numpy())
    # Gaia source_id stays exact (int64 beyond 2**53).
    np.testing.assert_array_equal(
        np.asarray(table["gaia_source_id"], dtype=np.int64), frame["gaia_source_id"]
    )
    if fmt != "csv":  # plain CSV has no place for units
        assert table["phot_g_mean_mag"].unit == "mag"
        assert table["pred_teff_k"].unit == "K"
        assert table["parallax_mas"].unit == "mas"
    if fmt == "votable":
        fields = {f.name: f for f in parse_votable(str(path)).get_first_table().fields}
        assert fields["ra_deg"].ucd == "pos.eq.ra" and fields["phot_g_mean_mag"].ucd == "phot.mag;em.opt"
    meta = _provenance(table, path, fmt)
    if fmt == "fits":  # FITS headers are ASCII: the n-tilde is escaped, nothing is cut
        assert meta["selection"] == EXPRESSION.replace("ñ", "\\xf1")
    else:
        assert meta["selection"] == EXPRESSION
    assert meta["checkpoint_sha256"] == SYNTHETIC_EMBED["checkpoint_sha256"]
    assert meta["model_run"] == "synthetic"
    assert meta["catalogue_sha256"] == file_sha256(SurveyStore(survey_dir).catalog_path)
    assert meta["n_rows"] == str(state.n_selected)
    assert meta["software"].startswith("desa-explorer")
    assert datetime.datetime.fromisoformat(meta["date"]).tzinfo is not None


def test_row_limit_and_empty_selection(tmp_path: Path, survey_dir: Path, state: DashboardState) -> None:
    with pytest.raises(ExportError, match=r"has 12,345 stars; exports are limited to 10,000 rows"):
        check_size(12_345, 10_000)
    with pytest.raises(ExportError, match="limited to 5 rows"):
        export_selection(
            state.selected_frame(),
            tmp_path / "x.csv",
            fmt="csv",
            survey_dir=survey_dir,
            expression="",
            max_rows=5,
        )
    assert not (tmp_path / "x.csv").exists()
    state.clear()
    with pytest.raises(ExportError, match="nothing selected"):
        selection_export(state, survey_dir, "csv", ExportFolder())


def test_download_names_are_sanitised() -> None:
    assert safe_filename("../../etc/passwd", "csv") == "passwd.csv"
    assert safe_filename("my sample; rm -rf ~ .xml", "votable") == "my_sample_rm_-rf_.xml"
    assert safe_filename("..", "fits") == "desa_selection.fits"
    assert safe_filename("a.ecsv", "ecsv") == "a.ecsv"
    name = default_filename(Path("/data/my survey"), "fits", datetime.datetime(2026, 1, 2, 3, 4, 5))
    assert name == "desa_my_survey_20260102T030405Z.fits"
    with pytest.raises(ValueError, match="unknown export format"):
        safe_filename("a", "xlsx")


def test_selection_export_keeps_the_latest_files_only(survey_dir: Path, state: DashboardState) -> None:
    folder = ExportFolder(keep=2)
    paths = [selection_export(state, survey_dir, "ecsv", folder) for _ in range(4)]
    assert [p.exists() for p in paths] == [False, False, True, True]
    assert "kepler_path" not in Table.read(paths[-1], format="ascii.ecsv").colnames
    folder.cleanup()
    assert not folder.path.exists()


def test_provenance_without_a_model(tmp_path: Path) -> None:
    meta = provenance(tmp_path, "", 3, now=datetime.datetime(2026, 5, 6, tzinfo=datetime.UTC))
    assert meta["selection"] == "all stars" and meta["checkpoint_sha256"].startswith("none")
    assert meta["date"] == "2026-05-06T00:00:00Z" and "user" not in meta


def test_export_view_buttons_follow_the_selection_and_refuse_oversized_files(
    survey_dir: Path, catalog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.views import export_view

    state = DashboardState(catalog=catalog)
    view = export_view.ExportView(state=state, survey_dir=survey_dir, max_rows=50)
    assert all(b.disabled for b in view._buttons.values()) and "Select stars" in view._note.object
    state.apply_expression("row in [1, 2, 3]")
    assert not any(b.disabled for b in view._buttons.values())
    path = view.write("ecsv")
    assert view._buttons["ecsv"].filename == path.name and len(Table.read(path, format="ascii.ecsv")) == 3
    state.apply_expression("row < 100")
    assert view._buttons["fits"].disabled and "limited to 50 rows" in view._note.object
    state.apply_expression("row < 10")
    monkeypatch.setattr(export_view, "MAX_DOWNLOAD_BYTES", 1000)
    callback = view._buttons["csv"].callback
    with pytest.raises(ExportError, match="a browser download can carry"):
        callback()
    assert view._message.visible and "desa export" in view._message.object
    assert not list(view._folder.path.glob("*/*.csv"))


def test_oversized_requests_are_refused_before_the_selection_is_built(
    survey_dir: Path, catalog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Downloads and SAMP check rows (and a download's bytes) before copying or writing a row."""
    from dashboard import export
    from dashboard.views import export_view

    def built(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the export was built before its size was checked")

    state = DashboardState(catalog=catalog)
    view = export_view.ExportView(state=state, survey_dir=survey_dir, max_rows=50)
    state.apply_expression("row < 100")
    monkeypatch.setattr(state, "selected_frame", built)
    monkeypatch.setattr(export, "export_selection", built)
    monkeypatch.setattr(export_view, "broadcast_selection", built)
    with pytest.raises(ExportError, match="100 stars; exports are limited to 50 rows"):
        view.write("votable")  # a request need not come from the (disabled) button
    assert not view.send_samp(), "SAMP has the same row limit"
    assert "limited to 50 rows" in view._message.object
    state.apply_expression("row < 40")
    monkeypatch.setattr(export_view, "MAX_DOWNLOAD_BYTES", 2000)
    with pytest.raises(ExportError, match=r"40 stars would be about .* a browser download can carry"):
        view.write("csv")
    assert not list(view._folder.path.glob("*/*"))


def test_the_size_estimate_is_close(tmp_path: Path, catalog: pd.DataFrame) -> None:
    from dashboard.export import SAMPLE_ROWS, estimate_bytes
    from data.storage import export_table

    frame = catalog[[c for c in catalog.columns if not c.endswith("_path")]]
    for fmt in ("csv", "votable", "fits"):
        real = export_table(frame, tmp_path / f"all.{fmt}", fmt=fmt).stat().st_size
        guess = estimate_bytes(frame.iloc[:SAMPLE_ROWS], len(frame), fmt)
        assert 0.8 < guess / real < 1.25, (fmt, guess, real)
