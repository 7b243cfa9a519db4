"""Gaia tables: every format keeps int64 identifiers above 2**53 exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.table import Table

from data.errors import DataError
from data.gaia import NO_ID, is_gaia_table, read_gaia_table, write_gaia_table

BIG = 2**53 + 1  # not representable in float64


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_id": np.array(
                [BIG, 6_917_528_443_525_529_729, 2_076_392_838_230_907_905], dtype=np.int64
            ),
            "ra": [290.1, 291.2, 292.3],
            "dec": [44.1, 44.2, 44.3],
            "parallax": [1.5, 0.5, 2.5],
            "parallax_error": [0.02, 0.03, 0.02],
            "phot_g_mean_mag": [12.1, 15.2, 13.3],
            "phot_bp_mean_mag": [12.5, 15.7, 13.8],
            "phot_rp_mean_mag": [11.6, 14.6, 12.7],
            "bp_rp": [0.9, 1.1, 1.1],
            "ruwe": [1.0, 2.1, 0.95],
            "radial_velocity_error": [1.0, np.nan, 2.0],
            "kic_id": np.array([757450, 10002792, 8006161], dtype=np.int64),
            "lamost_obsid": np.array([101, 202, 303], dtype=np.int64),
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".ecsv", ".xml", ".vot", ".fits", ".parquet"])
def test_source_id_survives_every_format(tmp_path: Path, suffix: str) -> None:
    df = _table()
    path = write_gaia_table(tmp_path / f"gaia{suffix}", df)
    assert is_gaia_table(path)
    back = read_gaia_table(path)
    assert back["source_id"].dtype == np.int64
    assert back["source_id"].tolist() == df["source_id"].tolist()
    assert back["kic_id"].tolist() == df["kic_id"].tolist()
    np.testing.assert_allclose(back["parallax"], df["parallax"])


def test_float_source_id_is_refused(tmp_path: Path) -> None:
    df = _table()
    df["source_id"] = df["source_id"].astype(np.float64)
    path = tmp_path / "floaty.parquet"
    df.to_parquet(path)
    with pytest.raises(DataError, match=r"floaty\.parquet: source_id"):
        read_gaia_table(path)


def test_missing_column_and_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "noparallax.csv"
    _table().drop(columns="parallax").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"noparallax\.csv: parallax"):
        read_gaia_table(path)
    # A table that names no observation at all cannot be matched with any file.
    path = tmp_path / "nocrossmatch.csv"
    _table().drop(columns=["kic_id", "lamost_obsid"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"nocrossmatch\.csv: kic_id,epic_id,tic_id,lamost_obsid"):
        read_gaia_table(path)
    with pytest.raises(DataError, match=r"gaia\.txt"):
        read_gaia_table(tmp_path / "gaia.txt")


@pytest.mark.parametrize("suffix", [".csv", ".ecsv", ".xml", ".fits", ".parquet"])
def test_simulated_gaia_table_round_trips_through_the_registry(tmp_path: Path, suffix: str) -> None:
    from data import registry
    from data.simulate.population import SurveyConfig, draw_population
    from data.simulate.survey import gaia_table

    truth = draw_population(SurveyConfig(n_stars=40, seed=5, workers=1), np.random.default_rng(5))
    df = gaia_table(truth, np.random.default_rng(6))
    for name in ("pmra", "pmdec", "rv_amplitude_robust", "non_single_star", "radial_velocity"):
        assert name in df.columns
    path = write_gaia_table(tmp_path / f"gaia_source{suffix}", df)
    assert registry.identify(path) == "gaia_table"
    back = registry.read(path)
    assert list(back.columns) == list(df.columns)
    assert back["non_single_star"].tolist() == df["non_single_star"].tolist()
    for name in df.columns:
        np.testing.assert_allclose(
            back[name].to_numpy(float), df[name].to_numpy(float), rtol=1e-12, err_msg=name
        )


@pytest.mark.parametrize("suffix", [".csv", ".ecsv", ".xml", ".fits", ".parquet"])
def test_binarity_columns_round_trip_with_their_nulls(tmp_path: Path, suffix: str) -> None:
    from data.simulate import binarity
    from data.simulate.population import SurveyConfig, draw_population
    from data.simulate.survey import gaia_table

    truth = draw_population(SurveyConfig(n_stars=150, seed=9, workers=1), np.random.default_rng(9))
    df = gaia_table(truth, np.random.default_rng(10))
    g_rvs = binarity.g_rvs_mag(binarity.apparent_g(truth), truth["g_rp_mag"].to_numpy())
    # RVs only where RVS reaches: radial_velocity to G_RVS = 14, the amplitude to G_RVS = 12.
    assert df["radial_velocity"].notna().to_numpy().tolist() == (g_rvs <= 14).tolist()
    assert df["rv_amplitude_robust"].notna().to_numpy().tolist() == (g_rvs <= 12).tolist()
    assert 0 < (g_rvs <= 12).sum() < (g_rvs <= 14).sum() < len(df)
    assert (df["non_single_star"] > 0).any()
    back = read_gaia_table(write_gaia_table(tmp_path / f"gaia_source{suffix}", df))
    assert back["non_single_star"].dtype == np.int16
    assert back["non_single_star"].tolist() == truth["non_single_star"].tolist()
    for name in ("ruwe", "radial_velocity", "radial_velocity_error", "rv_amplitude_robust"):
        np.testing.assert_array_equal(back[name].isna().to_numpy(), df[name].isna().to_numpy(), err_msg=name)
        np.testing.assert_allclose(back[name].to_numpy(float), df[name].to_numpy(float), rtol=1e-12)


def test_non_single_star_must_be_integer_bits(tmp_path: Path) -> None:
    df = _table().assign(non_single_star=[0, 2, 9])
    with pytest.raises(DataError, match=r"bits\.csv: non_single_star.*outside"):
        read_gaia_table(write_gaia_table(tmp_path / "bits.csv", df))
    df = _table().assign(non_single_star=[0.0, np.nan, 1.0])
    with pytest.raises(DataError, match=r"nulls\.parquet: non_single_star"):
        read_gaia_table(write_gaia_table(tmp_path / "nulls.parquet", df))


@pytest.mark.parametrize(("suffix", "fmt"), [(".ecsv", "ascii.ecsv"), (".xml", "votable"), (".fits", "fits")])
def test_gspphot_extinctions_are_written_in_mag_and_nulls_stay_null(
    tmp_path: Path, suffix: str, fmt: str
) -> None:
    df = _table().assign(ag_gspphot=[0.31, np.nan, 0.12], ebpminrp_gspphot=[0.15, np.nan, 0.06])
    path = write_gaia_table(tmp_path / f"gaia{suffix}", df)
    written = Table.read(path, format=fmt)
    assert written["ag_gspphot"].unit == u.mag and written["ebpminrp_gspphot"].unit == u.mag
    back = read_gaia_table(path)
    np.testing.assert_allclose(back["ag_gspphot"], df["ag_gspphot"])  # NaN where GSP-Phot is null
    assert back["ebpminrp_gspphot"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("suffix", [".csv", ".ecsv", ".xml", ".fits", ".parquet"])
def test_cross_match_columns_may_be_absent_or_null(tmp_path: Path, suffix: str) -> None:
    """A star without a spectrum has a null lamost_obsid (or the table lacks it): read as -1."""
    df = _table().drop(columns="lamost_obsid")
    back = read_gaia_table(write_gaia_table(tmp_path / f"lc_only{suffix}", df))
    assert "lamost_obsid" not in back and back["kic_id"].tolist() == df["kic_id"].tolist()
    nullable = _table().astype({"lamost_obsid": "Int64", "kic_id": "Int64"})
    nullable.loc[1, "lamost_obsid"] = pd.NA
    nullable.loc[2, "kic_id"] = pd.NA
    back = read_gaia_table(write_gaia_table(tmp_path / f"nulls{suffix}", nullable))
    assert back["lamost_obsid"].dtype == np.int64 and back["kic_id"].dtype == np.int64
    assert back["lamost_obsid"].tolist() == [101, NO_ID, 303]
    assert back["kic_id"].tolist() == [757450, 10002792, NO_ID]
    # source_id stays required: a null one is refused.
    nullable = _table().astype({"source_id": "Int64"})
    nullable.loc[0, "source_id"] = pd.NA
    with pytest.raises(DataError, match="source_id"):
        read_gaia_table(write_gaia_table(tmp_path / f"nosource{suffix}", nullable))
