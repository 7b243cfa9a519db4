"""Every quarantine reason, in one ingest of a damaged simulated survey.

Nothing crashes, nothing is zero-filled or silently dropped, every good star is kept and the
summary counts each problem.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from data import quality
from data.gaia import read_gaia_table, write_gaia_table
from data.ingest import ingest_survey
from data.quality import KeplerQuality
from data.storage import SurveyStore
from tests.dataio.conftest import N_SIMULATED as N


@pytest.fixture
def damaged(tmp_path: Path, simulated_raw: Path) -> tuple[SurveyStore, dict[str, int]]:
    """A copy of the simulated survey with one problem of each kind; returns the victims' KIC ids."""
    store = SurveyStore(tmp_path / "survey")
    shutil.copytree(simulated_raw, store.raw_dir)
    raw = store.raw_dir
    truth = pd.read_parquet(raw / "truth.parquet")
    star = {i: truth.iloc[i] for i in range(10)}

    def lc(i: int) -> Path:
        return raw / str(star[i]["kepler_files"]).split(";")[0]

    victims = {}
    # 0: truncated light curve → unreadable file.
    lc(0).write_bytes(lc(0).read_bytes()[:5000])
    victims[quality.REASON_UNREADABLE] = int(star[0]["kic_id"])
    # 1: light curve without PDCSAP_FLUX → missing column.
    with fits.open(lc(1)) as hdul:
        hdul[1].columns.del_col("PDCSAP_FLUX")
        table = fits.BinTableHDU.from_columns(hdul[1].columns, header=hdul[1].header, name="LIGHTCURVE")
        fits.HDUList([hdul[0].copy(), table, hdul[2].copy()]).writeto(lc(1), overwrite=True)
    victims[quality.REASON_MISSING_FIELD] = int(star[1]["kic_id"])
    # 2: cadences out of time order → bad values.
    with fits.open(lc(2), mode="update") as hdul:
        hdul[1].data["TIME"][:] = hdul[1].data["TIME"][::-1].copy()
    victims[quality.REASON_BAD_VALUES] = int(star[2]["kic_id"])
    # 3: SAFE_MODE on almost every cadence → too few valid samples.
    with fits.open(lc(3), mode="update") as hdul:
        hdul[1].data["SAP_QUALITY"][200:] = KeplerQuality.SAFE_MODE
    victims[quality.REASON_TOO_FEW_VALID] = int(star[3]["kic_id"])
    # 4: no light curve at all; 5: no spectrum.
    lc(4).unlink()
    victims[quality.REASON_NO_LIGHTCURVE] = int(star[4]["kic_id"])
    (raw / str(star[5]["lamost_file"])).unlink()
    victims[quality.REASON_NO_SPECTRUM] = int(star[5]["kic_id"])
    # 6: the same spectrum twice under two names → duplicate identifier (the first copy is kept).
    spec6 = raw / str(star[6]["lamost_file"])
    shutil.copy(spec6, spec6.with_name("spec-99999-KP999N_sp16-250.fits"))
    victims[quality.REASON_DUPLICATE] = int(star[6]["kic_id"])
    # 7: a light curve of a star the Gaia table does not list → unmatched file.
    stranger = raw / "kepler" / "kplr999999999-2009350155506_llc.fits"
    shutil.copy(lc(7), stranger)
    with fits.open(stranger, mode="update") as hdul:
        hdul[0].header["KEPLERID"] = 999999999
        hdul[0].header["OBJECT"] = "KIC 999999999"
    victims[quality.REASON_UNMATCHED_FILE] = 999999999
    # 8: an infinite G magnitude in the Gaia table → bad Gaia row.
    gaia_path = raw / "gaia_source.ecsv"
    gaia = read_gaia_table(gaia_path)
    gaia.loc[gaia["kic_id"] == int(star[8]["kic_id"]), "phot_g_mean_mag"] = np.inf
    write_gaia_table(gaia_path, gaia)
    victims[quality.REASON_BAD_GAIA] = int(star[8]["kic_id"])
    # 9: a target pixel file beside the light curves (same TELESCOP and KEPLERID, another
    # pipeline product): read by content, it is named as not ours, and its star is still kept.
    tpf = raw / "kepler" / "nested" / "kplr-like_lpd-targ.fits"
    tpf.parent.mkdir()
    shutil.copy(lc(9), tpf)
    with fits.open(tpf, mode="update") as hdul:
        hdul[0].header["CREATOR"] = ("17521 TargetPixelExporterPipelineModule", "pipeline")
    victims[quality.REASON_UNRECOGNISED] = int(star[9]["kic_id"])
    return store, victims


def test_every_quarantine_reason_is_recorded(damaged: tuple[SurveyStore, dict[str, int]]) -> None:
    store, victims = damaged
    assert set(victims) == set(quality.QUARANTINE_REASONS), "a new reason needs a case here"
    summary = ingest_survey(store.raw_dir, store, seed=0, progress=False, workers=1)
    q = store.read_quarantine()
    for reason, kic in victims.items():
        rows = q[q["reason"].str.startswith(reason)]
        assert len(rows) >= 1, f"no quarantine row for {reason!r}"
        if reason not in (quality.REASON_DUPLICATE, quality.REASON_UNRECOGNISED):
            # (a duplicate or an unrecognised file has no star of its own)
            assert str(kic) in set(rows["star_id"].astype(str)), (reason, rows)
        assert summary.reasons.get(reason, 0) == len(rows)
    assert set(q["stage"]) <= {"read", "preprocess", "match"}
    # Stars that lost a modality are out; the duplicate's and the stranger's neighbours are kept.
    harmless = (quality.REASON_DUPLICATE, quality.REASON_UNMATCHED_FILE, quality.REASON_UNRECOGNISED)
    lost = {victims[r] for r in victims if r not in harmless}
    kept = set(store.read_catalog()["kic_id"].astype(int))
    assert not (lost & kept)
    assert victims[quality.REASON_DUPLICATE] in kept
    assert victims[quality.REASON_UNRECOGNISED] in kept
    rows = q[q["reason"].str.startswith(quality.REASON_UNRECOGNISED)]
    assert rows["path"].tolist() == [str(store.raw_dir / "kepler" / "nested" / "kplr-like_lpd-targ.fits")]
    assert "TargetPixelExporter" in rows["reason"].iloc[0]
    assert summary.n_stars == N - len(lost) == len(kept)
    # Kept stars have real arrays: nothing zero-filled.
    lc = store.read_array("lc_channels")
    assert lc.shape[0] == len(kept) and np.isfinite(lc).all() and (np.abs(lc).sum(axis=(1, 2)) > 0).all()
