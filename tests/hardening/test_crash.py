"""Crash safety: ``kill -9`` during simulate, ingest, train and embed, then rerun or ``--resume``.

Every command runs as a real ``desa`` subprocess in its own process group (its worker processes
die with it) and is killed with SIGKILL once it has provably started the work the test is about:
a progress line on its stderr, a file in the store generation it is building, a line in its
metrics log; never after a fixed delay, which may land before the work starts. Afterwards:

* the store is the old generation, byte for byte, or the whole new one, never a mix
  (data/generations.py), and every file a reader could pick up is complete;
* rerunning (simulate, ingest, embed) or resuming (train) ends with the same files, catalogue,
  arrays and model weights as one uninterrupted run, and the killed run's temporary files and
  half-built generation are gone;
* ``train --restart`` killed mid-run leaves the previous run as it was.

The runs are small (48 stars, the ``tiny`` config with small batches) but still take a few
minutes in all, so the module is marked ``slow`` (it runs in ``make test``).
"""

from __future__ import annotations

import json
import os
import re
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


def desa_killed(
    root: Path, until: Callable[[], bool], *args: str, stderr: Path | None = None, timeout: float = 300
) -> bool:
    """Start ``desa`` in its own process group and SIGKILL the group once ``until()`` holds.

    With ``stderr`` the command runs with progress bars, written to that file (``until`` may read
    them). Returns True if the kill landed (the command had not finished on its own).
    """
    quiet = () if stderr else ("--quiet",)
    with (stderr or Path(os.devnull)).open("w") as err:
        proc = subprocess.Popen(
            _desa_cmd(*args, "--survey", SURVEY, *quiet),
            env=_env(root),
            stdout=subprocess.DEVNULL,
            stderr=err,
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


def progress(stderr: Path, desc: str) -> tuple[int, int]:
    """(done, total) of the last tqdm update of the bar ``desc`` in a stderr file; (0, 0) if none."""
    found = re.findall(rf"{desc}:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", stderr.read_text(errors="replace"))
    return tuple(int(v) for v in found[-1]) if found else (0, 0)


def building(store_root: Path, name: str) -> bool:
    """Whether a step has written ``name`` into the store generation it is building."""
    return any((store_root / "store" / "generations").glob(f".g*.building/{name}"))


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".*.tmp"))


def leftovers(survey: Path) -> list[Path]:
    """What a killed step may leave and the next step must remove (locks stay: the kernel freed them)."""
    left = temp_files(survey) + sorted(survey.glob("store/generations/.*"))
    return left + sorted(survey.glob("models/.*.restart")) + sorted(survey.glob("models/.*.old"))


def assert_every_file_complete(root: Path) -> None:
    """Every non-temporary file a reader could open is whole (atomic writes only)."""
    from astropy.io import fits

    from data.gaia import read_gaia_table

    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix in (".json", ".complete") or path.name == "COMPLETE":
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


def visible_store(survey: Path) -> dict[str, bytes]:
    """The store files a reader sees now (the current generation), by name; {} before the first."""
    store = SurveyStore(survey)
    if not store.data_dir.is_dir():
        return {}
    return {name: data for name, data in tree(store.data_dir).items() if not name.startswith("generations/")}


def assert_same_store(a: SurveyStore, b: SurveyStore, arrays: tuple[str, ...]) -> None:
    pd.testing.assert_frame_equal(a.read_catalog(), b.read_catalog())
    pd.testing.assert_frame_equal(a.read_quarantine(), b.read_quarantine())
    for name in arrays:
        np.testing.assert_array_equal(a.read_array(name), b.read_array(name), err_msg=name)


def assert_old_or_new(survey: Path, old: dict[str, bytes], new: SurveyStore, arrays: tuple[str, ...]) -> str:
    """The store reads as the ``old`` files byte for byte, or as the whole ``new`` store: never a mix."""
    if visible_store(survey) == old:
        return "old"
    assert_same_store(SurveyStore(survey), new, arrays)
    assert SurveyStore(survey).read_manifest().keys() == new.read_manifest().keys()
    return "new"


INPUT_ARRAYS = ("lc_channels", "lc_mask", "spec_flux", "spec_mask")


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
    assert not (tmp_path / SURVEY / "raw" / "truth.parquet").exists(), "the marker is written last"
    assert_every_file_complete(tmp_path / SURVEY)
    out = desa(tmp_path, "simulate", "--n-stars", str(N_STARS), "--seed", "0")
    assert "already present" in out
    got = tree(tmp_path / SURVEY / "raw")
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []
    assert temp_files(tmp_path / SURVEY) == []


def test_ingest_killed_while_reading_leaves_no_store_then_rerun_gives_it(
    ref: Reference, tmp_path: Path
) -> None:
    reference_store = SurveyStore(ref.upto("ingest"))
    root = _copy_snapshot(ref.root / "after_simulate", tmp_path)
    # A leftover temporary file of an earlier interrupted write, named like a light curve.
    leftover = next((root / SURVEY / "raw" / "kepler").glob("kplr*.fits"))
    (leftover.parent / f".{leftover.name}.abc123.tmp").write_bytes(leftover.read_bytes()[:5000])
    stderr = tmp_path / "ingest.err"

    def reading() -> bool:  # some files read, not all: the kill lands in the middle of the reading
        done, total = progress(stderr, "ingest")
        return 0 < done < total

    assert desa_killed(root, reading, "ingest", stderr=stderr)
    assert 0 < progress(stderr, "ingest")[0] < progress(stderr, "ingest")[1]
    assert visible_store(root / SURVEY) == {} and not SurveyStore(root / SURVEY).has_catalog()
    desa(root, "ingest")
    store = SurveyStore(root / SURVEY)
    assert_same_store(store, reference_store, INPUT_ARRAYS)
    pd.testing.assert_frame_equal(store.read_truth(), reference_store.read_truth())
    assert store.steps_done() == ["ingest"] and (store.store_dir / "ingest.complete").is_file()


