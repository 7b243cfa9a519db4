"""Fuzzing: seeded corrupted archive files and hostile texts through the real readers and parsers.

1,000+ corrupted Kepler, LAMOST and Gaia inputs go through the readers and ingest; 10,000+ hostile
texts through the URL-state and selection-expression parsers.

Every case is one star. A good star must reach the catalogue with finite arrays; a star with a
corrupted input must be quarantined with a reason (the corrupted file named where it was read);
bit flips may survive but must then be kept or quarantined, never crash or vanish. Damaged Gaia
tables must raise ``DataError`` (the whole ingest needs the table) or read with int64 identifiers.

A hostile text (tests/hardening/hostile.py) given to the expression parser and evaluator must
select rows or raise ``ExpressionError``, nothing else; given as a shared link's parameters it
must never raise at all (``restore`` reports problems instead). No text may cost more than linear
work in its length: the cost is counted in Python and C function calls (deterministic, unlike a
clock on a shared machine; wall-clock cost is measured in ``benchmarks/``).
"""

from __future__ import annotations

import sys
import urllib.parse
import warnings
from collections import Counter
from pathlib import Path

import corrupt  # tests/hardening is on sys.path (pytest rootdir-less test folders)
import hostile
import numpy as np
import pandas as pd
import pytest

from dashboard.state import DashboardState
from dashboard.urlstate import query_from_state, restore, search_with
from data import quality
from data.errors import DataError
from data.gaia import is_gaia_table, read_gaia_table
from data.ingest import ingest_survey
from data.query import ExpressionError, expression_mask
from data.storage import SurveyStore

SEED = 20261125
N_CASES = 1000
BATCH = 125


@pytest.fixture(scope="module")
def fuzz_results(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[corrupt.Batch, SurveyStore, object]]:
    plan = corrupt.make_plan(SEED, N_CASES)
    out = []
    for start in range(0, N_CASES, BATCH):
        root = tmp_path_factory.mktemp(f"fuzz{start}")
        batch = corrupt.write_batch(plan[start : start + BATCH], root / "raw")
        store = SurveyStore(root / "survey")
        with warnings.catch_warnings():
            # Readers log (not warn) about masked cadences; anything else warning is a failure.
            warnings.simplefilter("error")
            summary = ingest_survey(batch.raw_dir, store, seed=0, progress=False, workers=1)
        out.append((batch, store, summary))
    return out


def test_plan_covers_every_corruption() -> None:
    plan = corrupt.make_plan(SEED, N_CASES)
    assert len(plan) >= 1000
    drawn = Counter((c.target, c.corruption) for c in plan)
    menu = (
        [("kepler", c) for c in corrupt.KEPLER_CORRUPTIONS]
        + [("lamost", c) for c in corrupt.LAMOST_CORRUPTIONS]
        + [("gaia", c) for c in corrupt.GAIA_CORRUPTIONS]
    )
    assert set(menu) <= set(drawn)
    assert drawn[("good", "none")] > 150
    # Same seed, same plan: failures can be replayed.
    assert corrupt.make_plan(SEED, N_CASES) == plan


def test_every_star_is_kept_or_quarantined_with_a_reason(fuzz_results) -> None:
    totals = Counter()
    for batch, store, summary in fuzz_results:
        catalog = store.read_catalog()
        quarantine = store.read_quarantine()
        assert summary.n_stars == len(catalog)
        assert summary.n_quarantined == len(quarantine)
        # Every quarantine row says why, with one of the documented categories first.
        assert quarantine["reason"].str.len().gt(0).all()
        categories = quarantine["reason"].str.split(":").str[0].str.split(" \\(").str[0]
        assert set(categories) <= set(quality.QUARANTINE_REASONS), set(categories)
        kept = set(catalog["kic_id"].astype(int))
        quarantined_stars = set(quarantine["star_id"].astype(str))
        quarantined_paths = set(quarantine["path"].astype(str))
        for case in batch.cases:
            expect = batch.expect[case.index]
            is_kept = case.kic_id in kept
            totals[(expect, is_kept)] += 1
            label = f"case {case.index} {case.target}/{case.corruption}"
            if expect == "keep":
                assert is_kept, f"{label}: good star lost; quarantine says " + str(
                    quarantine.loc[quarantine["star_id"] == str(case.kic_id), "reason"].tolist()
                )
            elif expect == "quarantine":
                assert not is_kept, f"{label}: corrupted input reached the catalogue"
            if not is_kept:
                assert str(case.kic_id) in quarantined_stars, f"{label}: star dropped without a reason"
            path = batch.paths.get(case.index)
            if expect == "quarantine" and path is not None and "\n" not in path.name:
                assert str(path) in quarantined_paths, f"{label}: the bad file {path.name!r} is not named"
    # Counts: every good star kept, every bad one out; bit flips split between the two.
    assert totals[("keep", False)] == 0 and totals[("quarantine", True)] == 0
    assert totals[("keep", True)] > 200 and totals[("quarantine", False)] > 600
    assert sum(totals.values()) == N_CASES


