"""The Dask engine of simulate, ingest and embed (data/engine.py).

One worker and a cluster of two give the same survey, store and embedding; a worker that dies
mid-task has its task run again, and every star is in the store once; ``--scheduler`` runs the
three commands on a cluster started elsewhere. Speed is measured in benchmarks/bench_ingest.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dask.local import SynchronousExecutor

from data import ingest, schema
from data.engine import SCHEDULER_ENV, Engine, apply_each
from data.ingest import ingest_survey
from data.ingest_star import _process
from data.simulate import SurveyConfig, simulate_survey
from data.storage import SurveyStore
from training.cli import main

N_STARS = 40
SEED = 3
#: The marker file and the light curve at which ``_dies_once`` kills its worker (read by the worker).
DIE_MARKER_ENV, DIE_AT_ENV = "DESA_TEST_DIE_MARKER", "DESA_TEST_DIE_AT"


@pytest.fixture(scope="module")
def scheduler() -> str:
    """A cluster started outside desa: two worker processes on 127.0.0.1."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> SurveyStore:
    """A survey simulated and ingested with one worker (dask's synchronous executor, in-process)."""
    root = tmp_path_factory.mktemp("one-worker")
    config = SurveyConfig(n_stars=N_STARS, seed=SEED, workers=1)
    simulate_survey(config, root / "raw", rng=np.random.default_rng(SEED), progress=False)
    store = SurveyStore(root)
    ingest_survey(root / "raw", store, progress=False, workers=1, chunk_stars=8)
    return store


def _assert_same_store(store: SurveyStore, reference: SurveyStore) -> None:
    cat = store.read_catalog()
    ref = reference.read_catalog()[cat.columns]  # the reference may be embedded already
    assert cat[schema.TARGET_ID].is_unique and len(cat) == len(ref) == N_STARS
    pd.testing.assert_frame_equal(
        cat.drop(columns=["kepler_path", "lamost_path"]), ref.drop(columns=["kepler_path", "lamost_path"])
    )
    for array in schema.INPUT_ARRAYS:
        np.testing.assert_array_equal(store.read_array(array.name), reference.read_array(array.name))


def test_chunks_come_back_in_order_with_a_bounded_number_in_flight() -> None:
    engine = Engine(SynchronousExecutor(), n_workers=2)
    drawn: list[int] = []

    def chunks():
        for i in range(30):
            drawn.append(i)
            yield [i]

    out = []
    for part in engine.map_chunks(_tenfold, chunks()):
        assert len(drawn) - len(out) <= engine.window, "chunks are drawn lazily, a window at a time"
        out += part
    assert out == [10 * i for i in range(30)]


def _tenfold(chunk: list[int]) -> list[int]:
    return apply_each(lambda i: 10 * i, chunk)


@pytest.mark.slow  # two clusters' start-up, an embedding and its UMAP fit, twice
def test_scheduler_runs_simulate_ingest_embed_with_the_results_of_one_worker(
    scheduler: str, reference: SurveyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import embed
    from training.shipped import check_weights

    survey = tmp_path / "two-workers"
    # simulate through the environment variable, ingest and embed through --scheduler.
    monkeypatch.setenv(SCHEDULER_ENV, scheduler)
    args = ["--survey-dir", str(survey), "--quiet"]
    assert main(["simulate", *args, "--n-stars", str(N_STARS), "--seed", str(SEED)]) == 0
    monkeypatch.delenv(SCHEDULER_ENV)
    ref_files = sorted(p.relative_to(reference.raw_dir) for p in reference.raw_dir.rglob("*.fits"))
    assert ref_files == sorted(p.relative_to(survey / "raw") for p in (survey / "raw").rglob("*.fits"))
    store = SurveyStore(survey)
    ingest_survey(survey / "raw", store, progress=False, chunk_stars=8, scheduler=scheduler)
    _assert_same_store(store, reference)

    monkeypatch.setattr(embed, "TASK_ROWS", 16)  # three tasks for 40 stars
    assert main(["embed", *args, "--shipped", "--scheduler", scheduler]) == 0
    weights = check_weights("demo", grids=reference.read_manifest().get("grids"))
    embed.embed_survey(reference, weights.path, progress=False, workers=1)
    np.testing.assert_array_equal(store.read_array("embedding"), reference.read_array("embedding"))
    pred = [c for c in reference.read_catalog().columns if c.startswith("pred_")]
    pd.testing.assert_frame_equal(store.read_catalog()[pred], reference.read_catalog()[pred])
    assert {"simulate_chunk", "apply_each", "embed_rows"} <= _prefixes_run_on(scheduler)


def _prefixes_run_on(address: str) -> set[str]:
    """The names of the task functions (without a leading ``_``) the scheduler at ``address`` has run."""
    from distributed import Client

    with Client(address) as client:
        return set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))


def _dies_once(task: tuple) -> object:
    """``_process``, but the worker exits (as if killed) the first time it reads one light curve."""
    marker = Path(os.environ[DIE_MARKER_ENV])
    if task[0] and str(task[0][0]) == os.environ[DIE_AT_ENV] and not marker.exists():
        marker.touch()
        os._exit(1)
    return _process(task)


@pytest.mark.slow  # a local cluster's start-up and a worker's restart
def test_a_worker_killed_mid_task_is_replaced_and_every_star_is_ingested_once(
    reference: SurveyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "died"
    victim = sorted((reference.raw_dir / "kepler").glob("*.fits"))[N_STARS // 2]
    monkeypatch.setenv(DIE_MARKER_ENV, str(marker))  # the worker processes inherit both
    monkeypatch.setenv(DIE_AT_ENV, str(victim))
    monkeypatch.setattr(ingest, "_process", _dies_once)
    store = SurveyStore(tmp_path / "survey")
    ingest_survey(reference.raw_dir, store, progress=False, workers=2, chunk_stars=8)
    assert marker.exists(), "a worker died"
    _assert_same_store(store, reference)


def test_a_local_cluster_leaves_this_processs_environment_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """distributed's nanny writes its workers' variables into the driver's environment; we undo it."""
    from data.engine import open_engine

    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DESA_TEST_KEPT", "yes")
    before = dict(os.environ)
    with open_engine(workers=2) as engine:
        assert list(engine.map_chunks(_squares, [[1], [2, 3]])) == [[1], [4, 9]]
        # The workers get one thread each, but not Dask's 64 KiB heap trim (desa_core.allocator).
        seen = list(engine.map_chunks(_worker_environ, [["OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_"]]))
        assert seen == [["1", None]]
    assert dict(os.environ) == before


def _squares(chunk: list[int]) -> list[int]:
    return [x * x for x in chunk]


def _worker_environ(names: list[str]) -> list[str | None]:
    return [os.environ.get(name) for name in names]
