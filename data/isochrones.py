"""Real stellar isochrones: MIST v2.5 (v/v_crit = 0.4) from the ``lachesis-grids`` package.

The grid (15 [Fe/H] from −4 to +0.5 × 107 log ages from 5.0 to 10.3, up to 1,722 equivalent
evolutionary points each) is read from the HDF5 file that ``lachesis-grids`` installs; its files
carry no licence, so they are used in place and never copied into this repository. Isochrones
between grid nodes are interpolated linearly in (log age, [Fe/H]) at a common equivalent
evolutionary point (EEP), the standard way of interpolating isochrones (Dotter 2016).

MIST gives no band magnitudes. Gaia magnitudes come from E. Mamajek's mean dwarf table
("A Modern Mean Dwarf Stellar Color and Effective Temperature Sequence", v2022.04.16, through the
``MeanStars`` package): the bolometric correction BC_G(Teff) = M_bol − M_G and the colours
BP−RP(Teff), G−RP(Teff) of a dwarf of the same Teff, with M_bol = 4.74 − 2.5 log L. The same
relations are applied to subgiants and giants: an approximation (at fixed Teff, FGK giant and dwarf
BP−RP and BC_G differ by a few hundredths of a magnitude), and the colour does not depend on
[Fe/H] at fixed Teff. Outside the table's 2,350–10,700 K the magnitudes are NaN.

Sanity check (``docs/SCIENCE.md`` 3.3): 1 M☉, 4.5 Gyr, [Fe/H] = 0 → Teff 5823 K, logg 4.434,
log L 0.017.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

#: Height of an equal-mass (twin) binary above the single-star sequence: 2.5 log10 2 = 0.753 mag.
EQUAL_MASS_OFFSET_MAG = 2.5 * np.log10(2.0)
MBOL_SUN = 4.74
GRID_FILE = "mist_v2.5_vvcrit0.4.h5"
GRID_NAME = "MIST v2.5 (vvcrit 0.4), lachesis-grids"
#: MIST phase codes → names; the subgiant branch is split from the RGB at logg = 3.5.
PHASE_NAMES = {
    -1: "pre_ms",
    0: "ms",
    2: "rgb",
    3: "cheb",
    4: "eagb",
    5: "tpagb",
    6: "post_agb",
    9: "wr",
}
SUBGIANT_LOGG_MIN = 3.5
#: (mass, [Fe/H]): below this initial mass the grid's most metal-rich node is missing.
LOW_MASS_FEH_CAP = (0.52, 0.25)
_COLUMNS = ("eep", "initial_mass", "star_mass", "Teff", "log_g", "log_L", "log_R", "phase")


def _grid_path() -> Path:
    try:
        from lachesis_grids import grid_path
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError(
            "data.isochrones needs the 'lachesis-grids' and 'h5py' packages: pip install lachesis-grids h5py"
        ) from exc
    return grid_path(GRID_FILE)


@lru_cache(maxsize=1)
def _index() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Grid axes and row offsets of the sparse layout (cached per process)."""
    with h5py.File(_grid_path(), "r") as f:
        feh = f["feh_values"][:]
        log_age = f["age_values"][:]
        lengths = f["lengths"][:]
        columns = [str(c) for c in f.attrs["columns"]]
    # "sparse_v1": one block of rows per ([Fe/H], age) node, blocks in C order, stored back to back.
    starts = np.concatenate([[0], np.cumsum(lengths)])
    return feh, log_age, starts, columns


@lru_cache(maxsize=1)
def _h5(pid: int) -> h5py.File:
    """The grid file, opened once per process (``pid`` keys the cache: handles do not survive fork)."""
    return h5py.File(_grid_path(), "r")


@lru_cache(maxsize=2048)
def _node(i_feh: int, i_age: int) -> dict[str, np.ndarray]:
    """Rows of one grid node, finite ones only, sorted by EEP (cached per process)."""
    _, log_age, starts, columns = _index()
    k = i_feh * log_age.size + i_age
    block = _h5(os.getpid())["values"][starts[k] : starts[k + 1]]
    pick = {name: block[:, columns.index(name)].astype(np.float64) for name in _COLUMNS}
    ok = np.ones(block.shape[0], dtype=bool)
    for values in pick.values():
        ok &= np.isfinite(values)
    order = np.argsort(pick["eep"][ok], kind="stable")
    return {name: values[ok][order] for name, values in pick.items()}


