"""Fixtures for the data tests: tiny files in the archive layouts, written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.kepler import write_kepler_lightcurve
from data.lamost import lamost_grid, write_lamost_spectrum
from data.quality import KeplerQuality


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def kepler_file(tmp_path: Path, rng: np.random.Generator) -> Path:
    """A 30-day Kepler LLC file: a 3-day sine, 5 NaN-TIME rows, flagged and NaN-flux cadences."""
    n = 1500
    time = 200.0 + 0.02043359821692 * np.arange(n)
    flux = 1e5 * (1 + 0.01 * np.sin(2 * np.pi * time / 3.0)) + rng.normal(0, 10, n)
    quality = np.zeros(n, dtype=np.int32)
    quality[100:110] = KeplerQuality.SAFE_MODE
    quality[200] = KeplerQuality.APERTURE_COSMIC  # not in the default mask: stays valid
    time[300:305] = np.nan
    flux[400] = np.nan
    path = tmp_path / "kplr000757450-2009350155506_llc.fits"
    write_kepler_lightcurve(
        path,
        time_bkjd=time,
        pdcsap_flux=flux,
        pdcsap_flux_err=np.full(n, 10.0),
        sap_flux=flux * 0.9,
        sap_quality=quality,
        kic_id=757450,
        quarter=3,
        header_extra={"RA_OBJ": 291.0, "DEC_OBJ": 44.0, "KEPMAG": 13.2},
    )
    return path


def _spectrum(rng: np.random.Generator) -> dict[str, np.ndarray]:
    wave = lamost_grid()
    flux = 100 + 0.01 * (wave - 6000) - 40 * np.exp(-0.5 * ((wave - 6564.6) / 3.0) ** 2)
    ivar = np.full(wave.size, 0.04)
    andmask = np.zeros(wave.size, dtype=np.int32)
    andmask[1000:1005] = 4
    ivar[2000] = 0.0
    return {
        "wavelength_aa": wave,
        "flux": flux + rng.normal(0, 0.5, wave.size),
        "ivar": ivar,
        "andmask": andmask,
        "ormask": andmask.copy(),
    }


@pytest.fixture
def lamost_header() -> dict:
    return {
        "OBSID": 123456789,
        "RA": 291.0,
        "DEC": 44.0,
        "MJD": 56000,
        "PLANID": "KP001N",
        "SNRG": 42.5,
        "HELIO_RV": -12.5,
    }


@pytest.fixture(params=["table", "image"])
def lamost_file(
    request: pytest.FixtureRequest, tmp_path: Path, rng: np.random.Generator, lamost_header: dict
) -> Path:
    path = tmp_path / f"spec-56000-KP001N_sp01-001-{request.param}.fits"
    write_lamost_spectrum(path, **_spectrum(rng), header=lamost_header, layout=request.param)
    return path


N_SIMULATED = 30


@pytest.fixture(scope="session")
def simulated_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-star simulated raw folder (image-layout spectra); read-only, copy to edit."""
    from data.simulate.population import SurveyConfig
    from data.simulate.survey import simulate_survey

    raw = tmp_path_factory.mktemp("sim") / "raw"
    config = SurveyConfig(n_stars=N_SIMULATED, seed=3, workers=1, spectrum_layout="image")
    simulate_survey(config, raw, progress=False)
    return raw
