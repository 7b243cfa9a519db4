"""Untrusted checkpoints, state files, catalogues and arrays are read without executing anything.

Each crafted file carries a pickle payload whose ``__reduce__`` would create a marker file when
unpickled; the readers must refuse (checkpoints, arrays) or ignore it (Parquet extension
metadata), and the marker must never appear. A static check keeps the store writers atomic.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from data.storage import SurveyStore
from desa_core.checkpoint import FORMAT, FORMAT_VERSION, CheckpointError, load_checkpoint
from desa_core.serving import DesaService
from training.run_state import load_state

REPO = Path(__file__).resolve().parents[2]


class Payload:
    """Unpickling this creates ``marker`` (stands in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": "{}",
            "metadata": "{}",
            "state_dict": {},
            "extra": Payload(marker),
        },
        path,
    )
    return path


def test_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    # The test payload is live: plain pickle (what an unsafe loader does) creates the marker.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker))).close()
    assert marker.exists()


def test_pickle_checkpoint_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _evil_checkpoint(tmp_path / "model.pt", marker)
    with pytest.raises(CheckpointError, match=r"model\.pt: refused: the file holds pickled code"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="refused"):
        DesaService.load(path)
    assert not marker.exists()


def test_plain_pickle_file_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError, match="not a torch zip archive"):
        load_checkpoint(path)
    assert not marker.exists()


def test_desa_embed_refuses_a_pickle_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _evil_checkpoint(tmp_path / "evil.pt", marker)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.cli",
            "embed",
            "--survey-dir",
            str(tmp_path / "s"),
            "--checkpoint",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "DESA_DATA_DIR": str(tmp_path)},
    )
    assert out.returncode == 1
    assert out.stderr.startswith("desa: error:")
    assert not marker.exists()


def test_resume_state_with_pickled_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "align.pt"
    torch.save({"model": {}, "epoch": 0, "hook": Payload(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_state(path)
    assert not marker.exists()


def test_object_array_in_the_store_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    store = SurveyStore(tmp_path / "s")
    store.arrays_dir.mkdir(parents=True)
    np.save(store.array_path("embedding"), np.array([Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        store.read_array("embedding", mmap=False)
    with pytest.raises(ValueError):
        store.read_array("embedding")
    assert not marker.exists()


def test_catalogue_with_pickled_extension_metadata_reads_without_running_it(tmp_path: Path) -> None:
    """pyarrow < 14.0.1 unpickled ``arrow.py_extension_type`` metadata (CVE-2023-47248)."""
    marker = tmp_path / "pwned"
    store = SurveyStore(tmp_path / "s")
    n = 4
    evil_field = pa.field(
        "note",
        pa.binary(),
        metadata={
            b"ARROW:extension:name": b"arrow.py_extension_type",
            b"ARROW:extension:metadata": pickle.dumps(Payload(marker)),
        },
    )
    table = pa.table(
        {
            "row": pa.array(np.arange(n, dtype=np.int32)),
            "kic_id": pa.array(np.arange(n, dtype=np.int64) + 10),
            "note": pa.array([b"x"] * n, pa.binary()),
        }
    )
    table = table.cast(pa.schema([table.schema.field("row"), table.schema.field("kic_id"), evil_field]))
    odd_pandas_meta = json.dumps(
        {
            "index_columns": [],
            "columns": [
                {
                    "name": "note",
                    "pandas_type": "object",
                    "numpy_type": "object",
                    "metadata": {"__reduce__": "os.system"},
                }
            ],
            "pandas_version": "0.0",
        }
    ).encode()
    table = table.replace_schema_metadata({b"pandas": odd_pandas_meta, b"creator": b"\x00\xff odd"})
    store.store_dir.mkdir(parents=True)
    pq.write_table(table, store.catalog_path)
    df = store.read_catalog()
    assert list(df["row"]) == list(range(n))
    assert pd.read_parquet(store.catalog_path)["note"].tolist() == [b"x"] * n
    assert not marker.exists()


# --- every store writer is atomic ----------------------------------------------------------------
#: Modules that write the survey store, run folders, checkpoints and reports.
WRITER_MODULES = (
    "data/storage.py",
    "data/simulate/survey.py",
    "desa_core/checkpoint.py",
    "training/run.py",
    "training/run_state.py",
    "training/embed.py",
    "training/evaluate.py",
)
WRITE_CALLS = {"to_parquet", "to_csv", "save", "write_text", "write_bytes", "writeto", "write", "to_xml"}
#: Names that only ever hold the temporary file of an atomic write (or its open handle).
TEMP_NAMES = {"tmp", "fh", "tmp_path"}


#: Helpers whose path argument is always the temporary file (``atomic_write(target, lambda tmp: f(tmp))``).
TEMP_WRITERS = {"_write_votable"}


def _direct_writes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exempt = {
        id(node)
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef) and func.name in TEMP_WRITERS
        for node in ast.walk(func)
    }
    bad = []
    for node in ast.walk(tree):
        if id(node) in exempt:
            continue
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in WRITE_CALLS:
            continue
        receiver = node.func.value
        target = node.args[0] if node.args else None
        if isinstance(receiver, ast.Name) and receiver.id in TEMP_NAMES:
            continue  # tmp.write_text(...), fh.write(...)
        if isinstance(target, ast.Name) and target.id in TEMP_NAMES:
            continue  # df.to_parquet(tmp), torch.save(payload, tmp) below
        second = node.args[1] if len(node.args) > 1 else None
        if isinstance(second, ast.Name) and second.id in TEMP_NAMES:
            continue
        if isinstance(receiver, ast.Name) and receiver.id in ("manifest", "log", "bar", "metrics", "sys"):
            continue  # dict.update-like or logging names that are not files
        bad.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return bad


def test_store_writers_only_write_temporary_files_that_are_renamed() -> None:
    problems = [line for module in WRITER_MODULES for line in _direct_writes(REPO / module)]
    assert problems == [], "direct (non-atomic) writes:\n" + "\n".join(problems)