def _bracket(axis: np.ndarray, value: float, name: str, unit: str) -> list[tuple[int, float]]:
    """Grid indices and linear weights around ``value`` (weights > 0 only)."""
    if not np.isfinite(value) or value < axis[0] - 1e-9 or value > axis[-1] + 1e-9:
        raise ValueError(
            f"{name}={value} is outside the MIST grid ({axis[0]:g} to {axis[-1]:g} {unit}); "
            "pass a value inside it"
        )
    hi = int(np.clip(np.searchsorted(axis, value), 1, axis.size - 1))
    lo = hi - 1
    w = float(np.clip((value - axis[lo]) / (axis[hi] - axis[lo]), 0.0, 1.0))
    return [(i, wt) for i, wt in ((lo, 1.0 - w), (hi, w)) if wt > 1e-12]


def _corners(age_gyr: float, feh: float) -> list[tuple[int, int, float]]:
    grid_feh, grid_age, _, _ = _index()
    log_age = np.log10(age_gyr * 1e9) if age_gyr > 0 else -np.inf
    ages = _bracket(grid_age, log_age, "log10(age/yr)", "dex")
    fehs = _bracket(grid_feh, feh, "[Fe/H]", "dex")
    return [(i, j, wf * wa) for i, wf in fehs for j, wa in ages]


def _floats(column: object) -> np.ndarray:
    """Numbers of a Mamajek table column: ':' marks uncertain entries (kept), '...' missing ones."""
    out = []
    for value in np.ma.filled(np.ma.asarray(column).astype(str), "nan"):
        match = re.match(r"^\s*([-+]?\d*\.?\d+)", str(value))
        out.append(float(match.group(1)) if match else np.nan)
    return np.asarray(out)


@lru_cache(maxsize=1)
def _colour_table() -> dict[str, np.ndarray]:
    """Mamajek's Teff → BC_G, BP−RP, G−RP (rows with all of them; sorted by Teff)."""
    from MeanStars import MeanStars

    table = MeanStars().data
    cols = {name: _floats(table[name]) for name in ("Teff", "logL", "M_G", "Bp-Rp", "G-Rp")}
    keep = np.ones(cols["Teff"].size, dtype=bool)
    for name in ("Teff", "logL", "M_G", "Bp-Rp", "G-Rp"):
        keep &= np.isfinite(cols[name])
    order = np.argsort(cols["Teff"][keep])
    pick = {k: v[keep][order] for k, v in cols.items()}
    return {
        "teff": pick["Teff"],
        "bc_g": MBOL_SUN - 2.5 * pick["logL"] - pick["M_G"],
        "bp_rp": pick["Bp-Rp"],
        "g_rp": pick["G-Rp"],
    }


def gaia_photometry(teff_k: np.ndarray, logl: np.ndarray) -> dict[str, np.ndarray]:
    """Absolute G, BP−RP and G−RP of stars of given Teff and log L (NaN off the table)."""
    table = _colour_table()
    teff = np.asarray(teff_k, dtype=float)

    def at(name: str) -> np.ndarray:
        return np.interp(teff, table["teff"], table[name], left=np.nan, right=np.nan)

    m_bol = MBOL_SUN - 2.5 * np.asarray(logl, dtype=float)
    return {
        "abs_g_mag": m_bol - at("bc_g"),
        "bp_rp_mag": at("bp_rp"),
        "g_rp_mag": at("g_rp"),
    }


def phase_names(phase_code: np.ndarray, logg: np.ndarray) -> np.ndarray:
    """MIST phase codes as names; phase-2 stars with logg ≥ 3.5 are 'subgiant', the rest 'rgb'."""
    code = np.rint(np.asarray(phase_code)).astype(int)
    names = np.array([PHASE_NAMES.get(c, f"phase{c}") for c in code], dtype=object)
    names[(code == 2) & (np.asarray(logg) >= SUBGIANT_LOGG_MIN)] = "subgiant"
    return names