def test_reingest_killed_while_writing_keeps_the_old_store_then_replaces_it_whole(
    ref: Reference, tmp_path: Path
) -> None:
    reference_store = SurveyStore(ref.upto("ingest"))
    embedded = ref.upto("embed")
    root = _copy_snapshot(embedded, tmp_path)
    survey = root / SURVEY
    before = visible_store(survey)
    assert "arrays/embedding.npy" in before and (survey / "store" / "embed.complete").is_file()
    # Writing has provably started: the new generation holds its catalogue and a first array.
    assert desa_killed(root, lambda: building(survey, "arrays/lc_channels.npy"), "ingest")
    mid_writing = building(survey, "catalog.parquet")  # else the kill landed after the switch
    outcome = assert_old_or_new(survey, before, reference_store, INPUT_ARRAYS)
    assert outcome == ("old" if mid_writing else "new")
    assert (survey / "store" / "embed.complete").is_file() == mid_writing
    assert_every_file_complete(survey)
    desa(root, "ingest")
    store = SurveyStore(survey)
    assert_same_store(store, reference_store, INPUT_ARRAYS)
    # The re-ingest invalidated what was derived from the old catalogue, marker included.
    assert not store.has_array("embedding") and "umap_x" not in store.read_catalog().columns
    assert "embed" not in store.read_manifest() and store.steps_done() == ["ingest"]
    assert not (survey / "store" / "embed.complete").exists()
    assert leftovers(survey) == []


def _state_dicts_equal(a: Path, b: Path) -> None:
    model_a, meta_a = load_checkpoint(a)
    model_b, meta_b = load_checkpoint(b)
    assert meta_a["stages_done"] == meta_b["stages_done"]
    sa, sb = model_a.state_dict(), model_b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=1e-6, msg=key)


def _align_steps(metrics: Path) -> int:
    if not metrics.is_file():
        return 0
    lines = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip().endswith("}")]
    return sum(1 for x in lines if x.get("stage") == "align" and "loss" in x)


def test_train_killed_mid_epoch_then_resumed_gives_the_same_model(ref: Reference, tmp_path: Path) -> None:
    expected = ref.upto("train") / "models" / "tiny" / "model.pt"
    root = _copy_snapshot(ref.root / "after_ingest", tmp_path)
    metrics = root / SURVEY / "models" / "tiny" / "metrics.jsonl"
    # Align: 4 batches an epoch, a state file every 2 steps; stop after the 3rd align step.
    assert desa_killed(root, lambda: _align_steps(metrics) >= 3, "train", "--config", "tiny", *TRAIN_SET)
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
    assert temp_files(root / SURVEY / "models") == []


def test_train_restart_killed_keeps_the_old_run(ref: Reference, tmp_path: Path) -> None:
    expected = ref.upto("train") / "models" / "tiny" / "model.pt"
    root = _copy_snapshot(ref.root / "after_train", tmp_path)
    run = root / SURVEY / "models" / "tiny"
    (run / "note.txt").write_text("the old run")  # something only the old run has
    before = tree(run)
    metrics = run.with_name(".tiny.restart") / "metrics.jsonl"
    restart = ("train", "--config", "tiny", *TRAIN_SET, "--restart")
    assert desa_killed(root, lambda: _align_steps(metrics) >= 1, *restart)
    assert tree(run) == before, "a killed --restart changed the previous run"
    desa(root, *restart)
    assert not (run / "note.txt").exists(), "the finished new run replaced the old one"
    _state_dicts_equal(run / "model.pt", expected)
    assert leftovers(root / SURVEY) == []


def test_embed_killed_keeps_the_old_store_then_rerun_gives_the_same_catalogue(
    ref: Reference, tmp_path: Path
) -> None:
    reference_store = SurveyStore(ref.upto("embed"))
    root = _copy_snapshot(ref.root / "after_train", tmp_path)
    survey = root / SURVEY
    before = visible_store(survey)
    # Work has provably started: the embedding is written into the generation being built.
    assert desa_killed(root, lambda: building(survey, "arrays/embedding.npy"), "embed", "--run", "tiny")
    mid_writing = building(survey, "arrays/embedding.npy")  # else the kill landed after the switch
    outcome = assert_old_or_new(survey, before, reference_store, ("embedding",))
    assert outcome == ("old" if mid_writing else "new")
    assert_every_file_complete(survey)
    desa(root, "embed", "--run", "tiny")
    store = SurveyStore(survey)
    assert_same_store(store, reference_store, ("embedding",))
    sha = store.read_manifest()["embed"]["checkpoint_sha256"]
    assert sha == reference_store.read_manifest()["embed"]["checkpoint_sha256"]
    assert store.steps_done() == ["ingest", "embed"] and leftovers(survey) == []
