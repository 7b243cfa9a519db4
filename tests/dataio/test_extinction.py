"""Gaia extinction coefficients (data/extinction.py) against their source and an independent law."""

from __future__ import annotations

import numpy as np
import pytest

from data import extinction

#: k_X = A_X / A0 at (x = (BP−RP)0, A0), evaluated by hand from the rows of the ESA table
#: Fitz19_EDR3_MainSequence.csv (Xname = BPRP; https://www.cosmos.esa.int/web/gaia/edr3-extinction-law)
#: as transcribed by ASteCA, not by data/extinction.py: a wrong coefficient or term order fails here.
ESA_TABLE_VALUES = {
    (0.5, 0.1): {"G": 0.91607, "BP": 1.10441, "RP": 0.65336},
    (1.0, 0.5): {"G": 0.83610, "BP": 1.04727, "RP": 0.63988},
    (2.0, 1.0): {"G": 0.71514, "BP": 0.98837, "RP": 0.60218},
}


@pytest.mark.parametrize(("point", "expected"), ESA_TABLE_VALUES.items())
def test_k_ratios_match_the_esa_table(point: tuple[float, float], expected: dict[str, float]) -> None:
    x, a0 = point
    for band, value in expected.items():
        assert extinction.k_ratio(band, np.array([x]), np.array([a0]))[0] == pytest.approx(value, abs=2e-5)


def test_solar_colour_agrees_with_casagrande_vandenberg_2018() -> None:
    """An independent law: R = A/E(B−V) of 2.740, 3.374, 2.035 for solar-type stars (MNRAS 479, L102)."""
    x, ebv = np.array([0.82]), np.array([0.01])
    r_g, r_bp, r_rp = (f(x, ebv)[0] / ebv[0] for f in (extinction.a_g, extinction.a_bp, extinction.a_rp))
    assert r_g == pytest.approx(2.740, rel=0.02)
    assert r_bp == pytest.approx(3.374, rel=0.02)
    assert r_rp == pytest.approx(2.035, rel=0.02)
    # G − RP reddens by about half of E(BP−RP) (CV18: 0.705 / 1.339 = 0.53), not 0.45.
    assert (r_g - r_rp) / (r_bp - r_rp) == pytest.approx(0.527, abs=0.02)


def test_redder_stars_have_smaller_a_g_per_unit_reddening() -> None:
    """G is wide: a cool star's flux sits at longer wavelengths, where dust absorbs less."""
    colours = np.array([0.3, 0.8, 1.5, 2.3])
    r_g = extinction.a_g(colours, np.full(4, 0.1)) / 0.1
    assert np.all(np.diff(r_g) < 0) and r_g[0] - r_g[-1] > 0.5


def test_no_dust_no_extinction_and_colours_clipped_to_the_fit() -> None:
    assert extinction.a_g(np.array([1.0]), np.array([0.0]))[0] == 0.0
    inside, beyond = extinction.k_ratio("G", np.array([2.5, 3.5]), np.array([0.3, 0.3]))
    assert beyond == inside
    with pytest.raises(KeyError):
        extinction.k_ratio("V", np.array([1.0]), np.array([0.3]))
