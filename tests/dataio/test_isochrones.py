"""The MIST isochrones of data.isochrones (lachesis-grids) and the Mamajek photometry on them."""

from __future__ import annotations

import numpy as np
import pytest

from data.isochrones import (
    EQUAL_MASS_OFFSET_MAG,
    evolved_stars,
    isochrone,
    main_sequence_abs_g,
    main_sequence_stars,
)


def test_solar_model_matches_mist() -> None:
    # SCIENCE.md 3.3: 1 M☉, 4.5 Gyr, [Fe/H] = 0 → Teff 5823 K, logg 4.434, log L 0.017.
    iso = isochrone(4.5, 0.0)
    for name in ("mass_msun", "teff_k", "logg", "logl", "radius_rsun", "abs_g_mag", "bp_rp_mag", "phase"):
        assert name in iso.columns
    sun = main_sequence_stars(np.array([1.0]), np.array([4.4668]), np.array([0.0]))
    assert sun["teff_k"][0] == pytest.approx(5823, abs=15)
    assert sun["logg"][0] == pytest.approx(4.434, abs=0.01)
    assert sun["logl"][0] == pytest.approx(0.017, abs=0.02)
    # Mamajek's Sun: BP−RP 0.82, M_G 4.63; MIST's Sun is ~50 K hotter, so slightly bluer.
    assert sun["bp_rp_mag"][0] == pytest.approx(0.81, abs=0.03)
    assert sun["abs_g_mag"][0] == pytest.approx(4.63, abs=0.1)


def test_isochrone_phases_and_order() -> None:
    iso = isochrone(2.0, -0.3)
    assert np.all(np.diff(iso["eep"]) > 0)
    assert {"ms", "subgiant", "rgb", "cheb"} <= set(iso["phase"])
    ms = iso[iso["phase"] == "ms"]
    assert (ms["logg"] > 3.8).all()
    rgb = iso[iso["phase"] == "rgb"]
    assert (rgb["logg"] < 3.5).all()
    # Interpolated between grid nodes: bracketing ages bracket the turn-off luminosity.
    lo, mid, hi = (isochrone(a, 0.0) for a in (1.9953, 2.1, 2.2387))
    peak = [x.loc[x["phase"] == "ms", "logl"].max() for x in (lo, mid, hi)]
    assert peak[0] > peak[1] > peak[2]


def test_main_sequence_locus() -> None:
    colour = np.array([0.6, 0.82, 1.2, 2.0, 3.0])
    mg = main_sequence_abs_g(colour)
    assert np.all(np.diff(mg) > 0)  # redder is fainter on the MS
    assert mg[1] == pytest.approx(4.75, abs=0.3)
    assert np.isnan(main_sequence_abs_g(np.array([6.0, -1.0]))).all()
    # Metal-poor dwarfs are fainter at fixed colour.
    assert (main_sequence_abs_g(colour, feh=-0.5) > mg).all()


def test_equal_mass_binary_offset() -> None:
    assert abs(EQUAL_MASS_OFFSET_MAG - 0.753) < 1e-3
    star = main_sequence_stars(np.array([0.9]), np.array([2.0]), np.array([0.0]))
    twin_g = star["abs_g_mag"][0] - 2.5 * np.log10(2.0)
    # A twin has the colour of its components: it sits 0.75 mag above the locus.
    height = main_sequence_abs_g(star["bp_rp_mag"], age_gyr=2.0)[0] - twin_g
    assert height == pytest.approx(EQUAL_MASS_OFFSET_MAG, abs=0.02)


def test_outside_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the MIST grid"):
        isochrone(30.0, 0.0)
    with pytest.raises(ValueError, match=r"\[Fe/H\]"):
        isochrone(1.0, 1.5)
    gone = main_sequence_stars(np.array([2.0]), np.array([5.0]), np.array([0.0]))
    assert np.isnan(gone["teff_k"][0])  # a 2 M☉ star has left the MS by 5 Gyr


def test_evolved_draws_stay_in_phase() -> None:
    rng = np.random.default_rng(3)
    giants = evolved_stars(rng.uniform(1, 10, 300), rng.normal(-0.1, 0.2, 300), ("rgb", "cheb"), rng)
    assert set(giants["phase"]) <= {"rgb", "cheb"}
    assert giants["logg"].between(0, 3.5).all()
    # The red clump (core-He burning) sits near M_G ≈ 0.5, BP−RP ≈ 1.2.
    clump = giants[giants["phase"] == "cheb"]
    assert clump["abs_g_mag"].median() == pytest.approx(0.5, abs=0.5)
    assert clump["bp_rp_mag"].median() == pytest.approx(1.15, abs=0.2)
