"""A seeded generator of corrupted (and good) Kepler, LAMOST and Gaia inputs for the fuzz tests.

``make_plan(seed, n_cases)`` draws a list of :class:`Case` (which star, which file, which
corruption) without touching the disk; ``write_batch(cases, raw_dir)`` writes one raw folder in
the archive layout (Kepler LLC FITS, LAMOST FITS, one Gaia ECSV table) in which every case is a
star: a good star has three good inputs, a corrupted star has exactly one corrupted input.

Each corruption has an expected outcome:

``quarantine``
    the star must not reach the catalogue and the quarantine must say why;
``either``
    the input may survive (a bit flip in a comment card or a flux value is harmless) but must
    then be either kept or quarantined, never crash the ingest or vanish;
``keep``
    harmless oddities (odd but valid file names, a few NaN/inf cadences) that must be kept.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table

from data.gaia import write_gaia_table
from data.kepler import LONG_CADENCE_D, kepler_filename, write_kepler_lightcurve
from data.lamost import lamost_filename, lamost_grid, write_lamost_spectrum

#: Cadences of a good light curve: 24.5 d, about 27 % of the 90-d model grid (20 % needed).
N_CADENCES = 1200

KEPLER_CORRUPTIONS: dict[str, str] = {
    "truncated": "quarantine",
    "bitflip": "either",
    "empty_file": "quarantine",
    "not_fits": "quarantine",
    "missing_lightcurve_hdu": "quarantine",
    "wrong_hdu_image": "quarantine",
    "missing_flux_column": "quarantine",
    "missing_time_column": "quarantine",
    "missing_keplerid": "quarantine",
    "empty_table": "quarantine",
    "all_nan_flux": "quarantine",
    "all_inf_flux": "quarantine",
    "all_nan_time": "quarantine",
    "all_flagged": "quarantine",
    "negative_errors": "quarantine",
    "unsorted_times": "quarantine",
    "duplicated_times": "quarantine",
    "oversized_header": "quarantine",
    "short_span": "quarantine",
    "some_nan_inf": "keep",
    "odd_name": "keep",
    "unstorable_name": "quarantine",
}
LAMOST_CORRUPTIONS: dict[str, str] = {
    "truncated": "quarantine",
    "bitflip": "either",
    "empty_file": "quarantine",
    "not_fits": "quarantine",
    "missing_table_hdu": "quarantine",
    "wrong_hdu_image": "quarantine",
    "missing_flux_column": "quarantine",
    "missing_obsid": "quarantine",
    "all_nan_flux": "quarantine",
    "all_inf_flux": "quarantine",
    "negative_ivar": "quarantine",
    "wavelength_nm": "quarantine",
    "wavelength_um": "quarantine",
    "wavelength_log10": "quarantine",
    "mismatched_lengths": "quarantine",
    "oversized_header": "quarantine",
    "image_too_few_rows": "quarantine",
    "some_nan_inf": "keep",
    "odd_name": "keep",
    "image_layout": "keep",
    "unstorable_name": "quarantine",
}
GAIA_CORRUPTIONS: dict[str, str] = {
    "nan_ra": "quarantine",
    "inf_parallax": "quarantine",
    "nan_g": "quarantine",
    "negative_parallax_error": "quarantine",
    "dec_out_of_range": "quarantine",
    "duplicated_source_id": "quarantine",
    "nan_parallax": "keep",  # Gaia two-parameter solutions have no parallax: a real, usable star
}

#: File names that are odd but valid; they must be read like any other.
ODD_NAME_PARTS = (" copy", "_ü_å", "-(1)", "_" + "x" * 150, "_$HOME", "_'quote\"", "_%20", "_*?[]")
#: Names the catalogue cannot record (its path lists are ';'-separated): quarantined.
BAD_NAME_PARTS = ("_;semicolon", "_new\nline", "_tab\t")


@dataclass(frozen=True)
class Case:
    """One star of the fuzz plan: which input is corrupted, how, and what must happen."""

    index: int
    kic_id: int
    obsid: int
    source_id: int
    target: str  # "good", "kepler", "lamost" or "gaia"
    corruption: str
    expect: str  # "keep", "quarantine" or "either"
    seed: int


def make_plan(seed: int, n_cases: int, *, good_fraction: float = 0.25) -> list[Case]:
    """Draw ``n_cases`` cases; about ``good_fraction`` are good, the rest cycle over corruptions."""
    rng = np.random.default_rng(seed)
    menu = (
        [("kepler", c, e) for c, e in KEPLER_CORRUPTIONS.items()]
        + [("lamost", c, e) for c, e in LAMOST_CORRUPTIONS.items()]
        + [("gaia", c, e) for c, e in GAIA_CORRUPTIONS.items()]
    )
    cases = []
    for i in range(n_cases):
        if rng.random() < good_fraction:
            target, corruption, expect = "good", "none", "keep"
        else:
            target, corruption, expect = menu[int(rng.integers(len(menu)))]
        cases.append(
            Case(
                index=i,
                kic_id=1_000_000 + i,
                obsid=700_000_000 + i,
                source_id=2**61 + 7919 * i,
                target=target,
                corruption=corruption,
                expect=expect,
                seed=int(rng.integers(2**32)),
            )
        )
    # Every corruption at least once, whatever the draw.
    drawn = {(c.target, c.corruption) for c in cases}
    missing = [m for m in menu if (m[0], m[1]) not in drawn]
    for j, (target, corruption, expect) in enumerate(missing):
        k = (j * 7 + 3) % len(cases)
        cases[k] = dataclasses.replace(cases[k], target=target, corruption=corruption, expect=expect)
    return cases


# --- good inputs --------------------------------------------------------------------------------
def _lightcurve(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = 130.0 + rng.uniform(0, 50) + LONG_CADENCE_D * np.arange(N_CADENCES)
    period = rng.uniform(1, 20)
    flux = 1e4 * (1 + 0.01 * np.sin(2 * np.pi * t / period)) + rng.normal(0, 5, N_CADENCES)
    return {
        "time_bkjd": t,
        "pdcsap_flux": flux,
        "pdcsap_flux_err": np.full(N_CADENCES, 5.0),
        "sap_flux": flux * 0.95,
        "sap_quality": np.zeros(N_CADENCES, np.int32),
    }


def _spectrum(rng: np.random.Generator) -> dict[str, np.ndarray]:
    wave = lamost_grid()
    flux = 100 + 0.01 * (wave - 6000) - 30 * np.exp(-0.5 * ((wave - 6564.6) / 3.0) ** 2)
    flux = flux + rng.normal(0, 0.5, wave.size)
    zeros = np.zeros(wave.size, np.int32)
    return {
        "wavelength_aa": wave,
        "flux": flux,
        "ivar": np.full(wave.size, 4.0),
        "andmask": zeros,
        "ormask": zeros,
    }


def _spec_header(case: Case) -> dict:
    return {"OBSID": case.obsid, "RA": 290.0, "DEC": 44.0, "MJD": 56000, "SNRG": 50.0, "HELIO_RV": 10.0}


KEPLER_ARRAY_CORRUPTIONS = frozenset(
    {"all_nan_flux", "all_inf_flux", "all_nan_time", "all_flagged", "negative_errors", "unsorted_times"}
    | {"duplicated_times", "short_span", "some_nan_inf"}
)
LAMOST_ARRAY_CORRUPTIONS = frozenset(
    {"all_nan_flux", "all_inf_flux", "negative_ivar", "wavelength_nm", "wavelength_um", "wavelength_log10"}
    | {"some_nan_inf", "image_layout", "image_too_few_rows"}
)
_N_TEMPLATES = 4
_PLACEHOLDER_ID = 999_999_999


@functools.cache
def _template(kind: str, variant: int) -> tuple[bytes, float]:
    """Bytes of a good file with a placeholder identifier (writing FITS is the slow part)."""
    rng = np.random.default_rng(10_000 + variant)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "template.fits"
        if kind == "kepler":
            lc = _lightcurve(rng)
            write_kepler_lightcurve(out, kic_id=_PLACEHOLDER_ID, quarter=2, **lc)
            return out.read_bytes(), float(lc["time_bkjd"][-1])
        header = {"OBSID": _PLACEHOLDER_ID, "RA": 290.0, "DEC": 44.0, "MJD": 56000, "SNRG": 50.0}
        write_lamost_spectrum(out, header={**header, "HELIO_RV": 10.0}, layout="table", **_spectrum(rng))
        return out.read_bytes(), 0.0


def _with_id(data: bytes, keyword: str, value: int) -> bytes:
    """Replace the integer value of header card ``keyword`` (columns 11-30, right-justified)."""
    key = f"{keyword:<8s}= ".encode()
    at = data.index(key)
    return data[: at + 10] + b"%20d" % value + data[at + 30 :]


# --- byte-level and HDU-level damage -----------------------------------------------------------
def _truncate(data: bytes, rng: np.random.Generator) -> bytes:
    # Keep at least the first header block sometimes, and never the whole file.
    return data[: int(rng.integers(1, len(data) - 2880))]


def _bitflip(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        pos = int(rng.integers(len(buf)))
        buf[pos] ^= 1 << int(rng.integers(8))
    return bytes(buf)


def _hdul_bytes(hdul: fits.HDUList) -> bytes:
    out = io.BytesIO()
    hdul.writeto(out, output_verify="silentfix")
    return out.getvalue()


def _edit(data: bytes, edit) -> bytes:
    with fits.open(io.BytesIO(data), memmap=False) as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
    return _hdul_bytes(edit(hdul))


def _drop_column(hdu_index: int, name: str):
    def edit(hdul: fits.HDUList) -> fits.HDUList:
        table = hdul[hdu_index]
        cols = [c for c in table.columns if c.name != name]
        hdul[hdu_index] = fits.BinTableHDU.from_columns(cols, header=table.header, name=table.name)
        return hdul

    return edit


def _oversize(data: bytes, hdu_index: int) -> bytes:
    """Claim ~10⁹ rows (or pixels) in the header without the data: what a broken copy looks like."""
    with fits.open(io.BytesIO(data), memmap=False) as hdul:
        offset = hdul[hdu_index].fileinfo()["hdrLoc"]
    head = data[offset : offset + 2880 * 4]
    key = b"NAXIS2  = " if hdu_index else b"NAXIS1  = "
    at = head.find(key)
    card = key + b"%20d" % 1_000_000_000 + b" " * 50
    return data[: offset + at] + card + data[offset + at + 80 :]


# --- writers -------------------------------------------------------------------------------------
def _kepler(case: Case, path_dir: Path, rng: np.random.Generator) -> Path:
    c = case.corruption if case.target == "kepler" else "none"
    if c in KEPLER_ARRAY_CORRUPTIONS:
        lc = _lightcurve(rng)
        stop = lc["time_bkjd"][-1]
    else:
        template, stop = _template("kepler", case.seed % _N_TEMPLATES)
    name = kepler_filename(case.kic_id, stop)
    if c in ("odd_name", "unstorable_name"):
        parts = ODD_NAME_PARTS if c == "odd_name" else BAD_NAME_PARTS
        name = name.replace("_llc.fits", f"{parts[int(rng.integers(len(parts)))]}_llc.fits")
    if c == "all_nan_flux":
        lc["pdcsap_flux"][:] = np.nan
    elif c == "all_inf_flux":
        lc["pdcsap_flux"][:] = np.where(rng.random(N_CADENCES) < 0.5, np.inf, -np.inf)
    elif c == "all_nan_time":
        lc["time_bkjd"][:] = np.nan
    elif c == "all_flagged":
        lc["sap_quality"][:] = 65536  # NO_DATA
    elif c == "negative_errors":
        lc["pdcsap_flux_err"] = -np.abs(lc["pdcsap_flux_err"])
    elif c == "unsorted_times":
        i, j = sorted(rng.choice(N_CADENCES, 2, replace=False))
        for key in ("time_bkjd", "pdcsap_flux", "pdcsap_flux_err", "sap_flux", "sap_quality"):
            lc[key][[i, j]] = lc[key][[j, i]]
    elif c == "duplicated_times":
        i = int(rng.integers(1, N_CADENCES))
        lc["time_bkjd"][i] = lc["time_bkjd"][i - 1]
    elif c == "short_span":
        lc["time_bkjd"] = lc["time_bkjd"][0] + (lc["time_bkjd"] - lc["time_bkjd"][0]) * 0.1
    elif c == "some_nan_inf":
        bad = rng.random(N_CADENCES) < 0.05
        lc["pdcsap_flux"][bad] = rng.choice([np.nan, np.inf, -np.inf], int(bad.sum()))
    path = path_dir / name
    if c in KEPLER_ARRAY_CORRUPTIONS:
        write_kepler_lightcurve(path, kic_id=case.kic_id, quarter=2, **lc)
    else:
        path.write_bytes(_with_id(template, "KEPLERID", case.kic_id))
    if c in ("truncated", "bitflip", "empty_file", "not_fits", "oversized_header") or c.startswith(
        ("missing_", "wrong_", "empty_")
    ):
        data = path.read_bytes()
        data = {
            "truncated": lambda: _truncate(data, rng),
            "bitflip": lambda: _bitflip(data, rng),
            "empty_file": lambda: b"",
            "not_fits": lambda: b"SIMPLE? no: this is a text file named like a light curve\n" * 40,
            "oversized_header": lambda: _oversize(data, 1),
            "missing_lightcurve_hdu": lambda: _edit(data, lambda h: fits.HDUList([h[0], h[2]])),
            "wrong_hdu_image": lambda: _edit(
                data, lambda h: fits.HDUList([h[0], fits.ImageHDU(np.zeros((4, 4)), name="LIGHTCURVE")])
            ),
            "missing_flux_column": lambda: _edit(data, _drop_column(1, "PDCSAP_FLUX")),
            "missing_time_column": lambda: _edit(data, _drop_column(1, "TIME")),
            "missing_keplerid": lambda: _edit(data, lambda h: (h[0].header.remove("KEPLERID"), h)[1]),
            "empty_table": lambda: _edit(
                data,
                lambda h: fits.HDUList([h[0], fits.BinTableHDU(data=h[1].data[:0], name="LIGHTCURVE")]),
            ),
        }[c]()
        path.write_bytes(data)
    return path


def _lamost(case: Case, path_dir: Path, rng: np.random.Generator) -> Path:
    c = case.corruption if case.target == "lamost" else "none"
    spec = _spectrum(rng) if c in LAMOST_ARRAY_CORRUPTIONS else None
    name = lamost_filename(56000, "KP001N", 1 + case.index // 250 % 16, case.index % 250 + 1)
    name = name.replace(".fits", f"-{case.index}.fits")
    layout = "image" if c in ("image_layout", "image_too_few_rows") else "table"
    if c in ("odd_name", "unstorable_name"):
        parts = ODD_NAME_PARTS if c == "odd_name" else BAD_NAME_PARTS
        name = name.replace(".fits", f"{parts[int(rng.integers(len(parts)))]}.fits")
    if c == "all_nan_flux":
        spec["flux"][:] = np.nan
    elif c == "all_inf_flux":
        spec["flux"][:] = np.inf
    elif c == "negative_ivar":
        spec["ivar"] = -spec["ivar"]
    elif c == "wavelength_nm":
        spec["wavelength_aa"] = spec["wavelength_aa"] / 10
    elif c == "wavelength_um":
        spec["wavelength_aa"] = spec["wavelength_aa"] / 1e4
    elif c == "wavelength_log10":
        spec["wavelength_aa"] = np.log10(spec["wavelength_aa"])
    elif c == "some_nan_inf":
        bad = rng.random(spec["flux"].size) < 0.05
        spec["flux"][bad] = rng.choice([np.nan, np.inf, -np.inf], int(bad.sum()))
    path = path_dir / name
    if spec is not None:
        write_lamost_spectrum(path, header=_spec_header(case), layout=layout, **spec)
    else:
        path.write_bytes(_with_id(_template("lamost", case.seed % _N_TEMPLATES)[0], "OBSID", case.obsid))
    if c in ("truncated", "bitflip", "empty_file", "not_fits", "oversized_header", "image_too_few_rows") or (
        c.startswith(("missing_", "wrong_", "mismatched"))
    ):
        data = path.read_bytes()

        def mismatched(h: fits.HDUList) -> fits.HDUList:
            cols = [
                fits.Column(
                    col.name,
                    f"{h[1].data[col.name].size - (100 if col.name == 'FLUX' else 0)}E",
                    array=h[1].data[col.name][:, : (-100 if col.name == "FLUX" else None)],
                )
                for col in h[1].columns
            ]
            return fits.HDUList([h[0], fits.BinTableHDU.from_columns(cols, name="COADD")])

        data = {
            "truncated": lambda: _truncate(data, rng),
            "bitflip": lambda: _bitflip(data, rng),
            "empty_file": lambda: b"",
            "not_fits": lambda: b"<html><body>404 spectrum not found</body></html>\n" * 60,
            "oversized_header": lambda: _oversize(data, 1),
            "missing_table_hdu": lambda: _edit(data, lambda h: fits.HDUList([h[0]])),
            "wrong_hdu_image": lambda: _edit(
                data, lambda h: fits.HDUList([h[0], fits.ImageHDU(np.zeros((5, 3909), np.float32))])
            ),
            "missing_flux_column": lambda: _edit(data, _drop_column(1, "FLUX")),
            "missing_obsid": lambda: _edit(data, lambda h: (h[0].header.remove("OBSID"), h)[1]),
            "mismatched_lengths": lambda: _edit(data, mismatched),
            "image_too_few_rows": lambda: _edit(
                data, lambda h: fits.HDUList([fits.PrimaryHDU(h[0].data[:3], header=h[0].header)])
            ),
        }[c]()
        path.write_bytes(data)
    return path


def _gaia_row(case: Case) -> dict:
    row = {
        "source_id": case.source_id,
        "ra": 285.0 + (case.index % 100) * 0.1,
        "dec": 40.0 + (case.index % 90) * 0.1,
        "parallax": 2.0,
        "parallax_error": 0.02,
        "phot_g_mean_mag": 13.0,
        "phot_bp_mean_mag": 13.4,
        "phot_rp_mean_mag": 12.6,
        "bp_rp": 0.8,
        "ruwe": 1.0,
        "radial_velocity_error": 1.0,
        "kic_id": case.kic_id,
        "lamost_obsid": case.obsid,
    }
    c = case.corruption if case.target == "gaia" else "none"
    if c == "nan_ra":
        row["ra"] = np.nan
    elif c == "inf_parallax":
        row["parallax"] = np.inf
    elif c == "nan_g":
        row["phot_g_mean_mag"] = np.nan
    elif c == "negative_parallax_error":
        row["parallax_error"] = -0.02
    elif c == "dec_out_of_range":
        row["dec"] = 123.0
    elif c == "nan_parallax":
        row["parallax"] = np.nan
        row["parallax_error"] = np.nan
    return row


@dataclass
class Batch:
    """What one raw folder holds: the cases and the file written for each corrupted input."""

    raw_dir: Path
    cases: list[Case]
    paths: dict[int, Path]  # case index -> the corrupted file (kepler/lamost cases only)
    expect: dict[int, str]  # case index -> "keep", "quarantine" or "either"


def write_batch(cases: list[Case], raw_dir: Path) -> Batch:
    """Write the files of ``cases`` into ``raw_dir`` (kepler/, lamost/, gaia_source.ecsv)."""
    (raw_dir / "kepler").mkdir(parents=True, exist_ok=True)
    (raw_dir / "lamost").mkdir(parents=True, exist_ok=True)
    paths: dict[int, Path] = {}
    expect = {case.index: case.expect for case in cases}
    rows = []
    for case in cases:
        rng = np.random.default_rng(case.seed)
        kpath = _kepler(case, raw_dir / "kepler", rng)
        spath = _lamost(case, raw_dir / "lamost", rng)
        if case.target == "kepler":
            paths[case.index] = kpath
        elif case.target == "lamost":
            paths[case.index] = spath
        rows.append(_gaia_row(case))
        if case.corruption == "duplicated_source_id":
            # A second Gaia row with the same source_id (the first one is kept, like a re-listed source).
            if len(rows) > 1:
                rows[-1]["source_id"] = rows[0]["source_id"]
            else:
                expect[case.index] = "keep"  # the first listing of a source is the one kept
    gaia = pd.DataFrame(rows)
    write_gaia_table(raw_dir / "gaia_source.ecsv", gaia)
    return Batch(raw_dir, cases, paths, expect)


# --- whole-table damage of the Gaia file ---------------------------------------------------------
GAIA_TABLE_CORRUPTIONS = ("truncated", "bitflip", "empty", "missing_column", "float_ids", "binary_junk")
GAIA_FORMATS = ("csv", "ecsv", "xml", "fits", "parquet")


def write_gaia_table_case(path_dir: Path, fmt: str, corruption: str, rng: np.random.Generator) -> Path:
    """A Gaia table in ``fmt`` damaged as a whole; the reader must raise DataError or read it."""
    n = 5
    df = pd.DataFrame(
        {
            "source_id": 2**61 + np.arange(n, dtype=np.int64),
            "ra": np.linspace(280, 290, n),
            "dec": np.linspace(40, 45, n),
            "parallax": np.full(n, 2.0),
            "phot_g_mean_mag": np.full(n, 13.0),
            "kic_id": 1000 + np.arange(n),
            "lamost_obsid": 2000 + np.arange(n),
        }
    )
    path = path_dir / f"gaia_{corruption}_{int(rng.integers(1e9))}.{fmt}"
    if corruption == "missing_column":
        # A required Gaia column (cross-match columns may be absent: stars with one modality).
        df = df.drop(columns=["parallax"])
    if corruption == "float_ids":
        # Identifiers that went through float64 (a spreadsheet round trip): digits are lost.
        df["source_id"] = df["source_id"].astype(np.float64)
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            Table.from_pandas(df).write(
                path, format={"xml": "votable", "fits": "fits"}.get(fmt, "ascii.ecsv"), overwrite=True
            )
    else:
        write_gaia_table(path, df)
    data = path.read_bytes()
    if corruption == "truncated":
        path.write_bytes(data[: int(rng.integers(1, max(2, len(data) - 1)))])
    elif corruption == "bitflip":
        path.write_bytes(_bitflip(data, rng))
    elif corruption == "empty":
        path.write_bytes(b"")
    elif corruption == "binary_junk":
        path.write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return path
