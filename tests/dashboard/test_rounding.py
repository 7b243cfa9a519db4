"""Numbers shown to their precision: two significant digits of the uncertainty, else the column's decimals."""

from __future__ import annotations

import pandas as pd

from dashboard.rounding import column_decimals, interval_decimals, uncertainty_decimals
from dashboard.views.star_card import gaia_table, predictions_table


def test_decimals_follow_the_uncertainty() -> None:
    assert uncertainty_decimals(134.27) == 0
    assert uncertainty_decimals(0.034) == 3
    assert uncertainty_decimals(0.0) is None and uncertainty_decimals(float("nan")) is None
    assert interval_decimals(5781.2, 5650.0, 5918.6, "pred_teff_k") == 0
    assert interval_decimals(4.43, None, None, "pred_logg") == 2


def test_column_decimals_by_kind() -> None:
    assert column_decimals("pred_teff_k") == 0
    assert column_decimals("bp_rp_mag") == 3
    assert column_decimals("pred_feh_lo") == 2
    assert column_decimals("binary_prob") == 3


def test_the_star_card_rounds_to_the_interval() -> None:
    star = pd.Series(
        {"pred_teff_k": 5781.2345, "pred_teff_k_lo": 5650.11, "pred_teff_k_hi": 5918.62}
        | {"parallax_mas": 1.234567, "parallax_error_mas": 0.0213, "bp_rp_mag": 0.81234567}
    )
    text = predictions_table(star)
    assert "| 5781 | [5650, 5919] |" in text, text
    gaia = gaia_table(star)
    assert "1.235 ± 0.021" in gaia and "0.812 |" in gaia, gaia
