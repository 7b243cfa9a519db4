"""The survey schema (data/schema.py): one definition each, read by every package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import catalog, preprocess, schema

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("desa_core", "training", "data", "dashboard")
#: Modules that build physical tables whose columns are named like the properties on purpose (the
#: simulator's truth, the isochrones), so that a label is found under its property's name.
PRODUCERS = ("data/simulate/", "data/isochrones.py")
#: A literal listing this many names of one kind is a second definition of that kind.
GROUPS = {
    "property": (set(schema.PROPERTY_NAMES), 3),
    "array": (set(schema.ARRAYS), 2),
    "population": (set(schema.POPULATION_NAMES), 3),
}


def name_lists(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Tuple, list, set and dict literals outside the schema that list names of one kind."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel == "data/schema.py" or rel.startswith(PRODUCERS):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Tuple | ast.List | ast.Set):
                    items = node.elts
                elif isinstance(node, ast.Dict):
                    items = [key for key in node.keys if key is not None]
                else:
                    continue
                strings = {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
                for kind, (names, at_least) in GROUPS.items():
                    if len(strings & names) >= at_least:
                        found.append(f"{rel}:{node.lineno}: lists {kind} names {sorted(strings & names)}")
    return found


def test_property_array_and_population_names_are_listed_only_in_the_schema() -> None:
    found = name_lists(ROOT)
    assert not found, "read these from data.schema instead:\n" + "\n".join(found)


def test_the_list_finder_sees_a_second_list(tmp_path: Path) -> None:
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "copy.py").write_text(
        'UNITS = {"teff_k": "K", "logg": "dex", "feh": "dex"}\n'
        'ARRAYS = ("lc_channels", "spec_flux")\n'
        'ONE = ("teff_k", "young")\n'
    )
    found = name_lists(tmp_path, ("training",))
    assert len(found) == 2 and "property" in found[0] and "array" in found[1], found


def test_every_package_reads_the_property_list() -> None:
    from desa_core.config import DesaConfig
    from desa_core.heads import LOG_PROPERTIES
    from desa_core.pretraining import LIGHTCURVE_LABELS, SPECTRUM_LABELS
    from training.figures import LABELS

    assert DesaConfig().heads.properties == schema.PROPERTY_NAMES
    assert {p.name for p in schema.PROPERTIES if p.log10} == LOG_PROPERTIES >= {"prot_d", "age_gyr"}
    assert SPECTRUM_LABELS == ("teff_k", "logg", "feh") and LIGHTCURVE_LABELS == ("prot_d",)
    assert list(LABELS) == list(schema.PROPERTY_NAMES)
    for prop in schema.PROPERTIES:
        column = catalog.BY_NAME[f"pred_{prop.name}_hi"]
        assert (column.unit, column.ucd) == (prop.unit, prop.ucd), prop.name


def test_the_default_model_is_built_for_the_store_grids() -> None:
    from desa_core.config import DesaConfig

    assert schema.grid_mismatch(DesaConfig().input_grid, preprocess.grid_description()) is None
    assert preprocess.LC_LENGTH == schema.LC_LENGTH and preprocess.SPEC_LENGTH == schema.SPEC_LENGTH


def test_grid_mismatch_counts_channels_and_skips_keys_a_manifest_lacks() -> None:
    model = {"lc_channels": 3, "lc_length": 1024, "spec_length": 3840}
    assert schema.grid_mismatch(model, {"lc_channels": ["a", "b", "c"]}) is None
    assert schema.grid_mismatch(model, {}) is None
    problem = schema.grid_mismatch(model, {"lc_channels": ["a", "b"], "lc_length": 512})
    assert problem is not None
    assert "lc_channels 2 (model: 3)" in problem and "lc_length 512 (model: 1024)" in problem


def test_join_truth_prefixes_keeps_every_catalogue_row_and_refuses_a_duplicate() -> None:
    cat = pd.DataFrame({"row": np.arange(3, dtype=np.int32), "bp_rp_mag": [1.0, 2.0, 3.0]})
    truth = pd.DataFrame({"row": np.array([2, 0]), "bp_rp_mag": [0.9, 0.8], "age_gyr": [1, 2]})
    joined = schema.join_truth(cat, truth)
    assert list(joined.columns) == ["row", "bp_rp_mag", "true_bp_rp_mag", "true_age_gyr"]
    assert joined["row"].dtype == np.int32 and len(joined) == 3
    np.testing.assert_array_equal(joined["true_bp_rp_mag"], [0.8, np.nan, 0.9])
    assert list(schema.truth_columns(joined).columns) == ["bp_rp_mag", "age_gyr"]
    assert schema.join_truth(cat, None) is cat
    with pytest.raises(pd.errors.MergeError):
        schema.join_truth(cat, pd.concat([truth, truth]))


def test_populations_have_distinct_colours_and_the_simulator_draws_them() -> None:
    from data.simulate.population import POPULATIONS, SurveyConfig

    colours = list(schema.POPULATION_COLOURS.values())
    assert len(set(colours)) == len(colours) and all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in colours)
    assert POPULATIONS == schema.POPULATION_NAMES
    assert set(SurveyConfig().population_fractions) == set(schema.POPULATION_NAMES)
