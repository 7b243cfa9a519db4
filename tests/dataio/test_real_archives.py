"""Real MAST light curves (tests/data) found by content, ingested as one-modality stars, embedded.

The files: KIC 10002792 (Kepler, quarters 2 and 5), EPIC 211117077 (K2, campaign 4) and
TIC 358108509 (TESS SPOC 2-min, sector 1), from the altaipony wheel (tests/data/README.md). No real
20-s TESS file ships in a package: one is written here in the SPOC layout with our FITS writer.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from data import fitswrite, quality, registry, schema
from data.gaia import write_gaia_table
from data.ingest import ingest_survey
from data.kepler import BJDREF_KEPLER, read_kepler_lightcurve
from data.storage import SurveyStore
from data.tess import read_tess_lightcurve

DATA = Path(__file__).resolve().parents[1] / "data"
KEPLER_Q2 = DATA / "kplr010002792-2009259160929_llc.fits"
KEPLER_Q5 = DATA / "kplr010002792-2010174085026_llc.fits.gz"
K2 = DATA / "ktwo211117077-c04_llc.fits"
TESS = DATA / "tess2018206045859-s0001-0000000358108509-0120-s_lc.fits.gz"
PRODUCTS = {
    KEPLER_Q2: "kepler_lightcurve",
    KEPLER_Q5: "kepler_lightcurve",
    K2: "k2_lightcurve",
    TESS: "tess_lightcurve",
}
KEYS = {(schema.KEPLER, 10002792), (schema.K2, 211117077), (schema.TESS, 358108509)}


def _fast_lc(source: Path, out: Path) -> Path:
    """A TESS 20-s light curve in the SPOC layout (our writer), from a real 2-min file's content."""
    with fits.open(source) as hdul:
        primary, table, aperture = hdul[0].header, hdul[1], hdul[2].data
        skip = ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "COMMENT", "HISTORY", "", "CHECKSUM", "DATASUM")
        cards = [
            (k, v, primary.comments[k])
            for k, v in primary.items()
            if k not in skip and isinstance(v, str | int | float) and v == v  # no blank or NaN value
        ]
        names = table.columns.names
        step = 20.0 / 86400.0
        time = np.asarray(table.data["TIME"], np.float64)
        t0 = np.nanmin(time)
        fine = t0 + step * np.arange(3 * len(time))  # three 20-s cadences per 2-min cadence
        columns = []
        for col in table.columns:
            values = np.repeat(np.asarray(table.data[col.name]), 3)
            if col.name == "TIME":
                values = fine
            columns.append((col.name, col.format, col.unit or "", values))
        tcards = [
            (k, v, "") for k, v in table.header.items() if k.startswith(("BJDREF", "TIMEUNIT", "TIMESYS"))
        ]
        tcards.append(("TIMEDEL", step, "[d] time elapsed between cadences"))
    assert names[9] == "QUALITY"
    fitswrite.write_fits(
        out,
        [
            fitswrite.primary_hdu(cards),
            fitswrite.bintable_hdu(columns, "LIGHTCURVE", tcards),
            fitswrite.image_hdu(np.asarray(aperture, np.int32), "APERTURE"),
        ],
    )
    return out


def test_every_real_file_is_identified_by_content_whatever_its_name(tmp_path: Path) -> None:
    for i, (path, product) in enumerate(PRODUCTS.items()):
        renamed = tmp_path / f"download_{i}"  # no name pattern, no suffix
        shutil.copy(path, renamed)
        assert registry.identify(renamed) == product, path.name
    k2 = read_kepler_lightcurve(K2)
    assert k2.key == (schema.K2, 211117077) and k2.quarter == 4 and k2.valid.sum() > 3000
    tess = read_tess_lightcurve(TESS)
    assert tess.key == (schema.TESS, 358108509) and tess.quarter == 1
    # TESS counts time from BJD 2457000 (BTJD); every record is in BKJD (BJD − 2454833).
    with fits.open(TESS) as hdul:
        btjd = hdul[1].data["TIME"]
        first = float(btjd[np.isfinite(btjd)][0])
    assert tess.time_bkjd[0] == pytest.approx(first + 2457000.0 - BJDREF_KEPLER, abs=1e-6)
    assert np.median(np.diff(tess.time_bkjd)) == pytest.approx(2.0 / 1440.0, rel=1e-3)


