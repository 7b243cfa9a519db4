"""Interop with the astronomers' tools, where installed: lightkurve and specutils (both optional)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.kepler import read_kepler_lightcurve

REAL = Path(__file__).resolve().parents[1] / "data" / "kplr010002792-2009259160929_llc.fits"


def test_to_lightkurve_keeps_the_valid_cadences_in_bjd() -> None:
    lightkurve = pytest.importorskip("lightkurve")
    rec = read_kepler_lightcurve(REAL)
    lc = rec.to_lightkurve()
    assert isinstance(lc, lightkurve.LightCurve) and len(lc) == int(rec.valid.sum()) == 4070
    np.testing.assert_allclose(lc.time.jd - 2454833.0, rec.time_bkjd[rec.valid], atol=1e-6)
    np.testing.assert_allclose(lc.flux.value, rec.flux[rec.valid])
    assert lc.meta["TARGETID"] == 10002792 and lc.meta["MISSION"] == "Kepler"


def test_to_lightkurve_without_lightkurve_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_lightkurve(name, *args, **kwargs):
        if name == "lightkurve":
            raise ImportError("No module named 'lightkurve'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lightkurve)
    with pytest.raises(ImportError, match="pip install lightkurve"):
        read_kepler_lightcurve(REAL).to_lightkurve()


@pytest.mark.parametrize("layout", ["table", "image"])
def test_specutils_reads_lamost_lrs_files(tmp_path: Path, layout: str) -> None:
    pytest.importorskip("specutils")
    import astropy.units as u

    from data.lamost import lamost_grid, read_lamost_spectrum, write_lamost_spectrum
    from data.specutils_lamost import FORMAT, register

    try:
        from specutils import Spectrum
    except ImportError:
        from specutils import Spectrum1D as Spectrum
    assert register() is True
    wave = lamost_grid()
    andmask = np.zeros(wave.size)
    andmask[100:110] = 4
    path = tmp_path / f"spec-56000-KP001N_sp01-001-{layout}.fits"
    flux = 100 + np.sin(wave / 50)
    write_lamost_spectrum(
        path,
        wavelength_aa=wave,
        flux=flux,
        ivar=np.full(wave.size, 0.04),
        andmask=andmask,
        ormask=andmask,
        header={"OBSID": 424242, "HELIO_RV": 3.0},
        layout=layout,
    )
    ours = read_lamost_spectrum(path)
    for spectrum in (Spectrum.read(path, format=FORMAT), Spectrum.read(path)):
        assert spectrum.meta["obsid"] == 424242
        np.testing.assert_allclose(spectrum.spectral_axis.to_value(u.AA), ours.wavelength_aa, rtol=1e-6)
        np.testing.assert_allclose(spectrum.flux.value, flux, rtol=1e-6)
        assert spectrum.mask.sum() == 10 and spectrum.mask[100:110].all(), "specutils: True = bad pixel"
