"""Binary labels an observer could assign, and a Gaia DR3-like detectability of each orbit.

``is_binary`` (the truth) counts every companion, including wide ones with a flux ratio below 0.1,
periods of decades and K₁ of a few km/s that leave no trace in one Kepler quarter and one LAMOST
LRS spectrum. This module adds the labels an observer can actually assign (issue 14, item 3;
``docs/SCIENCE.md`` 3.9.1):

* ``is_close_binary``: P_orb < 10 d (tidally synchronized, spots at P_orb, ellipsoidal, large ΔRV);
* ``is_eclipsing``: the orbit's inclination lets the stars eclipse each other;
* ``non_single_star``: a Gaia DR3-like bit field, bit 0 (1) astrometric, bit 1 (2) spectroscopic
  (SB1/SB2), bit 2 (4) eclipsing, as in DR3's ``gaia_source.non_single_star`` (Gaia
  Collaboration, Arenou et al. 2023, A&A 674, A34). Each bit is set where the orbit passes a
  detectability threshold below, never at random;
* ``is_detectable_binary`` = close or eclipsing or spectroscopic (:func:`detectable_binary`, the
  one definition), the label binary detection is scored on and the fine-tuned head learns.

All thresholds are **approximations** of the DR3 selection, chosen by us from the orders of
magnitude in the papers cited at each constant; the real selection involves goodness-of-fit,
significance and period-search filters that are not modelled. Everything here is deterministic
(no random draws), so adding the labels leaves the simulated stars unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: ``non_single_star`` bits (Gaia DR3 data model, gaia_source): 1 astrometric, 2 spectroscopic, 4 eclipsing.
NSS_ASTROMETRIC, NSS_SPECTROSCOPIC, NSS_ECLIPSING = 1, 2, 4
#: Close binaries: P_orb below 10 d (tidal synchronization; SCIENCE.md 3.5).
CLOSE_PORB_D = 10.0
#: DR3 covers 34 months of data (Gaia Collaboration, Vallenari et al. 2023, A&A 674, A1).
DR3_BASELINE_D = 34 * 30.44
#: Astrometric orbits and accelerations: P from ~100 d to a few baselines (Halbwachs et al. 2023,
#: A&A 674, A9; our rounded window).
ASTROMETRIC_PORB_D = (100.0, 3000.0)
#: Astrometric threshold on the photocentre semi-major axis α (mas) at G ≤ 13, doubling by G = 16
#: (our approximation: DR3 only searched sources with RUWE > 1.4, Halbwachs et al. 2023, and the
#: along-scan precision degrades with G, Lindegren et al. 2021, A&A 649, A2).
ALPHA_THRESHOLD_MAS = 0.1
#: RUWE at which the astrometric threshold sits: DR3's astrometric-orbit search started from RUWE > 1.4.
RUWE_CUT = 1.4
#: RVS epoch RVs went into the SB1/SB2 search only for G_RVS ≤ 12 (Gaia Collaboration, Arenou et al.
#: 2023; Katz et al. 2023, A&A 674, A5, rv_method_used = 1), and only orbits shorter than ~1,000 d
#: were fitted within the 34-month baseline (our rounded limit).
RVS_ORBIT_GRVS_LIMIT = 12.0
SPECTROSCOPIC_PORB_MAX_D = 1000.0
#: Mean radial velocities are published down to G_RVS = 14 (Katz et al. 2023).
RVS_PUBLISHED_GRVS_LIMIT = 14.0
#: SB1 detected where K₁ exceeds this many RVS epoch errors (our approximation of the DR3 filters
#: rv_chisq_pvalue ≤ 0.01 and rv_renormalised_gof > 4 with ~20 transits, Katz et al. 2023).
SB1_K_OVER_SIGMA = 2.0
#: SB2: both line systems seen where the companion gives ≥ 20 % of the light and the maximum
#: separation K₁ + K₂ is twice the RVS resolution element (R ≈ 11,500 → 26 km/s); our approximation.
SB2_MIN_FLUX_RATIO = 0.2
SB2_MIN_SEPARATION_KMS = 52.0
#: G-band epochs per source in DR3 (order of the DR3 median number of FoV transits; our value).
N_G_EPOCHS = 40
#: An eclipse counts where it is deeper than 5 per-epoch G errors and ≥ 2 epochs fall in eclipses
#: (our approximation of the DR3 eclipsing-binary detection, Mowlavi et al. 2023, A&A 674, A16).
ECLIPSE_SIGMA = 5.0
ECLIPSE_MIN_EPOCHS = 2.0
RSUN_PER_AU = 215.032


def apparent_g(df: pd.DataFrame) -> np.ndarray:
    """Apparent Gaia G (mag) from the truth's absolute G, distance and A_G."""
    dist = df["distance_pc"].to_numpy(float)
    return df["abs_g_mag"].to_numpy(float) + 5 * np.log10(dist) - 5 + df["a_g_mag"].to_numpy(float)