def test_tess_20_second_light_curve_in_the_spoc_layout(tmp_path: Path) -> None:
    plain = tmp_path / "tess_2min.fits"
    plain.write_bytes(gzip.decompress(TESS.read_bytes()))
    fast = _fast_lc(plain, tmp_path / "tess2018206045859-s0001-0000000358108509-0120-a_fast-lc.fits")
    assert registry.identify(fast) == "tess_lightcurve"
    rec = registry.read(fast)
    assert rec.key == (schema.TESS, 358108509)
    assert np.median(np.diff(rec.time_bkjd)) == pytest.approx(20.0 / 86400.0, rel=1e-3)


def test_other_products_with_the_same_telescope_are_told_apart(tmp_path: Path) -> None:
    with fits.open(KEPLER_Q2) as hdul:
        primary = hdul[0].header
    keep = ("TELESCOP", "MISSION", "OBJECT", "KEPLERID", "CREATOR")
    cards = [(k, primary[k], "") for k in keep]
    # A KEPSEISMIC series (a repackaged 4-year light curve): the same TELESCOP, KEPLERID and
    # CREATOR, but a PRIMARY (N, 2) image and another ORIGIN: its own reader (data/kepseismic.py).
    series = tmp_path / "010002792.fits"
    time = np.arange(2000) * 0.0204336
    image = np.stack([time, 500 * np.sin(2 * np.pi * time / 1.15)], axis=1).astype(">f8")
    flags = np.where(np.arange(2000) % 10 == 0, 2, 1).astype(">i2")
    fitswrite.write_fits(
        series,
        [
            fitswrite.primary_hdu([*cards, ("ORIGIN", "CEA & SSI", "")], image=image),
            fitswrite.image_hdu(flags, "FLAGS"),
        ],
    )
    assert registry.identify(series) == "kepseismic_lightcurve"
    rec = registry.read(series)
    assert rec.key == (schema.KEPLER, 10002792) and rec.valid.sum() == 1800
    np.testing.assert_allclose(rec.flux, 1 + 1e-6 * image[:, 1])
    # A target pixel file: the target-pixel exporter made it; not a product we read.
    tpf = tmp_path / "kplr010002792-2009259160929_lpd-targ.fits"
    shutil.copy(KEPLER_Q2, tpf)
    with fits.open(tpf, mode="update") as hdul:
        hdul[0].header["CREATOR"] = ("17521 TargetPixelExporterPipelineModule", "pipeline")
    with pytest.raises(Exception, match="not recognised"):
        registry.identify(tpf)
    scanned = registry.scan_file(tpf)
    assert scanned.product is None and scanned.problem[1].startswith("not a product we read")
    # Not FITS at all, and not named so: not ours, left alone.
    notes = tmp_path / "README.txt"
    notes.write_text("MAST download notes\n")
    assert registry.scan_file(notes) is None


