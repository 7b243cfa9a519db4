"""The observer's ellipsoidal amplitude of ``benchmarks.oracle_terms`` (docs/evaluation/readout.md)."""

from __future__ import annotations

import numpy as np

from benchmarks.oracle_terms import harmonic_amplitude
from data.schema import LC_LENGTH, LC_SPAN_D


def test_the_amplitude_at_half_the_period_is_measured_beside_a_strong_fundamental() -> None:
    rng = np.random.default_rng(0)
    t = (np.arange(LC_LENGTH) + 0.5) * LC_SPAN_D / LC_LENGTH
    period = np.array([3.3, 7.1, 3.3])
    ellipsoidal = np.array([3e-4, 1e-3, 0.0])  # fractions
    spots = np.array([0.02, 0.01, 0.02])  # a fundamental 20-70 times larger, at another phase
    flux = np.stack(
        [
            100 * (-e * np.cos(4 * np.pi * t / p) + s * np.sin(2 * np.pi * t / p + 0.4))
            for p, e, s in zip(period, ellipsoidal, spots, strict=True)
        ]
    ) + rng.normal(0, 0.002, (3, LC_LENGTH))  # 20 ppm per bin, in percent
    mask = np.ones((3, LC_LENGTH), bool)
    mask[:, 300:420] = False  # a gap
    got = harmonic_amplitude(flux, mask, period)
    np.testing.assert_allclose(got[:2], ellipsoidal[:2], rtol=0.05)
    assert got[2] < 2e-5  # no ellipsoidal signal: only the noise's share
    few = np.zeros((1, LC_LENGTH), bool)
    few[0, :10] = True
    assert np.isnan(harmonic_amplitude(flux[:1], few, period[:1])[0])  # under 20 bins: unknown
    assert np.isnan(harmonic_amplitude(flux[:1], mask[:1], np.array([np.nan]))[0])
