"""A selection opened elsewhere: ADQL and TOPCAT text that select the same rows, an Embedding Atlas file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dashboard.elsewhere import TranslationError, atlas_frame, to_adql, to_topcat, translations
from dashboard.similar import similar_for_survey
from dashboard.state import DashboardState
from dashboard.views.export_view import ExportView
from data import query as ex
from data.query import expression_mask

EXPRESSIONS = (
    "binary_prob > 0.5 and not pred_teff_k <= 5200.5",
    "true_population in ['young', 'it\\'s'] or box(umap_x, umap_y, -2.0, 3.0, 4.0, -1.5)",
    "true_population != 'giant' and (pred_feh < 0 or pred_logg >= 4.4)",
)


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_adql_selects_the_same_rows_in_sql(catalog: pd.DataFrame, text: str) -> None:
    # ADQL's WHERE is SQL here (no geometry): SQLite runs it on the same table.
    columns = [
        "row",
        "binary_prob",
        "pred_teff_k",
        "true_population",
        "umap_x",
        "umap_y",
        "pred_feh",
        "pred_logg",
    ]
    table = catalog[columns].astype({"true_population": str})
    with sqlite3.connect(":memory:") as db:
        table.to_sql("stars", db, index=False)
        where = to_adql(ex.parse(text))
        rows = [r for (r,) in db.execute(f"SELECT row FROM stars WHERE {where} ORDER BY row")]
    expected = np.flatnonzero(expression_mask(text, catalog))
    assert rows == expected.tolist(), where


def test_topcat_text_and_quoting() -> None:
    node = ex.parse("true_population == 'a\"b' and binary_prob >= 0.25 and split not in ['test']")
    assert to_topcat(node) == (
        '(equals(true_population, "a\\"b")) && (binary_prob >= 0.25) && (!(equals(split, "test")))'
    )
    assert to_adql(ex.parse("true_population == 'it\\'s'")) == "true_population = 'it''s'"


def test_lasso_and_similar_are_not_translated() -> None:
    with pytest.raises(TranslationError, match="lasso"):
        to_adql(ex.parse("lasso(umap_x, umap_y, [(0, 0), (1, 0), (0, 1)])"))
    with pytest.raises(TranslationError, match="similar"):
        to_topcat(ex.parse("similar(3, 10)"))
    out = translations("binary_prob > 0.5 and similar(3, 10)")
    assert out["ADQL"].startswith("(not expressible") and out["TOPCAT"].startswith("(not expressible")
    assert translations("") == {}


def test_atlas_neighbours_are_file_rows_nearest_first() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 5)).astype(np.float32)
    frame = pd.DataFrame(
        {"row": np.arange(100, 140), "umap_x": rng.normal(size=40), "umap_y": rng.normal(size=40)}
    )
    out = atlas_frame(frame, vectors, k=5)
    scaled = (vectors - vectors.mean(0)) / vectors.std(0)
    for i in (0, 17, 39):
        entry = out["neighbors"].iloc[i]
        distance = np.linalg.norm(scaled - scaled[i], axis=1)
        distance[i] = np.inf
        assert entry["ids"] == np.argsort(distance)[:5].tolist()
        np.testing.assert_allclose(entry["distances"], np.sort(distance)[:5], rtol=1e-4)


def test_export_view_writes_an_atlas_parquet(survey_dir: Path, catalog: pd.DataFrame) -> None:
    state = DashboardState(catalog=catalog, similar=similar_for_survey(survey_dir, len(catalog)))
    view = ExportView(state=state, survey_dir=survey_dir)
    state.apply_expression("binary_prob > 0.5")
    assert "binary_prob > 0.5" in view._elsewhere.value and "ADQL" in view._elsewhere.value
    path = view.write_atlas()
    table = pq.read_table(path)
    assert {"umap_x", "umap_y", "neighbors"} <= set(table.column_names)
    assert table.num_rows == state.n_selected
    first = table.column("neighbors")[0].as_py()
    assert len(first["ids"]) == 15 and max(first["ids"]) < table.num_rows
    meta = json.loads(table.schema.metadata[b"desa_provenance"])
    assert meta["selection"] == "binary_prob > 0.5" and "checkpoint_sha256" in meta
