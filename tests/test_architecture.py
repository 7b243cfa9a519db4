"""The import direction (STYLE.md section 2), checked by parsing every module with ``ast``.

    data       -> no other package of ours
    desa_core  -> data.schema only (the survey schema: names, units, grids; standard library only)
    training   -> desa_core, data
    dashboard  -> desa_core.serving and its kNN (desa_core.neighbours, torch-free), data's
                  storage layer, its query language (data.query), provenance
                  (data.provenance), the survey schema (data.schema) and its reference physics
                  (data.isochrones, for the CMD/HR overlays) only
    training.cli -> everything: the CLI wires the packages into commands (``desa serve`` takes
                  its options from dashboard/serve_options.py, next to the app they configure)
Nothing imports ``training`` or ``dashboard``; nothing imports ``training.cli``.

``data.schema`` is what every package agrees on (property names, array names, grids,
populations); ``desa_core`` may read it because it holds no file access and imports only the
standard library, so the model still knows tensors, not files. Two tests keep it so.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("desa_core", "training", "data", "dashboard")
DATA_STORAGE_LAYER = {
    "data.storage",
    "data.catalog",
    "data.settings",
    "data.errors",
    "data.query",
    "data.provenance",
    "data.isochrones",
    "data.schema",
}
#: The ``desa_core`` modules the dashboard may import: the serving API, and its kNN (which loads
#: no torch; tests/core/test_neighbours.py checks), so "find similar" is the API's own kNN.
DASHBOARD_CORE = {"desa_core.serving", "desa_core.neighbours"}
#: The command line: it may import every package; nothing imports it.
CLI = "training.cli"
#: The one module of ``data`` that ``desa_core`` may import.
SCHEMA = "data.schema"


def imported_modules(path: Path, root: Path = ROOT) -> list[str]:
    """Absolute module names imported by one file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(p for p in [*parts, base] if p)
            names += [f"{base}.{alias.name}" if base in PACKAGES else base for alias in node.names]
    return names


def _within(module: str, name: str) -> bool:
    return module == name or module.startswith(name + ".")


def violation(importer: str, module: str) -> str | None:
    """Why module ``importer`` (or a module of package ``importer``) may not import ``module``, or None."""
    package = importer.split(".")[0]
    top = module.split(".")[0]
    if _within(module, CLI) and not _within(importer, CLI):
        return "nothing may import the CLI (training.cli)"
    if _within(importer, CLI):
        return None
    if top not in PACKAGES or top == package:
        return None
    if top in ("training", "dashboard"):
        return f"nothing may import {top}"
    if package == "desa_core" and _within(module, SCHEMA):
        return None
    if package in ("data", "desa_core"):
        return f"{package} may not import {top}" + (f" (only {SCHEMA})" if package == "desa_core" else "")
    if package == "dashboard":
        if top == "desa_core" and not any(_within(module, m) for m in DASHBOARD_CORE):
            return f"dashboard may import {sorted(DASHBOARD_CORE)} of desa_core only"
        if top == "data" and not any(_within(module, m) for m in DATA_STORAGE_LAYER):
            return f"dashboard may import data's storage layer only ({sorted(DATA_STORAGE_LAYER)})"
    return None


def find_violations(root: Path = ROOT) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            importer = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            for module in imported_modules(path, root):
                reason = violation(importer, module)
                if reason:
                    found.append(f"{path.relative_to(root)}: imports {module}: {reason}")
    return found


def test_import_direction_holds() -> None:
    problems = find_violations()
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("importer", "module", "allowed"),
    [
        ("desa_core", "data.storage", False),
        ("desa_core", "data.schema", True),
        ("desa_core", "data.preprocess", False),
        ("data", "data.schema", True),
        ("dashboard", "data.schema", True),
        ("desa_core", "training.loop", False),
        ("data", "desa_core.model", False),
        ("dashboard", "training.cli", False),
        ("dashboard", "data.ingest", False),
        ("dashboard", "data.storage", True),
        ("dashboard", "desa_core.serving", True),
        ("dashboard", "desa_core.model", False),
        ("dashboard", "desa_core.neighbours", True),
        ("training", "desa_core.model", True),
        ("training", "data.ingest", True),
        ("training", "dashboard.app", False),
        ("training.cli.serve", "dashboard.serve_options", True),
        ("training.cli", "dashboard.app", True),
        ("training.cli.common", "data.storage", True),
        ("training.run", "dashboard.serve_options", False),
        ("training.run", "training.cli", False),
        ("training.embed", "training.cli.common", False),
        ("dashboard.serve_options", "training.cli", False),
        ("data.ingest", "training.cli", False),
    ],
)
def test_rule_table(importer: str, module: str, allowed: bool) -> None:
    assert (violation(importer, module) is None) is allowed


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    (tmp_path / "desa_core").mkdir()
    for package in PACKAGES[1:]:
        (tmp_path / package).mkdir()
    (tmp_path / "desa_core" / "bad.py").write_text("from data import storage\nimport training.loop\n")
    (tmp_path / "training" / "cli").mkdir()
    (tmp_path / "training" / "cli" / "__init__.py").write_text("import dashboard.app\n")  # allowed
    (tmp_path / "training" / "run.py").write_text("from training.cli import main\n")
    problems = find_violations(tmp_path)
    assert len(problems) == 3, problems
    assert "training/run.py: imports training.cli: nothing may import the CLI" in problems[-1], problems


def runtime_imports(path: Path) -> list[str]:
    """Top-level modules ``path`` imports when run (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                names += [alias.name.split(".")[0] for alias in sub.names]
            elif isinstance(sub, ast.ImportFrom) and not sub.level:
                names.append((sub.module or "").split(".")[0])
    return names


def test_the_schema_imports_only_the_standard_library() -> None:
    found = runtime_imports(ROOT / "data" / "schema.py")
    foreign = [name for name in found if name not in sys.stdlib_module_names]
    assert found and not foreign, f"data/schema.py imports {foreign}; desa_core reads it (module docstring)"


def test_runtime_imports_sees_a_third_party_import(tmp_path: Path) -> None:
    bad = tmp_path / "schema.py"
    bad.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\nimport pandas\n")
    assert runtime_imports(bad) == ["typing", "pandas"]


def test_the_model_config_loads_no_file_readers() -> None:
    """``desa_core.config`` reads the schema; that must not pull ``data``'s readers in with it."""
    code = (
        "import sys, desa_core.config; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'astropy', 'pyarrow', 'h5py'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing desa_core.config loaded {out.stdout.strip()}"


#: STYLE.md section "Size": split a module before 500 lines. No module is exempt.
MAX_MODULE_LINES = 500


def test_every_module_is_under_the_size_limit() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) >= MAX_MODULE_LINES
    ]
    assert too_long == [], f"split these modules before {MAX_MODULE_LINES} lines (STYLE.md): {too_long}"
