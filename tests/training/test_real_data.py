"""The real-data check's own pieces (the whole check runs in benchmarks/real_data_check.py)."""

from __future__ import annotations

import numpy as np
import pytest

from data import schema
from training import real_data


def test_lomb_scargle_period_of_the_model_grid_finds_a_rotation() -> None:
    time = (np.arange(schema.LC_LENGTH) + 0.5) * schema.LC_SPAN_D / schema.LC_LENGTH
    flux = np.sin(2 * np.pi * time / 7.3) + np.random.default_rng(0).normal(0, 0.3, time.size)
    mask = np.ones(time.size, bool)
    mask[300:500] = False  # a gap, as between quarters
    assert real_data.lomb_scargle_period(time, flux, mask) == pytest.approx(7.3, rel=0.03)
    assert np.isnan(real_data.lomb_scargle_period(time, flux, np.zeros(time.size, bool)))


def test_the_check_collects_the_vendored_real_files(tmp_path) -> None:
    copies = real_data.collect(tmp_path)
    names = {p.name for p in copies}
    assert {
        "kplr010002792-2009259160929_llc.fits",
        "ktwo211117077-c04_llc.fits",
        "tess2018206045859-s0001-0000000358108509-0120-s_lc.fits.gz",
    } <= names
    assert all(p.is_file() and tmp_path in p.parents for p in copies)


def test_render_marks_missing_figures() -> None:
    row = {
        "star": "TESS 358108509",
        "files": 1,
        "lc_span_d": 27.9,
        "lc_used_d": 27.9,
        "prot_santos_d": None,
        "prot_lomb_scargle_d": 0.43,
        "pred_prot_d": 3.65,
        "pred_prot_lo_d": 2.12,
        "pred_prot_hi_d": 6.29,
        "pred_teff_k": 4786.0,
        "teff_header_k": None,
    }
    text = real_data.render({"stars": [row]})
    assert "| TESS 358108509 | 1 | 28 | 28 | – | 0.43 | 3.65 [2.12, 6.29] | 4786 | – |" in text
