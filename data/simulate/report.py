"""PNG figures that show what a simulated survey contains (``desa simulate --report``).

Figures (written to ``<out_dir>``):

* ``cmd.png``: the observed Gaia colour–magnitude diagram (M_G from the parallax, extinction
  removed) by population, with the MIST single-star main sequence and the equal-mass binary line.
* ``hr.png``: the truth HR diagram (Teff, log L) with MIST isochrones at 0.1, 1, 4 and 10 Gyr.
* ``prot_teff.png``: rotation period against Teff, next to the real Kepler rotation catalogue of
  Santos et al. (2019, 2021) shipped in ``star-privateer`` (optional extra ``report``; without it the
  right panel says how to install it).
* ``lightcurves.png`` and ``spectra.png``: one example light curve and spectrum per population,
  read back from the archive files with the product's own readers (spectra with a Li 6708 inset).
* ``sync_vs_young.png`` (+ ``sync_vs_young.json``): the headline case side by side, on
  synchronized binaries and young stars matched in Prot and Teff (:mod:`data.simulate.case`):
  light-curve features measured on the Kepler files (Prot, amplitude, ACF at 3P, flare rate),
  Li 6708 EW and CCF width measured on the LAMOST files, and the height above the dereddened
  main sequence (outside the model's inputs), each with its AUC.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.gaia import read_gaia_table
from data.kepler import read_kepler_lightcurve
from data.lamost import read_lamost_spectrum
from data.schema import CASE_PAIR, POPULATION_COLOURS
from data.storage import atomic_write, atomic_write_text

log = logging.getLogger(__name__)

FIGURES = ("cmd.png", "hr.png", "prot_teff.png", "lightcurves.png", "spectra.png", "sync_vs_young.png")
#: Matched pairs measured for the case figure (reading ~2 files per star; a few seconds per 100).
CASE_MAX_PAIRS = 200
#: One colour per population, as in every figure (``data.schema``).
COLOURS = POPULATION_COLOURS
SANTOS_MISSING = (
    "Santos et al. catalogue not installed:\n"
    "pip install 'desa[report]'  (or: pip install --no-deps star-privateer)"
)


def _plt():  # matplotlib.pyplot, imported lazily with the Agg backend
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: object, path: Path) -> Path:
    plt = _plt()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def santos_catalogue() -> pd.DataFrame | None:
    """KIC, Teff and Prot of Santos et al. 2019 (M/K) + 2021 (F/G) rotators, or None if absent."""
    import importlib.util
    import warnings

    from astropy.table import Table

    # Locate the package's data without importing it (its import pulls pycwt, scikit-image, ...).
    spec = importlib.util.find_spec("star_privateer")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "catalogs"
    frames = []
    for name in ("santos_2019_catalog.fit", "santos_2021_catalog.fit"):
        if not (folder / name).is_file():
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-FITS units (Msun, ppm) in the catalogue headers
            table = Table.read(folder / name)
        frames.append(table[["KIC", "Teff", "Prot"]].to_pandas())
    return pd.concat(frames, ignore_index=True)


def _find_gaia(raw_dir: Path) -> Path:
    for suffix in (".ecsv", ".csv", ".parquet", ".fits", ".xml", ".vot"):
        hits = sorted(raw_dir.glob(f"gaia*{suffix}"))
        if hits:
            return hits[0]
    raise DataError(raw_dir, "gaia table", "no gaia*.ecsv/csv/parquet/fits/xml in the folder")


def _cmd(truth: pd.DataFrame, gaia: pd.DataFrame, out: Path) -> Path:
    from data.isochrones import EQUAL_MASS_OFFSET_MAG, main_sequence_abs_g

    plt = _plt()
    g = gaia.set_index("kic_id").loc[truth["kic_id"]].reset_index()
    good = (g["parallax"] / g["parallax_error"] > 5).to_numpy()
    abs_g = (
        g["phot_g_mean_mag"] + 5 * np.log10(g["parallax"].clip(lower=1e-3) / 1000.0) + 5 - truth["a_g_mag"]
    )
    colour = g["bp_rp"] - (truth["bp_rp_mag"] - truth["bp_rp_intrinsic_mag"])
    fig, ax = plt.subplots(figsize=(6.5, 7))
    for pop, colour_hex in COLOURS.items():
        sel = good & (truth["population"] == pop).to_numpy()
        ax.scatter(colour[sel], abs_g[sel], s=4, alpha=0.6, color=colour_hex, label=f"{pop} ({sel.sum()})")
    x = np.linspace(0.3, 3.2, 200)
    ms = main_sequence_abs_g(x, -0.1)
    ax.plot(x, ms, color="k", lw=1.2, label="MIST MS, 1 Gyr, [Fe/H] −0.1")
    ax.plot(x, ms - EQUAL_MASS_OFFSET_MAG, color="k", lw=1, ls="--", label="equal-mass binaries (−0.75 mag)")
    ax.invert_yaxis()
    ax.set_xlabel("(BP − RP)₀ [mag]")
    ax.set_ylabel("M_G from parallax, extinction-corrected [mag]")
    ax.set_title(f"Gaia CMD of the simulated survey ({int(good.sum())} stars with ϖ/σ > 5)")
    ax.legend(fontsize=7, markerscale=3)
    return _save(fig, out / "cmd.png")


def _hr(truth: pd.DataFrame, out: Path) -> Path:
    from data.isochrones import isochrone

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for pop, colour_hex in COLOURS.items():
        sel = truth["population"] == pop
        ax.scatter(
            truth.loc[sel, "teff_k"], truth.loc[sel, "logl"], s=4, alpha=0.6, color=colour_hex, label=pop
        )
    for age in (0.1, 1.0, 4.0, 10.0):
        iso = isochrone(age, 0.0)
        iso = iso[iso["phase"].isin(["ms", "subgiant", "rgb"])]
        ax.plot(iso["teff_k"], iso["logl"], lw=0.9, label=f"MIST {age:g} Gyr")
    ax.set_xlim(7500, 3000)
    ax.set_ylim(-2.5, 3.0)
    ax.set_xlabel("Teff [K]")
    ax.set_ylabel("log L/L☉")
    ax.set_title("HR diagram (truth) with MIST v2.5 isochrones, [Fe/H] = 0")
    ax.legend(fontsize=7, markerscale=3)
    return _save(fig, out / "hr.png")


def _prot_teff(truth: pd.DataFrame, out: Path) -> Path:
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), sharex=True, sharey=True)
    for pop, colour_hex in COLOURS.items():
        sel = truth["population"] == pop
        left.scatter(
            truth.loc[sel, "teff_k"], truth.loc[sel, "prot_d"], s=4, alpha=0.6, color=colour_hex, label=pop
        )
    left.set_title("Simulated survey (truth P_rot)")
    santos = santos_catalogue()
    if santos is None:
        right.text(0.5, 0.5, SANTOS_MISSING, ha="center", va="center", transform=right.transAxes, fontsize=9)
        log.warning("report: %s", SANTOS_MISSING.replace("\n", " "))
    else:
        right.scatter(santos["Teff"], santos["Prot"], s=1, alpha=0.15, color="0.3")
        right.set_title(f"Santos et al. 2019 + 2021, real Kepler rotators ({len(santos):,})")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.set_xlim(7000, 3200)
        ax.set_ylim(0.2, 200)
        ax.set_xlabel("Teff [K]")
    left.set_ylabel("P_rot [d]")
    left.legend(fontsize=7, markerscale=3)
    return _save(fig, out / "prot_teff.png")


def _examples(truth: pd.DataFrame) -> pd.DataFrame:
    """One bright-ish example star per population (the one nearest the median Kp)."""
    rows = []
    for pop in COLOURS:
        sub = truth[truth["population"] == pop]
        if len(sub):
            rows.append(sub.iloc[int(np.argmin(np.abs(sub["kepmag"] - sub["kepmag"].quantile(0.3))))])
    return pd.DataFrame(rows)


def _lightcurves(truth: pd.DataFrame, raw_dir: Path, out: Path) -> Path:
    plt = _plt()
    examples = _examples(truth)
    fig, axes = plt.subplots(len(examples), 1, figsize=(10, 1.8 * len(examples)), sharex=True)
    for ax, (_, star) in zip(np.atleast_1d(axes), examples.iterrows(), strict=True):
        rec = read_kepler_lightcurve(raw_dir / str(star["kepler_files"]).split(";")[0])
        flux = rec.flux / np.nanmedian(rec.flux[rec.valid])
        ax.plot(rec.time_bkjd[rec.valid], (flux[rec.valid] - 1) * 100, ",", color=COLOURS[star["population"]])
        label = f"{star['population']}: P_rot {star['prot_d']:.1f} d"
        if np.isfinite(star.get("porb_d", np.nan)):
            label += f", P_orb {star['porb_d']:.1f} d"
        ax.set_title(f"KIC {int(star['kic_id'])}, {label}, Kp {star['kepmag']:.1f}", fontsize=8)
        ax.set_ylabel("Δflux [%]", fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("time [BKJD]")
    fig.tight_layout()
    return _save(fig, out / "lightcurves.png")


def _spectra(truth: pd.DataFrame, raw_dir: Path, out: Path) -> Path:
    plt = _plt()
    examples = _examples(truth)
    fig, axes = plt.subplots(len(examples), 2, figsize=(12, 1.9 * len(examples)), width_ratios=[3, 1])
    axes = np.atleast_2d(axes)
    for (ax, inset), (_, star) in zip(axes, examples.iterrows(), strict=True):
        rec = read_lamost_spectrum(raw_dir / str(star["lamost_file"]))
        ok = np.isfinite(rec.flux)
        colour_hex = COLOURS[star["population"]]
        ax.plot(rec.wavelength_aa[ok], rec.flux[ok], lw=0.4, color=colour_hex)
        ax.set_title(
            f"{star['population']}: Teff {star['teff_k']:.0f} K, logg {star['logg']:.2f}, "
            f"Li EW {star['li_ew_ma']:.0f} mÅ, SNR_g {star['snr_g']:.0f}",
            fontsize=8,
        )
        zoom = ok & (rec.wavelength_aa > 6650) & (rec.wavelength_aa < 6770)
        cont = np.median(rec.flux[zoom]) if zoom.any() else 1.0
        inset.plot(rec.wavelength_aa[zoom], rec.flux[zoom] / cont, lw=0.8, color=colour_hex)
        inset.axvline(6709.66, color="0.5", lw=0.6, ls=":")
        inset.set_title("Li 6708 (vacuum)", fontsize=8)
    axes[-1, 0].set_xlabel("vacuum wavelength [Å]")
    fig.tight_layout()
    return _save(fig, out / "spectra.png")


def case_features(
    truth: pd.DataFrame, gaia: pd.DataFrame, raw_dir: Path, max_pairs: int = CASE_MAX_PAIRS
) -> pd.DataFrame:
    """Matched sync/young pairs with features measured on their archive files (product readers)."""
    from data.simulate.case import lightcurve_features, match_pairs, spectrum_features

    pairs = match_pairs(truth, np.random.default_rng(0), max_pairs=max_pairs)
    has_rv = "radial_velocity" in gaia
    gaia_rv = gaia.set_index("kic_id")["radial_velocity"] if has_rv else pd.Series(dtype=float)
    rows = []
    for star in pairs.to_dict("records"):
        rec = read_kepler_lightcurve(raw_dir / str(star["kepler_files"]).split(";")[0])
        spec = read_lamost_spectrum(raw_dir / str(star["lamost_file"]))
        ivar = np.where(spec.mask, spec.ivar, 0.0)
        flux = np.where(rec.valid, rec.flux, np.nan)
        rows.append(
            {"population": str(star["population"]), "prot_d": float(star["prot_d"])}
            | lightcurve_features(rec.time_bkjd, flux, float(star["prot_d"]))
            | spectrum_features(
                spec.wavelength_aa, spec.flux, ivar, spec.helio_rv_kms, gaia_rv.get(star["kic_id"], np.nan)
            )
            | {"cmd_excess_mag": float(star["delta_g_locus_mag"])}
        )
    return pd.DataFrame(rows)


CASE_PANELS = (
    ("prot_d", "P_rot [d] (matched)", True),
    ("amplitude_pct", "amplitude, 5–95 % [%]", True),
    ("acf_3p", "ACF at 3 P_rot", False),
    ("flares_per_d", "flares per day (measured)", False),
    ("li6708_ew_ma", "Li 6708 EW, measured [mÅ]", False),
    ("ccf_fwhm_kms", "CCF FWHM [km/s]", False),
    ("rv_offset_kms", "|RV LAMOST − RV Gaia| [km/s]", True),
    ("cmd_excess_mag", "height above the MS, dereddened [mag]", False),
)


def _case(truth: pd.DataFrame, gaia: pd.DataFrame, raw_dir: Path, out: Path) -> Path:
    import json

    from data.simulate.case import LIGHTCURVE_FEATURES, SPECTRUM_FEATURES, auc, combined_auc

    plt = _plt()
    features = case_features(truth, gaia, raw_dir)
    fig, axes = plt.subplots(3, 3, figsize=(13, 10))
    summary: dict[str, object] = {"n_pairs": int(len(features) // 2)}
    if len(features) < 10:
        for ax in axes.ravel():
            ax.axis("off")
        axes[0, 0].text(0, 0.5, "too few synchronized binaries and young stars to match", fontsize=10)
    else:
        positive = (features["population"] == CASE_PAIR[0]).to_numpy()
        for ax, (name, label, log_x) in zip(axes.ravel(), CASE_PANELS, strict=False):
            values = features[name].to_numpy(dtype=float)
            ok = np.isfinite(values) & (values > 0 if log_x else True)
            bins = (
                np.geomspace(values[ok].min(), values[ok].max(), 25)
                if log_x
                else np.linspace(*np.nanpercentile(values, [1, 99]), 25)
            )
            for pop in reversed(CASE_PAIR):
                sel = ok & (features["population"] == pop).to_numpy()
                ax.hist(values[sel], bins=bins, histtype="step", lw=1.5, color=COLOURS[pop], label=pop)
            if log_x:
                from matplotlib.ticker import NullFormatter, ScalarFormatter

                ax.set_xscale("log")
                ax.xaxis.set_major_formatter(ScalarFormatter())
                ax.xaxis.set_minor_formatter(NullFormatter())
            summary[name] = round(auc(values, positive), 3)
            ax.set_title(f"{label}\nAUC {summary[name]:.2f}", fontsize=9)
        axes[0, 0].legend(fontsize=8)
        summary["lightcurve_combined"] = round(combined_auc(features[list(LIGHTCURVE_FEATURES)], positive), 3)
        summary["spectrum_combined"] = round(combined_auc(features[list(SPECTRUM_FEATURES)], positive), 3)
        last = axes.ravel()[-1]
        last.axis("off")
        last.text(
            0.0,
            0.5,
            f"{summary['n_pairs']} pairs matched in P_rot and Teff\n"
            f"light curve, all features: AUC {summary['lightcurve_combined']:.2f}\n"
            f"spectrum, Li + CCF + RV offset: AUC {summary['spectrum_combined']:.2f}\n"
            "(AUC 0.5 = indistinguishable; cross-validated\nlogistic regression)",
            fontsize=10,
            va="center",
        )
    fig.suptitle("Synchronized binaries against young stars: alike in light curves, apart in spectra")
    fig.tight_layout()
    atomic_write_text(out / "sync_vs_young.json", json.dumps(summary, indent=2))
    return _save(fig, out / "sync_vs_young.png")


def write_report(raw_dir: Path, out_dir: Path) -> list[Path]:
    """Write the report's PNG figures for the simulated survey in ``raw_dir``; return their paths."""
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    truth_path = raw_dir / "truth.parquet"
    if not truth_path.is_file():
        raise DataError(truth_path, "file", "missing; the report needs a simulated survey (desa simulate)")
    truth = pd.read_parquet(truth_path)
    gaia = read_gaia_table(_find_gaia(raw_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _cmd(truth, gaia, out_dir),
        _hr(truth, out_dir),
        _prot_teff(truth, out_dir),
        _lightcurves(truth, raw_dir, out_dir),
        _spectra(truth, raw_dir, out_dir),
        _case(truth, gaia, raw_dir, out_dir),
    ]
