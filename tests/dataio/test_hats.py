"""`desa embed --format hats`: a HATS catalogue of the embedded survey that LSDB opens and cross-matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.fixtures import write_synthetic_survey
from data import schema
from data.storage import SurveyStore

lsdb = pytest.importorskip(
    "lsdb",
    reason="lsdb is not installed (optional: pip install 'desa-explorer[hats]'; `make test` installs it)",
)


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> SurveyStore:
    """An embedded survey (catalogue with predictions and layout, truth, embedding) of 300 stars."""
    return write_synthetic_survey(tmp_path_factory.mktemp("hats") / "demo", n=300, seed=2)


def test_lsdb_reads_the_written_catalogue_with_the_store_rows_and_columns(
    survey: SurveyStore, tmp_path: Path
) -> None:
    from data.hats import write_hats

    out = write_hats(survey, tmp_path / "hats" / "demo", highest_order=5, partition_rows=100)
    catalogue = lsdb.read_hats(out)
    frame = catalogue.compute().sort_values("row").reset_index(drop=True)
    store = survey.read_catalog()
    expected = [c for c in store.columns if not c.endswith("_path")] + [schema.EMBEDDING.name]
    assert len(frame) == len(store) == 300
    assert [c for c in frame.columns if c in expected] == expected
    assert catalogue.hc_structure.catalog_info.ra_column == "ra_deg"
    assert catalogue.get_healpix_pixels() and len(catalogue.get_healpix_pixels()) > 1  # partitioned
    for name in ("ra_deg", "dec_deg", "pred_teff_k", "pred_teff_k_lo", "umap_x", "binary_prob"):
        np.testing.assert_array_equal(
            frame[name].to_numpy(dtype=np.float64), store[name].to_numpy(np.float64)
        )
    assert (frame["gaia_source_id"].to_numpy(dtype=np.int64) == store["gaia_source_id"].to_numpy()).all()
    vectors = np.stack(frame[schema.EMBEDDING.name].to_numpy())
    np.testing.assert_array_equal(vectors, survey.read_array(schema.EMBEDDING.name))
    assert catalogue.margin is not None  # the margin cache a cross-match near an edge needs
    properties = (out / "demo" / "hats.properties").read_text()
    assert "hats_creator=desa embed --format hats" in properties
    assert f"desa_store_generation={survey.generation}" in properties


def test_it_cross_matches_with_a_gaia_like_hats_catalogue(survey: SurveyStore, tmp_path: Path) -> None:
    """The docs/hats.md example: every embedded star finds its own Gaia source within 1 arcsec."""
    from data.hats import write_hats

    ours = lsdb.read_hats(write_hats(survey, tmp_path / "demo"))
    table = survey.read_catalog(columns=["gaia_source_id", "ra_deg", "dec_deg", "phot_g_mean_mag"])
    gaia = lsdb.from_dataframe(table.rename(columns={"ra_deg": "ra", "dec_deg": "dec"}))
    gaia.write_catalog(tmp_path / "gaia_like", catalog_name="gaia_like", progress_bar=False)
    gaia = lsdb.read_hats(tmp_path / "gaia_like")
    matched = ours.crossmatch(
        gaia, radius_arcsec=1.0, n_neighbors=1, suffixes=("", "_gaia"), suffix_method="overlapping_columns"
    ).compute()
    assert len(matched) == 300
    assert (matched["gaia_source_id"] == matched["gaia_source_id_gaia"]).all()
    assert float(matched["_dist_arcsec"].max()) < 1e-3


def test_the_command_writes_it_and_replaces_an_old_one(
    survey: SurveyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`desa embed --format hats` on an embedded store (the embedding step itself is not re-run)."""
    import training.embed
    from training.cli import main
    from training.embed import EmbedSummary

    def embedded(store: SurveyStore, checkpoint: Path, **_: object) -> EmbedSummary:
        return EmbedSummary(len(store.read_catalog(columns=["row"])), 8, {"mode": "fit"}, "", 0.0)

    monkeypatch.setattr(training.embed, "embed_survey", embedded)
    out = tmp_path / "cat"
    (out / "stale").mkdir(parents=True)
    args = ["embed", "--survey-dir", str(survey.root), "--checkpoint", "x.pt", "--quiet"]
    assert main([*args, "--format", "hats", "--hats-out", str(out)]) == 0
    assert "HATS catalogue of 300 stars" in capsys.readouterr().out
    assert not (out / "stale").exists() and len(lsdb.read_hats(out).compute()) == 300
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folders
    default = survey.root / "hats" / survey.root.name
    assert not default.exists() and main(args) == 0 and not default.exists()  # --format store: none
    assert isinstance(pd.read_parquet(survey.catalog_path, columns=["row"]), pd.DataFrame)