def _frame(values: dict[str, np.ndarray], phase_code: np.ndarray) -> pd.DataFrame:
    phot = gaia_photometry(values["teff_k"], values["logl"])
    return pd.DataFrame(
        {
            "eep": values["eep"],
            "initial_mass_msun": values["initial_mass"],
            "mass_msun": values["mass_msun"],
            "teff_k": values["teff_k"],
            "logg": values["logg"],
            "logl": values["logl"],
            "radius_rsun": values["radius_rsun"],
            "abs_g_mag": phot["abs_g_mag"],
            "bp_rp_mag": phot["bp_rp_mag"],
            "g_rp_mag": phot["g_rp_mag"],
            "phase": pd.array(phase_names(phase_code, values["logg"]), dtype="string"),
        }
    )


def isochrone(age_gyr: float, feh: float = 0.0) -> pd.DataFrame:
    """The MIST isochrone at ``age_gyr`` and ``feh``, interpolated between grid nodes.

    Returns
    -------
    pandas.DataFrame
        One row per EEP, in EEP order (mass increasing): mass_msun (current), teff_k, logg, logl,
        radius_rsun, abs_g_mag, bp_rp_mag, phase (str: pre_ms, ms, subgiant, rgb, cheb, eagb,
        tpagb, post_agb), plus eep, initial_mass_msun and g_rp_mag. Magnitudes are NaN where Teff
        is outside the colour table.
    """
    corners = _corners(float(age_gyr), float(feh))
    nodes = [(_node(i, j), w) for i, j, w in corners]
    common = nodes[0][0]["eep"]
    for node, _ in nodes[1:]:
        common = np.intersect1d(common, node["eep"])
    if common.size == 0:
        raise ValueError(f"no common EEPs around age {age_gyr} Gyr, [Fe/H] {feh}")
    acc = {k: np.zeros(common.size) for k in ("initial_mass", "star_mass", "Teff", "log_g", "log_L", "log_R")}
    for node, w in nodes:
        idx = np.searchsorted(node["eep"], common)
        for key in acc:
            value = np.log10(node[key][idx]) if key == "Teff" else node[key][idx]
            acc[key] += w * value
    nearest = max(nodes, key=lambda nw: nw[1])[0]
    phase = nearest["phase"][np.searchsorted(nearest["eep"], common)]
    values = {
        "eep": common,
        "initial_mass": acc["initial_mass"],
        "mass_msun": acc["star_mass"],
        "teff_k": 10 ** acc["Teff"],
        "logg": acc["log_g"],
        "logl": acc["log_L"],
        "radius_rsun": 10 ** acc["log_R"],
    }
    return _frame(values, phase)


@lru_cache(maxsize=64)
def _ms_locus(feh: float, age_gyr: float) -> tuple[np.ndarray, np.ndarray]:
    iso = isochrone(age_gyr, feh)
    ms = iso[(iso["phase"] == "ms") & iso["abs_g_mag"].notna() & iso["bp_rp_mag"].notna()]
    colour, mag = ms["bp_rp_mag"].to_numpy(), ms["abs_g_mag"].to_numpy()
    # Keep the part where colour gets strictly bluer with mass (below the turn-off hook).
    keep = np.r_[True, colour[1:] < np.minimum.accumulate(colour)[:-1]]
    colour, mag = colour[keep], mag[keep]
    return colour[::-1].copy(), mag[::-1].copy()


def main_sequence_abs_g(bp_rp_mag: np.ndarray, feh: float = 0.0, *, age_gyr: float = 1.0) -> np.ndarray:
    """Absolute G of the single-star main sequence at an intrinsic BP−RP (NaN off the grid).

    The locus is the MIST main sequence (phase 'ms') at ``age_gyr`` (1 Gyr by default: K and M
    dwarfs do not evolve; G dwarfs of field age sit up to a few tenths of a magnitude above it),
    below the turn-off, with magnitudes as in :func:`isochrone`.
    """
    colour, mag = _ms_locus(round(float(feh), 4), round(float(age_gyr), 4))
    x = np.asarray(bp_rp_mag, dtype=float)
    return np.interp(x, colour, mag, left=np.nan, right=np.nan)