def test_kept_stars_have_finite_model_inputs(fuzz_results) -> None:
    for _, store, _ in fuzz_results:
        n = len(store.read_catalog())
        for name in ("lc_channels", "spec_flux"):
            array = store.read_array(name)
            assert array.shape[0] == n and np.isfinite(array).all(), name
        assert store.read_array("lc_mask").mean(axis=1).min() >= 0.2
        assert store.read_array("spec_mask").mean(axis=1).min() >= 0.5


def test_kept_paths_point_at_the_files_read(fuzz_results) -> None:
    for _, store, _ in fuzz_results:
        catalog = store.read_catalog()
        for column in ("kepler_path", "lamost_path"):
            for value in catalog[column]:
                for rel in value.split(";"):
                    assert (store.root / rel).resolve().is_file(), rel


#: What ``is_gaia_table`` (a header check) must say of a damage that is not random: nothing
#: left, random bytes -> no; a missing cross-match column or float identifiers -> still a table
#: with ``source_id`` (the reader then refuses it with a DataError).
GAIA_DETECTED = {"empty": False, "binary_junk": False, "missing_column": True, "float_ids": True}


def test_damaged_gaia_tables_raise_data_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    outcomes = Counter()
    for fmt in corrupt.GAIA_FORMATS:
        for damage in corrupt.GAIA_TABLE_CORRUPTIONS:
            for _ in range(5):
                path = corrupt.write_gaia_table_case(tmp_path, fmt, damage, rng)
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    detected = is_gaia_table(path)
                    assert detected is GAIA_DETECTED.get(damage, detected), (fmt, damage, detected)
                    try:
                        df = read_gaia_table(path)
                    except DataError as exc:
                        assert exc.path == path and exc.field and exc.reason
                        outcomes[(damage, "error")] += 1
                        continue
                # A table the reader accepts has source_id in its header: the check must see it.
                assert detected is True, f"{path.name}: read as a Gaia table, but is_gaia_table said no"
                outcomes[(damage, "read")] += 1
                # What survives damage still has exact identifiers.
                for name in ("source_id", "kic_id"):
                    assert df[name].dtype == np.int64
    for damage in ("empty", "missing_column", "float_ids", "binary_junk"):
        assert outcomes[(damage, "read")] == 0, damage
    assert outcomes[("truncated", "read")] + outcomes[("bitflip", "read")] > 0, "no damaged table read"


