"""Crash safety: ``kill -9`` during simulate, ingest, train and embed, then rerun or ``--resume``.

Every command runs as a real ``desa`` subprocess in its own process group (its worker processes
die with it) and is killed with SIGKILL at a point where it is busy writing. Afterwards:

* every file a reader could pick up is complete (no half-written file: writers go through a
  temporary ``.<name>.*.tmp`` file and ``os.replace``), and leftover temporary files are ignored;
* rerunning (simulate, ingest, embed) or resuming (train) ends with the same files, catalogue,
  arrays and model weights as one uninterrupted run.

The runs are small (48 stars, the ``tiny`` config with small batches) but still take a minute
or two in all, so the module is marked ``slow`` (it runs in ``make test``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data.storage import SurveyStore
from desa_core.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

N_STARS = 48
SURVEY = "s"
#: Small batches and frequent state files, so a kill lands mid-epoch after a saved state.
TRAIN_SET = [
    f"--set={stage}.{key}={value}"
    for stage in ("pretrain_lightcurve", "pretrain_spectrum", "align", "finetune")
    for key, value in (("batch_size", 8), ("checkpoint_every", 2))
]


def _desa_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from training.cli import main; sys.exit(main())", *args]


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "DESA_DATA_DIR": str(root), "PYTHONHASHSEED": "0"}


def desa(root: Path, *args: str) -> str:
    """Run one ``desa`` command to completion; its output, or a failure with stderr."""
    out = subprocess.run(
        _desa_cmd(*args, "--survey", SURVEY, "--quiet"), env=_env(root), capture_output=True, text=True
    )
    assert out.returncode == 0, f"desa {' '.join(args)} failed:\n{out.stderr[-3000:]}"
    return out.stdout


def desa_killed(root: Path, until: Callable[[], bool], *args: str, timeout: float = 300) -> bool:
    """Start ``desa`` in its own process group and SIGKILL the group once ``until()`` holds.

    Returns True if the kill landed (the command had not finished on its own).
    """
    proc = subprocess.Popen(
        _desa_cmd(*args, "--survey", SURVEY, "--quiet"),
        env=_env(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and not until():
            if time.monotonic() > deadline:
                raise TimeoutError(f"desa {args[0]}: kill condition never met")
            time.sleep(0.01)
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    return killed


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".*.tmp"))


def assert_every_file_complete(root: Path) -> None:
    """Every non-temporary file a reader could open is whole (atomic writes only)."""
    from astropy.io import fits

    from data.gaia import read_gaia_table

    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".ecsv":
            read_gaia_table(path)
        elif path.suffix == ".fits":
            with fits.open(path, memmap=False) as hdul:
                hdul.verify("exception")
                for hdu in hdul:
                    _ = hdu.data
        elif path.suffix == ".pt":
            torch.load(path, map_location="cpu", weights_only=True)


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def assert_same_store(a: SurveyStore, b: SurveyStore, arrays: tuple[str, ...]) -> None:
    pd.testing.assert_frame_equal(a.read_catalog(), b.read_catalog())
    pd.testing.assert_frame_equal(a.read_quarantine(), b.read_quarantine())
    for name in arrays:
        np.testing.assert_array_equal(a.read_array(name), b.read_array(name), err_msg=name)


class Reference:
    """One uninterrupted simulate -> ingest -> train -> embed, run as far as a test needs.

    Snapshots ``after_<step>`` of the survey folder are kept beside it for the killed runs.
    """

    steps = ("simulate", "ingest", "train", "embed")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: list[str] = []

    def upto(self, step: str) -> Path:
        args = {
            "simulate": ("simulate", "--n-stars", str(N_STARS), "--seed", "0"),
            "ingest": ("ingest",),
            "train": ("train", "--config", "tiny", *TRAIN_SET),
            "embed": ("embed", "--run", "tiny"),
        }
        for name in self.steps[: self.steps.index(step) + 1]:
            if name not in self.done:
                desa(self.root, *args[name])
                shutil.copytree(self.root / SURVEY, self.root / f"after_{name}")
                self.done.append(name)
        return self.root / f"after_{step}"


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return Reference(tmp_path_factory.mktemp("reference"))


def _copy_snapshot(snapshot: Path, dest: Path) -> Path:
    shutil.copytree(snapshot, dest / SURVEY)
    return dest


def test_simulate_killed_then_rerun_writes_the_same_files(ref: Reference, tmp_path: Path) -> None:
    expected = tree(ref.upto("simulate") / "raw")
    lamost = tmp_path / SURVEY / "raw" / "lamost"

    def some_written() -> bool:
        return lamost.is_dir() and sum(1 for _ in lamost.glob("spec-*.fits")) >= N_STARS // 4

    assert desa_killed(tmp_path, some_written, "simulate", "--n-stars", str(N_STARS), "--seed", "0")
    assert not (tmp_path / SURVEY / "raw" / "truth.parquet").exists()
    assert_every_file_complete(tmp_path / SURVEY)
    out = desa(tmp_path, "simulate", "--n-stars", str(N_STARS), "--seed", "0")
    assert "already present" in out
    got = tree(tmp_path / SURVEY / "raw")
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []


@pytest.mark.parametrize("when", ["reading", "writing"])
def test_ingest_killed_then_rerun_gives_the_same_catalogue(ref: Reference, tmp_path: Path, when: str) -> None:
    reference_store = SurveyStore(ref.upto("ingest"))
    root = _copy_snapshot(ref.root / "after_simulate", tmp_path)
    store = SurveyStore(root / SURVEY)
    # A leftover temporary file of an earlier interrupted write, named like a light curve.
    leftover = next((root / SURVEY / "raw" / "kepler").glob("kplr*.fits"))
    (leftover.parent / f".{leftover.name}.abc123.tmp").write_bytes(leftover.read_bytes()[:5000])
    start = time.monotonic()
    # "reading": mid-way through the files; "writing": first store file written, arrays not yet.
    reading = lambda: time.monotonic() - start > 2.0  # noqa: E731
    until = reading if when == "reading" else store.catalog_path.is_file
    assert desa_killed(root, until, "ingest")
    assert_every_file_complete(root / SURVEY)
    desa(root, "ingest")
    assert_same_store(store, reference_store, ("lc_channels", "lc_mask", "spec_flux", "spec_mask"))
    pd.testing.assert_frame_equal(store.read_truth(), reference_store.read_truth())


def _state_dicts_equal(a: Path, b: Path) -> None:
    model_a, meta_a = load_checkpoint(a)
    model_b, meta_b = load_checkpoint(b)
    assert meta_a["stages_done"] == meta_b["stages_done"]
    sa, sb = model_a.state_dict(), model_b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=1e-6, msg=key)


def test_train_killed_mid_epoch_then_resumed_gives_the_same_model(ref: Reference, tmp_path: Path) -> None:
    expected = ref.upto("train") / "models" / "tiny" / "model.pt"
    root = _copy_snapshot(ref.root / "after_ingest", tmp_path)
    metrics = root / SURVEY / "models" / "tiny" / "metrics.jsonl"

    def mid_align_epoch() -> bool:
        # Align: 4 batches an epoch, a state file every 2 steps; stop after the 3rd align step.
        if not metrics.is_file():
            return False
        lines = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip().endswith("}")]
        return sum(1 for x in lines if x.get("stage") == "align" and "loss" in x) >= 3

    assert desa_killed(root, mid_align_epoch, "train", "--config", "tiny", *TRAIN_SET)
    state = root / SURVEY / "models" / "tiny" / "state"
    saved = torch.load(state / "align.pt", map_location="cpu", weights_only=True)
    assert saved["epoch"] == 0 and 0 < saved["done_in_epoch"] < 4, "the kill was not mid-epoch"
    assert_every_file_complete(root / SURVEY / "models")
    # Without --resume the run refuses to overwrite; with it, it continues.
    refused = subprocess.run(
        _desa_cmd("train", "--config", "tiny", *TRAIN_SET, "--survey", SURVEY, "--quiet"),
        env=_env(root),
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "--resume" in refused.stderr
    out = desa(root, "train", "--config", "tiny", *TRAIN_SET, "--resume")
    assert "skipped (already done): pretrain_lightcurve, pretrain_spectrum" in out
    _state_dicts_equal(root / SURVEY / "models" / "tiny" / "model.pt", expected)


def test_embed_killed_then_rerun_gives_the_same_catalogue(ref: Reference, tmp_path: Path) -> None:
    reference_store = SurveyStore(ref.upto("embed"))
    root = _copy_snapshot(ref.root / "after_train", tmp_path)
    store = SurveyStore(root / SURVEY)
    assert desa_killed(root, lambda: store.has_array("embedding"), "embed", "--run", "tiny")
    assert_every_file_complete(root / SURVEY)
    # The catalogue is either the old one (no predictions yet) or the new one, never a mix.
    assert "umap_x" not in store.read_catalog().columns or store.read_catalog()["umap_x"].notna().all()
    desa(root, "embed", "--run", "tiny")
    assert_same_store(store, reference_store, ("embedding",))
    sha = store.read_manifest()["embed"]["checkpoint_sha256"]
    assert sha == reference_store.read_manifest()["embed"]["checkpoint_sha256"]