def _ms_corner_values(
    i_feh: int, i_age: int, mass: np.ndarray, *, allow_pre_ms: bool
) -> dict[str, np.ndarray]:
    node = _node(i_feh, i_age)
    keep = (node["phase"] == 0) | ((node["phase"] == -1) & allow_pre_ms)
    m = node["initial_mass"][keep]
    out = {}
    for key in ("star_mass", "Teff", "log_g", "log_L", "log_R"):
        y = node[key][keep]
        y = np.log10(y) if key == "Teff" else y
        out[key] = np.interp(mass, m, y, left=np.nan, right=np.nan)
    return out


def main_sequence_stars(
    mass_msun: np.ndarray, age_gyr: np.ndarray, feh: np.ndarray, *, allow_pre_ms: bool = True
) -> dict[str, np.ndarray]:
    """Properties of dwarfs of given initial mass, age and [Fe/H] on the MIST grid (vectorised).

    Interpolates, at each of the four neighbouring grid nodes, along the main sequence (and the
    pre-main sequence when ``allow_pre_ms``) in initial mass, then bilinearly in (log age, [Fe/H]).
    Returns arrays teff_k, logg, logl, radius_rsun, mass_msun (current) and the Gaia photometry of
    :func:`gaia_photometry`; NaN where the mass has left the main sequence at that age (or is
    outside the grid's 0.1 M☉ lower limit). Below 0.52 M☉, [Fe/H] is capped at +0.25 (the grid's
    +0.5 isochrones start at 0.5 M☉).
    """
    mass = np.atleast_1d(np.asarray(mass_msun, dtype=float))
    age = np.broadcast_to(np.asarray(age_gyr, dtype=float), mass.shape)
    met = np.broadcast_to(np.asarray(feh, dtype=float), mass.shape)
    grid_feh, grid_age, _, _ = _index()
    log_age = np.clip(np.log10(age * 1e9), grid_age[0], grid_age[-1])
    met = np.clip(met, grid_feh[0], grid_feh[-1])
    # The MIST v2.5 [Fe/H] = +0.5 isochrones start at 0.5 M☉: lower masses use [Fe/H] ≤ +0.25.
    met = np.where(mass < LOW_MASS_FEH_CAP[0], np.minimum(met, LOW_MASS_FEH_CAP[1]), met)
    acc = {k: np.zeros(mass.size) for k in ("star_mass", "Teff", "log_g", "log_L", "log_R")}
    f_hi = np.clip(np.searchsorted(grid_feh, met), 1, grid_feh.size - 1)
    a_hi = np.clip(np.searchsorted(grid_age, log_age), 1, grid_age.size - 1)
    f_w = np.clip((met - grid_feh[f_hi - 1]) / (grid_feh[f_hi] - grid_feh[f_hi - 1]), 0, 1)
    a_w = np.clip((log_age - grid_age[a_hi - 1]) / (grid_age[a_hi] - grid_age[a_hi - 1]), 0, 1)
    for df_, wf in ((-1, 1 - f_w), (0, f_w)):
        for da, wa in ((-1, 1 - a_w), (0, a_w)):
            w = wf * wa
            fi, ai = f_hi + df_, a_hi + da
            active = w > 1e-12
            keys = np.unique(np.stack([fi[active], ai[active]], axis=1), axis=0)
            for i_f, i_a in keys:
                sel = active & (fi == i_f) & (ai == i_a)
                vals = _ms_corner_values(int(i_f), int(i_a), mass[sel], allow_pre_ms=allow_pre_ms)
                for key in acc:
                    acc[key][sel] += w[sel] * vals[key]
    teff = 10 ** acc["Teff"]
    out = {
        "mass_msun": acc["star_mass"],
        "teff_k": teff,
        "logg": acc["log_g"],
        "logl": acc["log_L"],
        "radius_rsun": 10 ** acc["log_R"],
    }
    out.update(gaia_photometry(teff, acc["log_L"]))
    return out


