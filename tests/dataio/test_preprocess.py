"""Preprocessing onto the model grids: shapes, masks and physical sanity."""

from __future__ import annotations

import numpy as np
import pytest

from data import preprocess as pp
from data.lamost import lamost_grid


def _lightcurve(rng: np.random.Generator, period: float = 5.0, gap: bool = True) -> tuple[np.ndarray, ...]:
    time = 100.0 + 0.02043359821692 * np.arange(4400)
    flux = 1e4 * (1 + 0.01 * np.sin(2 * np.pi * time / period)) + rng.normal(0, 5, time.size)
    valid = np.ones(time.size, bool)
    if gap:
        valid[2000:2100] = False
    return time, flux, valid


def test_lightcurve_shapes_and_mask(rng: np.random.Generator) -> None:
    channels, mask = pp.lightcurve_channels(*_lightcurve(rng))
    assert channels.shape == (3, pp.LC_LENGTH) and channels.dtype == np.float32
    assert mask.shape == (pp.LC_LENGTH,) and mask.dtype == bool
    assert 0.9 < mask.mean() < 1.0, "the gap and the tail past 89.9 d are masked"
    assert np.all(channels[0][~mask] == pp.LC_FILL_VALUE)
    assert channels[1, 0] == pytest.approx(1.0)
    assert abs(np.mean(channels[2])) < 1e-5 and np.std(channels[2]) == pytest.approx(1.0, rel=1e-4)
    assert pp.lightcurve_problem(mask) is None
    assert np.ptp(channels[0][mask]) == pytest.approx(2.0, rel=0.1), "1 % sine = 2 % peak to peak"


def test_acf_peaks_at_the_period(rng: np.random.Generator) -> None:
    channels, _ = pp.lightcurve_channels(*_lightcurve(rng, period=5.0))
    lag_d = np.arange(pp.LC_LENGTH) * pp.LC_SPAN_D / pp.LC_LENGTH
    window = (lag_d > 2.5) & (lag_d < 8.0)
    assert lag_d[window][np.argmax(channels[1][window])] == pytest.approx(5.0, abs=0.2)


def test_sparse_lightcurve_gives_a_reason(rng: np.random.Generator) -> None:
    time, flux, valid = _lightcurve(rng)
    valid[500:] = False
    _, mask = pp.lightcurve_channels(time, flux, valid)
    assert pp.lightcurve_problem(mask) is not None
    _, mask = pp.lightcurve_channels(time, flux, np.zeros_like(valid))
    assert not mask.any() and pp.lightcurve_problem(mask) is not None


def test_spectrum_grid_has_lamost_lrs_sampling() -> None:
    grid = pp.spectrum_grid()
    assert grid.size == pp.SPEC_LENGTH == 3840 and pp.SPEC_LENGTH % 64 == 0
    assert np.allclose(np.diff(np.log10(grid)), 1e-4, rtol=1e-6, atol=0), "10^-4 dex per pixel"
    kms_per_pixel = np.diff(np.log(grid)) * pp.C_KMS
    assert kms_per_pixel.min() == pytest.approx(69.0, abs=0.1) and np.ptp(kms_per_pixel) < 1e-6
    assert 3700 < grid[0] < 3750 and 9000 < grid[-1] < 9100
    assert grid[0] == pp.SPEC_MIN_AA and grid[-1] == pytest.approx(pp.SPEC_MAX_AA, rel=1e-12)
    native = lamost_grid()
    start = int(np.argmin(np.abs(native - grid[0])))
    np.testing.assert_allclose(native[start : start + grid.size], grid, rtol=1e-12)


@pytest.mark.parametrize("rv", [-1500.0, 0.0, 1500.0])
def test_rest_grid_is_covered_for_any_stellar_rv(rv: float) -> None:
    wave = lamost_grid()
    good = np.ones(wave.size, bool)
    good[:3] = good[-3:] = False  # LAMOST flags the end pixels
    _, mask = pp.spectrum_to_grid(wave, np.ones(wave.size), good, rv)
    assert mask.all(), f"{(~mask).sum()} rest pixels uncovered at RV {rv} km/s"


def test_spectrum_rest_frame_continuum_and_mask() -> None:
    wave = lamost_grid()
    rv = 150.0
    line = 6564.6 * (1 + rv / pp.C_KMS)
    flux = (2e-4 * (wave - 3500) + 0.5) * (1 - 0.5 * np.exp(-0.5 * ((wave - line) / 3.0) ** 2))
    good = np.ones(wave.size, bool)
    good[1500:1510] = False
    out, mask = pp.spectrum_to_grid(wave, flux, good, rv)
    grid = pp.spectrum_grid()
    assert out.shape == mask.shape == (pp.SPEC_LENGTH,) and out.dtype == np.float32
    assert grid[np.argmin(np.where(mask, out, 9))] == pytest.approx(6564.6, abs=2.0), "line back at rest"
    assert np.median(out[mask]) == pytest.approx(1.0, abs=0.01)
    bad_aa = wave[1500:1510] / (1 + rv / pp.C_KMS)
    hit = (grid > bad_aa[0]) & (grid < bad_aa[-1])
    assert hit.any() and not mask[hit].any(), "bad source pixels are masked"
    assert np.all(out[~mask] == pp.SPEC_FILL_VALUE)
    assert out.min() >= pp.SPEC_CLIP[0] and out.max() <= pp.SPEC_CLIP[1]


def test_grid_description_is_json_ready() -> None:
    import json

    desc = pp.grid_description()
    back = json.loads(json.dumps(desc))
    assert back["lc_length"] == 1024 and back["spec_length"] == pp.SPEC_LENGTH
    grid = 10.0 ** (back["spec_log10_start"] + back["spec_log10_step"] * np.arange(back["spec_length"]))
    np.testing.assert_allclose(grid, pp.spectrum_grid(), rtol=1e-12)
    # The dashboard rebuilds the grid from the end points alone.
    ends = np.logspace(np.log10(back["spec_min_aa"]), np.log10(back["spec_max_aa"]), back["spec_length"])
    np.testing.assert_allclose(ends, pp.spectrum_grid(), rtol=1e-12)


def test_continuum_holds_to_both_ends_of_the_grid() -> None:
    """On a noiseless simulated G dwarf the normalised flux is the model's own to < 1 % at the ends."""
    from data.simulate import spectrum as sim

    star = {
        "teff_k": 5800.0,
        "logg": 4.4,
        "feh": 0.0,
        "radius_rsun": 1.0,
        "rv_kms": 30.0,
        "k1_kms": 0.0,
        "orbit_phase": 0.0,
        "halpha_fill": 0.0,
        "li_ew_ma": 50.0,
        "is_binary": False,
        "snr_g": 1e7,
        "ebv_mag": 0.1,
    }
    spec = sim.simulate_spectrum(star, np.random.default_rng(0))
    out, mask = pp.spectrum_to_grid(spec.wavelength_aa, spec.flux, spec.ivar > 0, spec.helio_rv_kms)
    grid = pp.spectrum_grid()
    truth = np.interp(
        grid, lamost_grid(), sim.normalised_spectrum(5800.0, 4.4, 0.0, li_ew_ma=50.0, fill=0.0, rv_kms=0.0)
    )
    continuum = mask & (truth > 0.995)
    for name, end in (("blue", grid < 4000), ("red", grid > 8600)):
        err = np.abs(out[continuum & end] / truth[continuum & end] - 1)
        assert np.percentile(err, 90) < 0.01, f"{name} end: continuum off by {np.percentile(err, 90):.1%}"
