"""A real MAST Kepler light curve (tests/data, from altaipony) through our reader and registry.

Also checks that the files the simulator writes have the real file's LIGHTCURVE layout: the same
20 columns with the same FITS formats, the same HDUs and the archive's header keywords.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from data import registry
from data.kepler import LONG_CADENCE_D, read_kepler_lightcurve, write_kepler_lightcurve
from data.quality import DEFAULT_BITMASK, HARD_BITMASK
from data.simulate.lightcurve import simulate_lightcurve
from data.simulate.population import SurveyConfig, draw_population

REAL = Path(__file__).resolve().parents[1] / "data" / "kplr010002792-2009259160929_llc.fits"


def test_real_file_reads_with_its_quirks() -> None:
    rec = read_kepler_lightcurve(REAL)
    assert rec.kic_id == 10002792 and rec.quarter == 2 and rec.mission == "Kepler"
    # 4,354 rows, 160 with NaN TIME (dropped, counted), 4,070 valid under the default mask
    # (the number lightkurve reports for this file with its default bitmask).
    assert rec.n_nan_time == 160 and rec.time_bkjd.size == 4354 - 160
    assert np.isfinite(rec.time_bkjd).all() and np.all(np.diff(rec.time_bkjd) > 0)
    assert int(rec.valid.sum()) == 4070
    assert not rec.valid[~np.isfinite(rec.flux)].any(), "NaN PDCSAP fluxes are never valid"
    assert not rec.valid[(rec.quality & DEFAULT_BITMASK) != 0].any()
    # Long cadence: the median step is TIMEDEL.
    assert np.median(np.diff(rec.time_bkjd)) == pytest.approx(LONG_CADENCE_D, rel=1e-4)
    # A stricter mask only removes cadences.
    hard = read_kepler_lightcurve(REAL, bitmask=HARD_BITMASK)
    assert hard.valid.sum() < rec.valid.sum() and not (hard.valid & ~rec.valid).any()


def test_real_file_goes_through_the_registry() -> None:
    assert registry.identify(REAL) == "kepler_lightcurve"
    assert registry.read(REAL).kic_id == 10002792


def _layout(path: Path) -> tuple[list[str], list[tuple[str, str]], fits.Header, fits.Header]:
    with fits.open(path) as hdul:
        names = [h.name for h in hdul]
        cols = [(c.name, c.format) for c in hdul["LIGHTCURVE"].columns]
        return names, cols, hdul[0].header.copy(), hdul["LIGHTCURVE"].header.copy()


def test_simulated_file_has_the_real_layout(tmp_path: Path) -> None:
    star = draw_population(SurveyConfig(n_stars=12, seed=2, workers=1), np.random.default_rng(2)).iloc[0]
    lc = simulate_lightcurve(star.to_dict(), np.random.default_rng(0))
    path = tmp_path / "kplr000000001-2009350155506_llc.fits"
    write_kepler_lightcurve(
        path,
        time_bkjd=lc.time_bkjd,
        pdcsap_flux=lc.pdcsap_flux,
        pdcsap_flux_err=lc.pdcsap_flux_err,
        sap_flux=lc.sap_flux,
        sap_quality=lc.sap_quality,
        kic_id=1,
        quarter=lc.quarter,
        header_extra={"KEPMAG": 12.0, "TEFF": 5700, "SEASON": 3, "CHANNEL": 10},
        columns_extra=lc.columns_extra,
        table_header_extra=lc.header_extra,
    )
    real_hdus, real_cols, real_primary, real_lc = _layout(REAL)
    ours_hdus, ours_cols, ours_primary, ours_lc = _layout(path)
    assert ours_hdus == real_hdus == ["PRIMARY", "LIGHTCURVE", "APERTURE"]
    assert ours_cols == real_cols and len(ours_cols) == 20
    for key in ("TELESCOP", "INSTRUME", "MISSION", "OBJECT", "KEPLERID", "QUARTER", "OBSMODE", "KEPMAG"):
        assert key in ours_primary and key in real_primary, key
    for key in ("BJDREFI", "BJDREFF", "TIMEUNIT", "TIMESYS", "TIMEDEL", "TSTART", "TSTOP", "TELAPSE"):
        assert (
            ours_lc[key] == pytest.approx(real_lc[key]) if key in ("BJDREFI", "TIMEDEL") else key in ours_lc
        )
    for key in ("LIVETIME", "CDPP3_0", "CDPP6_0", "CDPP12_0", "PDCMETHD", "CROWDSAP", "FLFRCSAP"):
        assert key in ours_lc and key in real_lc, key
    # CDPP grows for shorter windows, as white noise should.
    assert ours_lc["CDPP3_0"] > ours_lc["CDPP6_0"] > ours_lc["CDPP12_0"] > 0
    rec = read_kepler_lightcurve(path)
    assert rec.n_nan_time > 0 and rec.valid.mean() > 0.9