def g_rvs_mag(g: np.ndarray, g_rp: np.ndarray) -> np.ndarray:
    """G_RVS ≈ G_RP − 0.1 for FGK stars (our rough colour term; RVS, 846–870 nm, sits redder than RP).

    Sartoretti et al. (2023, A&A 674, A6) give the exact polynomial in BP−RP.
    """
    return np.asarray(g, float) - np.asarray(g_rp, float) - 0.1


def rvs_epoch_precision_kms(g_rvs: np.ndarray) -> np.ndarray:
    """Per-transit RVS velocity error (km/s): ~1.7 at G_RVS = 10, ~4.5 at 12, ~19 at 14.

    Our fit to the orders of magnitude in Katz et al. (2023): radial_velocity_error ≈ 1.3 km/s at
    G_RVS = 12 for ~20 transits, i.e. an epoch error of ~4–5 km/s.
    """
    return 1.0 + 3.5 * 10 ** (0.35 * (np.asarray(g_rvs, float) - 12.0))


def alpha_threshold_mas(g: np.ndarray) -> np.ndarray:
    """Astrometric detection threshold on α (mas): 0.1 at G ≤ 13, 0.2 at G = 16, doubling per 3 mag."""
    return ALPHA_THRESHOLD_MAS * 2 ** (np.clip(np.asarray(g, float) - 13.0, 0.0, None) / 3.0)


def photometric_precision_mag(g: np.ndarray) -> np.ndarray:
    """Per-epoch G error (mag): ~1 mmag for G ≲ 13, ~3 mmag at 16.

    Orders of magnitude of DR3 epoch photometry (Riello et al. 2021, A&A 649, A3); our formula.
    """
    return np.hypot(0.001, 0.0025 * 10 ** (0.4 * (np.asarray(g, float) - 16.0)))


def photocentre_mas(df: pd.DataFrame) -> np.ndarray:
    """Photocentre semi-major axis α = a·|B − β|/d (mas); 0 for single stars.

    B = M₂/(M₁+M₂) is the mass fraction and β = F₂/(F₁+F₂) the G-band light fraction of the
    companion: the photocentre orbits the light centre, not the primary (e.g. Penoyre et al. 2022,
    MNRAS 513, 2437), so equal twins do not wobble at all.
    """
    m1, m2 = df["mass_msun"].to_numpy(float), df["mass2_msun"].to_numpy(float)
    fr = df["flux_ratio_g"].to_numpy(float)
    a_au = df["a_rsun"].to_numpy(float) / RSUN_PER_AU
    with np.errstate(invalid="ignore"):
        alpha = 1000.0 * a_au / df["distance_pc"].to_numpy(float) * np.abs(m2 / (m1 + m2) - fr / (1 + fr))
    return np.nan_to_num(alpha, nan=0.0)


def wobble_seen_mas(alpha: np.ndarray, porb_d: np.ndarray) -> np.ndarray:
    """The α that survives the 5-parameter fit.

    Orbits longer than the baseline are mostly absorbed into proper motion; we scale by (T/P)²
    beyond it (our approximation).
    """
    p = np.nan_to_num(np.asarray(porb_d, float), nan=np.inf)
    return np.asarray(alpha, float) * np.minimum(1.0, (DR3_BASELINE_D / p) ** 2)


def ruwe_without_noise(alpha_seen: np.ndarray, g: np.ndarray) -> np.ndarray:
    """RUWE from the orbital wobble alone, √(1 + (δθ/σ)²) (Belokurov et al. 2020, MNRAS 496, 1922).

    σ is set so that α at :func:`alpha_threshold_mas` gives RUWE = 1.4.
    """
    ratio = np.asarray(alpha_seen, float) / alpha_threshold_mas(g)
    return np.sqrt(1.0 + (RUWE_CUT**2 - 1.0) * ratio**2)


