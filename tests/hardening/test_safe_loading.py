"""Untrusted checkpoints, state files, catalogues and arrays are read without executing anything.

Each crafted file carries a pickle payload whose ``__reduce__`` would create a marker file when
unpickled; the readers must refuse (checkpoints, arrays) or ignore it (Parquet extension
metadata), and the marker must never appear. Every writer of files users read is atomic: killed
before its rename, it has changed no file a reader sees.
"""

from __future__ import annotations

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

from benchmarks.fixtures import write_synthetic_store
from data.storage import QUARANTINE_COLUMNS, SurveyStore
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


# --- every writer is atomic -----------------------------------------------------------------------
class Died(BaseException):
    """The process ends here (a BaseException: no ``except Exception`` of the code catches it)."""


def _die(*_args: object, **_kwargs: object) -> None:
    raise Died


def _store_with_every_file(root: Path) -> SurveyStore:
    """A store whose current generation holds every file a store writer replaces."""
    store = write_synthetic_store(root, n=12)
    store.write_array("embedding", np.zeros((12, 4), np.float32))
    store.write_quarantine(pd.DataFrame({c: pd.Series(["x"], dtype="string") for c in QUARANTINE_COLUMNS}))
    return store


def _writers() -> dict[str, object]:
    """name -> (setup(tmp) -> target, write(target, version)): every way we write files users read."""
    from data.simulate import SurveyConfig, simulate_survey
    from data.storage import atomic_write_text, export_table
    from desa_core.checkpoint import save_checkpoint
    from desa_core.config import DesaConfig
    from desa_core.model import DesaModel
    from training.run_state import save_state

    frame = pd.DataFrame({"row": np.arange(3, dtype=np.int32), "teff_k": [5000.0, 5500.0, 6000.0]})

    def catalog(s: SurveyStore, v: int) -> pd.DataFrame:
        return s.read_catalog().assign(ruwe=float(v))

    # Each write(target, v) writes content that depends on v, so the second write changes bytes.
    writers: dict[str, object] = {
        "write_catalog": (_store_with_every_file, lambda s, v: s.write_catalog(catalog(s, v))),
        "update_catalog": (
            _store_with_every_file,
            lambda s, v: s.update_catalog(catalog(s, v)[["row", "ruwe"]]),
        ),
        "write_truth": (_store_with_every_file, lambda s, v: s.write_truth(s.read_truth().assign(v=v))),
        "write_quarantine": (
            _store_with_every_file,
            lambda s, v: s.write_quarantine(s.read_quarantine().assign(reason=f"v{v}").astype("string")),
        ),
        "write_array": (_store_with_every_file, lambda s, v: s.write_array("embedding", np.full((12, 4), v))),
        "update_manifest": (_store_with_every_file, lambda s, v: s.update_manifest(note=v)),
        "text (reports, run config)": (
            lambda tmp: tmp / "report.md",
            lambda path, v: atomic_write_text(path, f"report {v}"),
        ),
        "checkpoint": (
            lambda tmp: tmp / "model.pt",
            lambda path, v: save_checkpoint(path, DesaModel(DesaConfig.tiny()), metadata={"v": v}),
        ),
        "training state": (
            lambda tmp: tmp / "state" / "align.pt",
            lambda path, v: save_state(path, {"epoch": v}),
        ),
        "simulated survey": (
            lambda tmp: tmp / "raw",
            lambda raw, v: simulate_survey(SurveyConfig(n_stars=2, seed=v, workers=1), raw, progress=False),
        ),
    }
    for fmt in ("csv", "ecsv", "votable", "fits"):
        writers[f"export {fmt}"] = (
            lambda tmp, fmt=fmt: tmp / f"picks.{fmt}",
            lambda path, v, fmt=fmt: export_table(frame.assign(teff_k=frame["teff_k"] + v), path, fmt=fmt),
        )
    return writers


WRITERS = _writers()


def _visible(root: Path) -> dict[str, bytes]:
    """Every file a reader could open (temporary files and folders being built aside), by content."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_writer_that_dies_before_its_rename_changes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Atomic means: until the rename, nothing a reader sees has changed, not even a linked file.

    Each writer runs once to put its files in place, then again with the renames failing as if
    the process were killed at that point; every visible file must be byte for byte as before.
    A writer that writes to the final name (or into a file shared with the current store
    generation) changes a visible file before it renames anything.
    """
    setup, write = WRITERS[name]
    target = setup(tmp_path)
    write(target, 1)  # the files now exist: the second write replaces them with other bytes
    before = _visible(tmp_path)
    for call in ("replace", "rename"):  # the calls that give a written file its name
        monkeypatch.setattr(os, call, _die)
    with pytest.raises(Died):
        write(target, 2)
    monkeypatch.undo()
    after = _visible(tmp_path)
    assert sorted(after) == sorted(before), f"{name}: files appeared or went"
    assert [path for path in before if after[path] != before[path]] == [], f"{name}: a file changed"
