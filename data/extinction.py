"""Gaia G, BP and RP extinction from a star's intrinsic colour and its extinction A0.

The one place for extinction coefficients: the simulator reddens with them and the simulated
GSP-Phot table is built from them. The relation is the Gaia EDR3 extinction law
(https://www.cosmos.esa.int/web/gaia/edr3-extinction-law, file
``Fitz19_EDR3_extinctionlawcoefficients.zip``, table ``Fitz19_EDR3_MainSequence.csv``, rows with
``Xname = BPRP``): Gaia DPAC fitted, in the form of Danielski et al. 2018 (A&A 614, A19), the
ratios k_X = A_X / A0 of Kurucz spectra reddened by the Fitzpatrick et al. 2019 curve through the
EDR3 passbands (Riello et al. 2021, A&A 649, A3), with A0 the extinction at 550 nm::

    k_X = a1 + a2 x + a3 x² + a4 x³ + a5 A0 + a6 A0² + a7 A0³ + a8 x A0 + a9 A0 x² + a10 x A0²

where x = (BP−RP)0. The grid spans 3500–10000 K (we take x = −0.06 to 2.5 as its colour range)
and 0.01 < A0 < 20 mag, at
solar metallicity, for dwarfs; giants use the same rows here (a simplification: the page gives a
separate "HRD top" table for them, not used). With A0 = 3.1 E(B−V) (R_V = 3.1),
a solar-colour star gets A_G = 2.72 E(B−V), A_BP = 3.33 E(B−V) and A_RP = 2.01 E(B−V): within
1.5 % of Casagrande & VandenBerg 2018 (MNRAS 479, L102; 2.740, 3.374, 2.035).
"""

from __future__ import annotations

import numpy as np

#: A0 (extinction at 550 nm) per unit E(B−V): R_V = 3.1, the diffuse-ISM value the law assumes.
A0_PER_EBV = 3.1
#: Intrinsic BP−RP range of the fit (3500–10000 K); colours outside are clipped to it.
BP_RP0_RANGE_MAG = (-0.06, 2.5)
#: A0 range of the fit; k is evaluated at A0 clipped to it (A_X itself still scales with A0).
A0_RANGE_MAG = (0.01, 20.0)

#: Coefficients a1..a10 of k_X per band (Fitz19_EDR3_MainSequence.csv, Xname = BPRP).
EDR3_MS_BPRP: dict[str, tuple[float, ...]] = {
    "G": (
        0.995969721536602,
        -0.159726460302015,
        0.0122380738156057,
        0.00090726555099859,
        -0.0377160263914123,
        0.00151347495244888,
        -2.52364537395142e-05,
        0.0114522658102451,
        -0.000936914989014318,
        -0.000260296774134201,
    ),
    "BP": (
        1.15363197483424,
        -0.0814012991657388,
        -0.036013023976704,
        0.0192143585568966,
        -0.022397548243016,
        0.000840562680547171,
        -1.31018008013549e-05,
        0.00660124080271006,
        -0.000882247501989453,
        -0.000111215755291684,
    ),
    "RP": (
        0.66320787941067,
        -0.0179847164933981,
        0.000493769449961458,
        -0.00267994405695751,
        -0.00651422146709376,
        3.30179903473159e-05,
        1.57894227641527e-06,
        -7.9800898337247e-05,
        0.000255679812110045,
        1.10476584967393e-05,
    ),
}


def k_ratio(band: str, bp_rp0: np.ndarray, a0: np.ndarray) -> np.ndarray:
    """A_X / A0 in Gaia band ``band`` ("G", "BP" or "RP") at intrinsic colour and extinction A0.

    Raises
    ------
    KeyError
        Unknown band.
    """
    a = EDR3_MS_BPRP[band]
    x = np.clip(np.asarray(bp_rp0, dtype=float), *BP_RP0_RANGE_MAG)
    e = np.clip(np.asarray(a0, dtype=float), *A0_RANGE_MAG)
    return (
        a[0]
        + a[1] * x
        + a[2] * x**2
        + a[3] * x**3
        + a[4] * e
        + a[5] * e**2
        + a[6] * e**3
        + a[7] * x * e
        + a[8] * e * x**2
        + a[9] * x * e**2
    )


def band_extinction(band: str, bp_rp0: np.ndarray, a0: np.ndarray) -> np.ndarray:
    """A_X in mag: ``k_ratio(band, bp_rp0, a0) * a0`` (0 where A0 = 0)."""
    return k_ratio(band, bp_rp0, a0) * np.asarray(a0, dtype=float)


def a_g(bp_rp0: np.ndarray, ebv: np.ndarray) -> np.ndarray:
    """A_G in mag for intrinsic BP−RP ``bp_rp0`` and reddening E(B−V) ``ebv``."""
    return band_extinction("G", bp_rp0, A0_PER_EBV * np.asarray(ebv, dtype=float))


def a_bp(bp_rp0: np.ndarray, ebv: np.ndarray) -> np.ndarray:
    """A_BP in mag for intrinsic BP−RP ``bp_rp0`` and reddening E(B−V) ``ebv``."""
    return band_extinction("BP", bp_rp0, A0_PER_EBV * np.asarray(ebv, dtype=float))


def a_rp(bp_rp0: np.ndarray, ebv: np.ndarray) -> np.ndarray:
    """A_RP in mag for intrinsic BP−RP ``bp_rp0`` and reddening E(B−V) ``ebv``."""
    return band_extinction("RP", bp_rp0, A0_PER_EBV * np.asarray(ebv, dtype=float))