def test_is_gaia_table_tells_gaia_tables_from_others(tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    for fmt in corrupt.GAIA_FORMATS:
        gaia = corrupt.write_gaia_table_case(tmp_path, fmt, "none", rng)
        assert is_gaia_table(gaia) is True, gaia.name
        other = tmp_path / f"other.{fmt}"
        gaia.rename(other)
        data = other.read_bytes()
        other.write_bytes(data.replace(b"source_id", b"object_id"))
        assert is_gaia_table(other) is False, other.name


def test_ingest_without_a_usable_gaia_table_is_a_data_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    raw = tmp_path / "raw"
    raw.mkdir()
    path = corrupt.write_gaia_table_case(raw, "ecsv", "truncated", rng)
    path.rename(raw / "gaia_source.ecsv")
    with pytest.raises(DataError, match=r"gaia_source\.ecsv"):
        ingest_survey(raw, SurveyStore(tmp_path / "survey"), progress=False, workers=1)


def test_gaia_row_reasons_name_the_column(fuzz_results) -> None:
    seen = set()
    for batch, store, _ in fuzz_results:
        q = store.read_quarantine()
        bad_gaia = q[q["reason"].str.startswith(quality.REASON_BAD_GAIA)]
        for case in batch.cases:
            if case.target == "gaia" and batch.expect[case.index] == "quarantine":
                if case.corruption == "duplicated_source_id":
                    rows = q[(q["star_id"] == str(case.kic_id)) & q["reason"].str.startswith("duplicate")]
                else:
                    rows = bad_gaia[bad_gaia["star_id"] == str(case.kic_id)]
                assert len(rows) >= 1, case
                seen.add(case.corruption)
    assert pd.Series(sorted(seen)).size == len(corrupt.GAIA_CORRUPTIONS) - 1


# --- hostile texts through the parsers ---------------------------------------------------------
TEXT_SEED = 20260416
N_TEXTS = 10_000
#: Bound on one text's work, in function calls per character (plus a fixed allowance): the
#: parsers are linear, the worst hostile text needs 65 % of this; a parser that
#: re-scans its text per token, or an evaluator that loops per vertex in Python, exceeds it.
MAX_CALLS_PER_CHAR = 20
MAX_CALLS_FIXED = 5_000


def fuzz_catalog(n: int = 40) -> pd.DataFrame:
    """A small catalogue with every kind of column the grammar reads (one NaN, one odd label)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=n).astype(np.float32)
    x[3] = np.nan
    return pd.DataFrame(
        {
            "row": np.arange(n, dtype=np.int64),
            "x": x,
            "y": rng.normal(size=n).astype(np.float32),
            "binary_prob": rng.random(n).astype(np.float32),
            "pop": pd.Categorical(rng.choice(["young", "giant", "single", "it's"], n)),
            "split": rng.choice(["train", "val", "test"], n).astype(object),
            "flag": rng.random(n) > 0.5,
        }
    )


def _similar(rows: np.ndarray, k: int) -> np.ndarray:
    return np.arange(min(k, 40), dtype=np.int64)


@pytest.fixture(scope="module")
def hostile_texts() -> list[str]:
    # Compile spatialpandas' lasso test (numba, about 2 s once per process) before any timing.
    expression_mask("lasso(x, y, [(0, 0), (1, 0), (0, 1)])", fuzz_catalog())
    return hostile.make_texts(TEXT_SEED, N_TEXTS)


def _work(action: object, text: str, *args: object) -> tuple[float, object]:
    """Run ``action(*args)``; returns (function calls per allowed call, result or exception).

    A value above 1 means the text cost more than ``MAX_CALLS_PER_CHAR`` calls per character.
    """
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        result = action(*args)
    except Exception as exc:  # the callers sort allowed from forbidden exceptions
        result = exc
    finally:
        sys.setprofile(None)
    return calls / (MAX_CALLS_FIXED + MAX_CALLS_PER_CHAR * len(text)), result


def test_hostile_texts_cover_every_kind(hostile_texts: list[str]) -> None:
    assert len(hostile_texts) >= 10_000
    assert hostile.make_texts(TEXT_SEED, N_TEXTS) == hostile_texts, "same seed, same texts"
    assert max(map(len, hostile_texts)) > 100_000 and any(str(2**64) in t for t in hostile_texts)
    assert any("9" * 4301 in t for t in hostile_texts) and any("\u00b2" in t for t in hostile_texts)


def test_expression_parser_raises_only_expression_error(hostile_texts: list[str]) -> None:
    df = fuzz_catalog()
    outcomes, defects, slowest = Counter(), [], (0.0, -1)
    for i, text in enumerate(hostile_texts):
        cost, result = _work(lambda t: expression_mask(t, df, similar=_similar), text, text)
        slowest = max(slowest, (cost, i))
        if isinstance(result, ExpressionError):
            outcomes["error"] += 1
        elif isinstance(result, np.ndarray) and result.shape == (len(df),) and result.dtype == bool:
            outcomes["selected"] += 1
        else:
            defects.append(f"text {i} {text[:80]!r}: {type(result).__name__}: {str(result)[:200]}")
    assert not defects, f"{len(defects)} texts raised something else, e.g.\n" + "\n".join(defects[:5])
    # The edited expressions reach the evaluator: many texts parse and select.
    assert outcomes["selected"] > 300 and outcomes["error"] > 5_000, outcomes
    assert slowest[0] <= 1.0, f"text {slowest[1]} cost {slowest[0]:.1f}x the linear work allowed"


def test_url_state_parser_never_raises(hostile_texts: list[str]) -> None:
    df = fuzz_catalog()
    state = DashboardState(
        catalog=df, color_options={"density": "density", "P(binary)": "binary_prob"}, similar=_similar
    )
    defects, slowest, applied = [], (0.0, -1), 0
    for i, text in enumerate(hostile_texts):
        every_key = urllib.parse.urlencode({"expression": text, "color_by": text, "focused_row": text})
        for search in ("?" + every_key, text):  # encoded, and raw (its own keys and values)
            cost, result = _work(restore, search, state, search)
            slowest = max(slowest, (cost, i))
            if not (isinstance(result, list) and all(isinstance(p, str) for p in result)):
                defects.append(f"text {i} {search[:80]!r}: {type(result).__name__}: {str(result)[:200]}")
                continue
            if not result:
                applied += 1
                # What a link applied can be written back into a link.
                search_with(search, query_from_state(state))
            state.clear()  # the next link starts from no selection
    assert not defects, f"{len(defects)} links raised, e.g.\n" + "\n".join(defects[:5])
    assert applied > 300, "some links apply cleanly"
    assert slowest[0] <= 1.0, f"text {slowest[1]} cost {slowest[0]:.1f}x the linear work allowed"