def turnoff_mass(age_gyr: float, feh: float = 0.0) -> float:
    """Largest initial mass still on the main sequence (MIST phase 0) at the nearest grid node."""
    grid_feh, grid_age, _, _ = _index()
    i = int(np.argmin(np.abs(grid_feh - feh)))
    j = int(np.argmin(np.abs(grid_age - np.log10(age_gyr * 1e9))))
    node = _node(i, j)
    return float(node["initial_mass"][node["phase"] == 0].max())


def evolved_stars(
    age_gyr: np.ndarray,
    feh: np.ndarray,
    phases: tuple[str, ...],
    rng: np.random.Generator,
    *,
    imf_slope: float = 2.3,
) -> pd.DataFrame:
    """Draw one evolved star per (age, [Fe/H]) from the isochrone's ``phases`` (vectorised).

    Each star takes the isochrone of its grid node nearest in (log age, [Fe/H]) and picks a point
    with probability ∝ IMF(m) Δm along the isochrone (a Salpeter/Kroupa slope above 0.5 M☉), i.e.
    the number of stars per evolutionary stage that a constant-age population shows; the point is
    then placed uniformly between neighbouring EEPs. Stars whose isochrone has no point in
    ``phases`` get NaN rows (the caller redraws them).

    Returns a frame with the columns of :func:`isochrone`.
    """
    ages = np.asarray(age_gyr, dtype=float)
    mets = np.asarray(feh, dtype=float)
    grid_feh, grid_age, _, _ = _index()
    i_f = np.abs(grid_feh[None, :] - mets[:, None]).argmin(axis=1)
    i_a = np.abs(grid_age[None, :] - np.log10(ages * 1e9)[:, None]).argmin(axis=1)
    rows: dict[str, np.ndarray] = {
        k: np.full(ages.size, np.nan)
        for k in ("eep", "initial_mass", "mass_msun", "teff_k", "logg", "logl", "radius_rsun", "phase")
    }
    for i, j in np.unique(np.stack([i_f, i_a], axis=1), axis=0):
        sel = np.flatnonzero((i_f == i) & (i_a == j))
        node = _node(int(i), int(j))
        names = phase_names(node["phase"], node["log_g"])
        ok = np.isin(names, phases)
        if ok.sum() < 2:
            continue
        m = node["initial_mass"]
        dm = np.abs(np.gradient(m))
        weight = np.where(ok, m**-imf_slope * dm, 0.0)
        weight[-1] = 0.0  # interpolate forward from the chosen point
        if weight.sum() <= 0:
            continue
        pick = rng.choice(m.size, size=sel.size, p=weight / weight.sum())
        frac = rng.random(sel.size)
        nxt = np.minimum(pick + 1, m.size - 1)
        nxt = np.where(ok[nxt], nxt, pick)  # stay inside the phase

        def lerp(
            y: np.ndarray, pick: np.ndarray = pick, nxt: np.ndarray = nxt, frac: np.ndarray = frac
        ) -> np.ndarray:
            return y[pick] + frac * (y[nxt] - y[pick])

        rows["eep"][sel] = lerp(node["eep"])
        rows["initial_mass"][sel] = lerp(node["initial_mass"])
        rows["mass_msun"][sel] = lerp(node["star_mass"])
        rows["teff_k"][sel] = 10 ** lerp(np.log10(node["Teff"]))
        rows["logg"][sel] = lerp(node["log_g"])
        rows["logl"][sel] = lerp(node["log_L"])
        rows["radius_rsun"][sel] = 10 ** lerp(node["log_R"])
        rows["phase"][sel] = node["phase"][pick]
    frame = _frame(rows, np.nan_to_num(rows["phase"], nan=-99))
    frame.loc[np.isnan(rows["phase"]), "phase"] = pd.NA
    return frame