def test_real_kepseismic_series_when_star_privateer_is_installed() -> None:
    import importlib.util

    spec = importlib.util.find_spec("star_privateer")
    if spec is None:
        pytest.skip("star-privateer (optional extra 'report') is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "timeseries" / "003733735.fits"
    assert registry.identify(path) == "kepseismic_lightcurve"
    rec = registry.read(path)
    assert rec.key == (schema.KEPLER, 3733735) and rec.time_bkjd.size == 71964
    assert 0.8 < rec.valid.mean() < 0.95 and abs(np.median(rec.flux[rec.valid]) - 1) < 1e-3


def _mast_download(root: Path) -> Path:
    """The real files in a MAST-like nested download, some renamed without any pattern."""
    kepler = root / "mastDownload" / "Kepler" / "kplr010002792_lc_Q000001000000000000"
    k2 = root / "mastDownload" / "K2" / "ktwo211117077-c04_lc" / "extra" / "deeper"
    tess = root / "mastDownload" / "TESS" / "tess2018206045859-s0001-0000000358108509-0120-s"
    for folder in (kepler, k2, tess):
        folder.mkdir(parents=True)
    shutil.copy(KEPLER_Q2, kepler / KEPLER_Q2.name)
    shutil.copy(KEPLER_Q5, kepler / "second quarter (copy).dat")  # gzip content, odd name
    shutil.copy(K2, k2 / "lightcurve_1")
    shutil.copy(TESS, tess / TESS.name)
    (root / "mastDownload" / "README.txt").write_text("notes\n")
    (root / "mastDownload" / "MANIFEST.html").write_text("<html></html>\n")
    return root


def test_ingest_finds_real_files_in_a_nested_folder_by_content(tmp_path: Path) -> None:
    raw = _mast_download(tmp_path / "raw")
    store = SurveyStore(tmp_path / "survey")
    summary = ingest_survey(raw, store, progress=False, workers=1)  # no Gaia table at all
    assert summary.n_stars == 3 and summary.n_quarantined == 0
    assert summary.n_lightcurve_only == 3 and summary.n_spectrum_only == 0
    cat = store.read_catalog()
    assert set(zip(cat[schema.MISSION], cat[schema.TARGET_ID].astype(int), strict=True)) == KEYS
    assert cat[schema.HAS_LIGHTCURVE].all() and not cat[schema.HAS_SPECTRUM].any()
    kepler = cat[cat[schema.MISSION] == schema.KEPLER].iloc[0]
    assert kepler["kic_id"] == 10002792 and len(kepler["kepler_path"].split(";")) == 2
    assert kepler["lc_span_d"] > 200  # quarters 2 and 5 grouped by their header's KEPLERID
    assert (cat.loc[cat[schema.MISSION] != schema.KEPLER, "kic_id"] == schema.NO_ID).all()
    assert kepler["ra_deg"] == pytest.approx(287.86721) and kepler["dec_deg"] == pytest.approx(46.98308)
    assert (cat["gaia_source_id"] == schema.NO_ID).all() and cat["phot_g_mean_mag"].isna().all()
    lc_mask, spec_mask = store.read_array("lc_mask"), store.read_array("spec_mask")
    assert lc_mask.any(axis=1).all() and not spec_mask.any()
    assert np.isfinite(store.read_array("lc_channels")).all()


def _gaia_without_lamost(path: Path, extra_kic: int | None = None) -> Path:
    rows = {
        "source_id": np.array([2130000000000000001, 2130000000000000002, 2130000000000000003], np.int64),
        "ra": [287.86721, 55.967295, 51.1119],
        "dec": [46.98308, 24.841616, -51.0],
        "parallax": [1.1, 2.0, 3.0],
        "parallax_error": [0.02, 0.03, 0.02],
        "phot_g_mean_mag": [12.9, 13.6, 14.1],
        "bp_rp": [1.1, 1.2, 1.6],
        "kic_id": pd.array([10002792, None, None], dtype="Int64"),
        "epic_id": pd.array([None, 211117077, None], dtype="Int64"),
        "tic_id": pd.array([None, None, 358108509], dtype="Int64"),
    }
    df = pd.DataFrame(rows)
    if extra_kic is not None:  # a star the table names but whose light curve is not in the folder
        extra = df.iloc[[0]].assign(
            source_id=2130000000000000009, kic_id=pd.array([extra_kic], dtype="Int64")
        )
        df = pd.concat([df, extra], ignore_index=True)
    return write_gaia_table(path, df)


def test_light_curves_without_spectra_ingest_and_embed(tmp_path: Path) -> None:
    """Acceptance: a Gaia table without lamost_obsid and light curves only, embedded by the demo model."""
    from training.embed import embed_survey
    from training.shipped import check_weights

    raw = _mast_download(tmp_path / "raw")
    _gaia_without_lamost(raw / "gaia_source.ecsv", extra_kic=757450)
    store = SurveyStore(tmp_path / "survey")
    summary = ingest_survey(raw, store, progress=False, workers=1)
    assert summary.n_stars == 3 and summary.n_lightcurve_only == 3
    q = store.read_quarantine()
    assert q["reason"].tolist() == [quality.REASON_NO_LIGHTCURVE] and q["star_id"].tolist() == ["757450"]
    cat = store.read_catalog()
    assert cat["gaia_source_id"].tolist() == [2130000000000000001, 2130000000000000002, 2130000000000000003]
    assert (cat["lamost_obsid"] == schema.NO_ID).all() and (cat["lamost_path"] == "").all()
    assert cat["abs_g_mag"].notna().all()
    weights = check_weights("demo", grids=store.read_manifest().get("grids"))
    embedded = embed_survey(store, weights.path, progress=False)
    assert embedded.n_stars == 3
    assert 0 < embedded.model_seconds < embedded.seconds  # the model's share of the call
    cat = store.read_catalog()
    assert (cat["missing_modality"].astype(str) == "spectrum").all()
    assert np.isfinite(store.read_array("embedding")).all()
    assert cat["pred_prot_d"].notna().all() and (cat["pred_prot_d"] > 0).all()