def _disk_overlap(d: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Overlap area of two disks of radii r1, r2 at centre separation d (vectorised over all three)."""
    d, r1, r2 = np.broadcast_arrays(*(np.asarray(x, float) for x in (d, r1, r2)))
    d = np.maximum(d, 1e-12)
    area = np.zeros_like(d)
    inside = d <= np.abs(r1 - r2)
    area[inside] = np.pi * np.minimum(r1, r2)[inside] ** 2
    part = (d < r1 + r2) & ~inside
    dp, a, b = d[part], r1[part], r2[part]
    c1 = np.clip((dp**2 + a**2 - b**2) / (2 * dp * a), -1, 1)
    c2 = np.clip((dp**2 + b**2 - a**2) / (2 * dp * b), -1, 1)
    tri = 0.5 * np.sqrt(np.clip((-dp + a + b) * (dp + a - b) * (dp - a + b) * (dp + a + b), 0, None))
    area[part] = a**2 * np.arccos(c1) + b**2 * np.arccos(c2) - tri
    return area


def eclipse_depths(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Fractional depths of the primary and secondary eclipse at conjunction; 0 without an eclipse.

    Uniform disks, light fractions as in :func:`data.simulate.lightcurve.binary_signal`.
    """
    r1 = df["radius_rsun"].to_numpy(float)
    r2 = np.nan_to_num(df["radius2_rsun"].to_numpy(float))
    fr = df["flux_ratio_g"].to_numpy(float)
    l2 = fr / (1 + fr)
    sep = np.nan_to_num(
        df["a_rsun"].to_numpy(float) * np.abs(np.cos(np.radians(df["inclination_deg"]))), nan=np.inf
    )
    binary = df["is_binary"].to_numpy(bool) & (r2 > 0)
    overlap = np.where(
        binary, _disk_overlap(np.where(binary, sep, np.inf), r1, np.where(binary, r2, 1.0)), 0.0
    )
    primary = (1 - l2) * overlap / (np.pi * r1**2)
    secondary = np.where(binary, l2 * overlap / (np.pi * np.where(binary, r2, 1.0) ** 2), 0.0)
    return primary, secondary


def eclipse_duty_cycle(df: pd.DataFrame) -> np.ndarray:
    """Fraction of the orbit spent in one eclipse: chord length / (π a); 0 without eclipses."""
    r_sum = df["radius_rsun"].to_numpy(float) + np.nan_to_num(df["radius2_rsun"].to_numpy(float))
    a = df["a_rsun"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        sep = a * np.abs(np.cos(np.radians(df["inclination_deg"].to_numpy(float))))
        chord = np.sqrt(np.clip(r_sum**2 - sep**2, 0.0, None))
        duty = np.arcsin(np.clip(chord / a, 0.0, 1.0)) / np.pi
    return np.nan_to_num(duty) * df["is_binary"].to_numpy(bool)


def nss_bitmask(df: pd.DataFrame, g: np.ndarray) -> np.ndarray:
    """Gaia DR3-like ``non_single_star`` (int16) of each truth row at apparent magnitude ``g``."""
    binary = df["is_binary"].to_numpy(bool)
    porb = np.nan_to_num(df["porb_d"].to_numpy(float), nan=np.inf)
    lo, hi = ASTROMETRIC_PORB_D
    alpha_seen = wobble_seen_mas(df["alpha_phot_mas"].to_numpy(float), porb)
    astrometric = binary & (porb > lo) & (porb < hi) & (alpha_seen > alpha_threshold_mas(g))

    g_rvs = g_rvs_mag(g, df["g_rp_mag"].to_numpy(float))
    k1, k2 = df["k1_kms"].to_numpy(float), df["k2_kms"].to_numpy(float)
    sb1 = k1 > SB1_K_OVER_SIGMA * rvs_epoch_precision_kms(g_rvs)
    sb2 = (df["flux_ratio_g"].to_numpy(float) >= SB2_MIN_FLUX_RATIO) & (k1 + k2 > SB2_MIN_SEPARATION_KMS)
    spectroscopic = binary & (g_rvs <= RVS_ORBIT_GRVS_LIMIT) & (porb < SPECTROSCOPIC_PORB_MAX_D) & (sb1 | sb2)

    primary, secondary = eclipse_depths(df)
    threshold = ECLIPSE_SIGMA * photometric_precision_mag(g)
    deep_eclipses = (primary > threshold).astype(float) + (secondary > threshold).astype(float)
    epochs_in_eclipse = N_G_EPOCHS * eclipse_duty_cycle(df) * deep_eclipses
    eclipsing = df["is_eclipsing"].to_numpy(bool) & (epochs_in_eclipse >= ECLIPSE_MIN_EPOCHS)

    nss = (
        np.where(astrometric, NSS_ASTROMETRIC, 0)
        | np.where(spectroscopic, NSS_SPECTROSCOPIC, 0)
        | np.where(eclipsing, NSS_ECLIPSING, 0)
    )
    return nss.astype(np.int16)


def detectable_binary(df: pd.DataFrame) -> np.ndarray:
    """The physically detectable binary: close (P < 10 d) or eclipsing or spectroscopic (NSS bit 1).

    The one definition of the label that binary detection is scored on and the fine-tuned head
    learns; ``is_binary`` stays in the truth table for completeness.
    """
    spectroscopic = (df["non_single_star"].to_numpy(int) & NSS_SPECTROSCOPIC) > 0
    return df["is_binary"].to_numpy(bool) & (
        df["is_close_binary"].to_numpy(bool) | df["is_eclipsing"].to_numpy(bool) | spectroscopic
    )


def add_observer_labels(df: pd.DataFrame) -> None:
    """Add ``alpha_phot_mas``, ``eclipse_depth``, ``non_single_star`` and ``is_detectable_binary``.

    Needs the orbit columns of ``population._orbits`` (``is_close_binary``, ``is_eclipsing``,
    ``a_rsun``, ``k1_kms``…) and the placement (distance, A_G) of ``population._place``.
    """
    g = apparent_g(df)
    df["alpha_phot_mas"] = photocentre_mas(df)
    primary, secondary = eclipse_depths(df)
    df["eclipse_depth"] = np.maximum(primary, secondary)
    df["non_single_star"] = nss_bitmask(df, g)
    df["is_detectable_binary"] = detectable_binary(df)


#: LAMOST LRS at 6708 Å: FWHM = λ/1800 and a 10⁻⁴ dex pixel (SCIENCE.md 3.3, 3.9.1).
_LI_FWHM_AA = 6708.0 / 1800.0
_LI_PIXEL_AA = 6708.0 * np.log(10) * 1e-4
#: A single star's template cannot absorb a companion whose Teff differs by ≳ 1,000 K (our scale).
_TEFF_CONTRAST_K = 1000.0
#: Rotation periods above half a 90-d quarter are not measurable in one quarter.
_PROT_MAX_MEASURABLE_D = 45.0


def ellipsoidal_amplitude(df: pd.DataFrame) -> np.ndarray:
    """Ellipsoidal semi-amplitude, as in :func:`data.simulate.lightcurve.binary_signal`; 0 for singles."""
    fr = df["flux_ratio_g"].to_numpy(float)
    l2 = fr / (1 + fr)
    q, a = df["q"].to_numpy(float), df["a_rsun"].to_numpy(float)
    sin2 = np.sin(np.radians(df["inclination_deg"].to_numpy(float))) ** 2
    r1, r2 = df["radius_rsun"].to_numpy(float), df["radius2_rsun"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = (1 - l2) * q * (r1 / a) ** 3 * sin2 + l2 / q * (r2 / a) ** 3 * sin2
    return np.nan_to_num(amp, nan=0.0)


def profile_separation(df: pd.DataFrame) -> np.ndarray:
    """ΔRV as one epoch's composite line profile carries it: 2 √(l₁ l₂) · ΔRV (km/s); 0 for singles.

    Two line systems at light fractions l₁ and l₂ = 1 − l₁, ΔRV apart, widen the light-weighted
    profile by a velocity variance of l₁ l₂ ΔRV²; 2 √(l₁ l₂) · ΔRV is ΔRV for twins and vanishes
    with the companion's light. Measured on the simulated LAMOST pixels (seed 60607, the CCF FWHM
    of ``desa_core.line_indices`` against single stars of the same Teff, ΔRV 170–400 km/s): the
    log FWHM excess is +0.04 for l₂ < 0.05, +0.14 for 0.05–0.15, +0.32 for 0.15–0.3 and +0.49
    above (singles scatter ± 0.065), so a ΔRV seen through a companion without light would be an
    observable the spectrum does not hold (docs/evaluation/readout.md, "ΔRV in the ORACLE").
    """
    fr = np.nan_to_num(df["flux_ratio_g"].to_numpy(float))
    l2 = fr / (1.0 + fr)
    return 2.0 * np.sqrt(l2 * (1.0 - l2)) * np.nan_to_num(df["delta_rv_kms"].to_numpy(float))


def observable_features(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """What one Kepler quarter and one LAMOST LRS spectrum carry about a star, with their noise.

    The inputs of the ORACLE ceilings in the evaluation: true physical quantities seen through
    the data's measurement errors, restricted to one light curve and one spectrum (no Gaia, no
    CMD position, no orbital period, K₁ or mass ratio). Noise levels are our approximations:

    * spectrum: Teff ± 100 K, log g ± 0.15, [Fe/H] ± 0.1 (typical LAMOST LRS pipeline errors); Li
      EW ± 1.6 √(FWHM · pixel) / SNR (Cayrel 1988); Hα filling ± 0.1; ``composite``, the light of
      a companion whose spectrum a single template cannot absorb, l₂ · min(1, |ΔTeff| / 1,000 K),
      ± 0.03 √(40/SNR), so that twins are invisible without line splitting; ``delta_rv_kms``, the
      line splitting or broadening at the epoch as the light-weighted profile shows it,
      2 √(l₁ l₂) · ΔRV (ΔRV for twins, nothing for a companion without light: :func:`profile_separation`),
      ± FWHM/√SNR;
    * light curve: P_rot ± 5 % (not measurable above 45 d in 90 d), spot amplitude ± 10 %; the
      eclipse depth ± σ/√N_in (N_in cadences in eclipse during the quarter, none if no eclipse
      falls in it) and the ellipsoidal amplitude ± σ √(2/N), σ the Kepler noise per cadence.
    """
    from data.simulate.lightcurve import N_CADENCES, QUARTER_SPAN_D, noise_ppm

    n = len(df)
    snr = df["snr_g"].to_numpy(float)
    sigma_lc = 1e-6 * np.array([noise_ppm(k) for k in df["kepmag"].to_numpy(float)])
    fr = df["flux_ratio_g"].to_numpy(float)
    contrast = np.nan_to_num(np.abs(df["teff_k"].to_numpy(float) - df["teff2_k"].to_numpy(float)))
    composite = fr / (1 + fr) * np.minimum(1.0, contrast / _TEFF_CONTRAST_K)
    sigma_ew = 1000.0 * 1.6 * np.sqrt(_LI_FWHM_AA * _LI_PIXEL_AA) / snr  # mÅ
    porb = np.nan_to_num(df["porb_d"].to_numpy(float), nan=np.inf)
    in_quarter = rng.random(n) < np.minimum(1.0, 2 * QUARTER_SPAN_D / porb)
    n_in = np.where(in_quarter, N_CADENCES * 2 * eclipse_duty_cycle(df), 0.0)
    depth = np.where(n_in >= 1, df["eclipse_depth"].to_numpy(float), 0.0)
    prot = df["prot_d"].to_numpy(float) * np.exp(rng.normal(0, 0.05, n))
    return pd.DataFrame(
        {
            "teff_k": df["teff_k"].to_numpy(float) + rng.normal(0, 100.0, n),
            "logg": df["logg"].to_numpy(float) + rng.normal(0, 0.15, n),
            "feh": df["feh"].to_numpy(float) + rng.normal(0, 0.1, n),
            "li_ew_ma": df["li_ew_ma"].to_numpy(float) + rng.normal(0, 1, n) * sigma_ew,
            "halpha_fill": df["halpha_fill"].to_numpy(float) + rng.normal(0, 0.1, n),
            "composite": composite + rng.normal(0, 1, n) * 0.03 * np.sqrt(40.0 / snr),
            "delta_rv_kms": profile_separation(df) + rng.normal(0, 1, n) * 166.6 / np.sqrt(snr),
            "prot_d": np.where(prot < _PROT_MAX_MEASURABLE_D, prot, np.nan),
            "spot_amp_pct": df["spot_amp_pct"].to_numpy(float) * np.exp(rng.normal(0, 0.1, n)),
            "eclipse_depth": depth + rng.normal(0, 1, n) * sigma_lc / np.sqrt(n_in + 1),
            "ellipsoidal": ellipsoidal_amplitude(df)
            + rng.normal(0, 1, n) * sigma_lc * np.sqrt(2 / N_CADENCES),
        },
        index=df.index,
    )
