"""The cached catalogue loader and the colour-by choices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.store import color_options, default_color, load_catalog
from data.errors import DataError


def test_catalogue_is_joined_with_truth_and_tidy(catalog: pd.DataFrame) -> None:
    assert len(catalog) == 600
    assert catalog["row"].dtype == np.int32
    assert catalog["gaia_source_id"].dtype == np.int64
    assert isinstance(catalog["true_population"].dtype, pd.CategoricalDtype)
    assert catalog["umap_x"].dtype == np.float32
    assert catalog["true_teff_k"].dtype == np.float32
    assert "true_row" not in catalog.columns


def test_catalogue_is_cached_per_path(survey_dir: Path) -> None:
    assert load_catalog(survey_dir) is load_catalog(survey_dir)


def test_missing_catalogue_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"catalog\.parquet"):
        load_catalog(tmp_path / "nowhere")


def test_colour_options(catalog: pd.DataFrame) -> None:
    options = color_options(catalog)
    values = list(options.values())
    assert values[0] == "density"
    assert "true_population" in values and "pred_teff_k" in values
    assert not any(v.endswith(("_lo", "_hi")) or v in ("row", "gaia_source_id") for v in values)
    assert default_color(catalog) == "true_population"
