"""The engine of the data-parallel stages (simulate, ingest, embed): Dask.

:func:`open_engine` owns the cluster and client: a ``distributed.LocalCluster`` sized to the
machine (one worker process per core, one thread each, bound to 127.0.0.1), or any running
scheduler named by ``scheduler=`` (``--scheduler`` on the command line) or by the environment
variable :data:`SCHEDULER_ENV` (a dask-jobqueue or Kubernetes cluster: docs/DEPLOY.md). With one
worker the same code runs on dask's synchronous executor in this process.

:meth:`Engine.map_chunks` is the one map-over-chunks of the three stages: each chunk is a task,
a pure function of the chunk; at most :attr:`Engine.window` tasks are in flight or waiting to be
handed back, so memory does not grow with the number of chunks; results come back in chunk
order, whatever order the workers finish them in, so the caller writes them in order (or the task
writes its own files, idempotently, keyed by what it holds). A worker that dies mid-task (killed,
out of memory) has its task run again elsewhere, up to :data:`ALLOWED_FAILURES` times; nothing it
wrote counts until its result is back. Workers read and write the paths the driver names: a remote
cluster must share the file system.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import dask
from dask.local import SynchronousExecutor
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

#: Environment variable naming a running Dask scheduler (``tcp://host:8786``), like ``--scheduler``.
SCHEDULER_ENV = "DESA_DASK_SCHEDULER"
#: Times a task may lose its worker (killed, out of memory) and be run again before the stage fails
#: (the scheduler's ``distributed.scheduler.allowed-failures``, for the clusters we start).
ALLOWED_FAILURES = 3
#: Tasks in flight per worker: enough to keep every worker busy while the driver writes results.
IN_FLIGHT_PER_WORKER = 2

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Engine:
    """Where the chunk tasks run: a Dask client's executor, or dask's synchronous one in-process."""

    executor: cf.Executor
    n_workers: int
    dashboard: str | None = None

    @property
    def window(self) -> int:
        """Chunks in flight or finished but not yet handed back, at most."""
        return max(1, IN_FLIGHT_PER_WORKER * self.n_workers)

    def map_chunks(
        self,
        fn: Callable[[T], R],
        chunks: Iterable[T],
        *,
        bar: tqdm | None = None,
        size: Callable[[T], int] = len,
    ) -> Iterator[R]:
        """Yield ``fn(chunk)`` for every chunk, in chunk order, running the chunks as Dask tasks.

        Parameters
        ----------
        fn
            A pure, importable function of one chunk (run again if its worker dies).
        chunks
            The chunks, consumed lazily: only :attr:`window` exist as tasks at a time.
        bar
            Progress bar advanced by ``size(chunk)`` as each task finishes (in any order).
        size
            The units of ``bar`` in one chunk (stars, files).

        Raises
        ------
        Exception
            The first task error in chunk order; the tasks still in flight are cancelled.
        """
        pending: dict[cf.Future, tuple[int, int]] = {}  # future -> (chunk index, size)
        finished: dict[int, cf.Future] = {}
        source = enumerate(chunks)
        next_out = 0
        exhausted = False
        try:
            while True:
                # Submit while the window has room: tasks in flight plus results not yet handed back.
                while not exhausted and len(pending) + len(finished) < self.window:
                    item = next(source, None)
                    if item is None:
                        exhausted = True
                        break
                    index, chunk = item
                    pending[self.executor.submit(fn, chunk)] = (index, size(chunk))
                if not pending and not finished:
                    return
                if next_out not in finished:
                    done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                    for future in done:
                        index, n = pending.pop(future)
                        finished[index] = future
                        if bar is not None:
                            bar.update(n)
                while next_out in finished:
                    yield finished.pop(next_out).result()
                    next_out += 1
        finally:
            for future in pending:
                future.cancel()


def apply_each(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """``[fn(item) for item in items]``: a chunk task made of a per-item function."""
    return [fn(item) for item in items]


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: ``scheduler`` if given, else :data:`SCHEDULER_ENV`, else None (start one)."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


@contextmanager
def open_engine(workers: int | None = None, scheduler: str | None = None) -> Iterator[Engine]:
    """The engine of one stage: connect to ``scheduler``, start a local cluster, or run in-process.

    Parameters
    ----------
    workers
        Worker processes of the local cluster (default: every CPU core); 1 runs the tasks in this
        process on dask's synchronous executor. Ignored when a scheduler is named.
    scheduler
        Address of a running Dask scheduler (default: the environment variable
        :data:`SCHEDULER_ENV`); its workers must see the same file system as this process.
    """
    address = scheduler_address(scheduler)
    if address is not None:
        yield from _connected(address)
        return
    n = int(workers) if workers else (os.cpu_count() or 1)
    if n <= 1:
        yield Engine(SynchronousExecutor(), 1)
        return
    yield from _local_cluster(n)


def _connected(address: str) -> Iterator[Engine]:
    from distributed import Client

    with Client(address) as client:
        n = max(1, sum(client.nthreads().values()))
        log.info("Dask scheduler %s: %d worker threads; dashboard %s", address, n, client.dashboard_link)
        yield Engine(client.get_executor(pure=False), n, client.dashboard_link)


def _local_cluster(n: int) -> Iterator[Engine]:
    from distributed import Client, LocalCluster

    # Only on this machine: scheduler, workers and dashboard listen on 127.0.0.1 (random ports).
    dashboard = _dashboard_address()
    with (
        _environ_restored(),
        _quiet("distributed"),
        dask.config.set(
            {
                "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                # Not Dask's 64 KiB heap trim in the workers: desa_core.allocator keeps a batch's
                # large tensors on the heap instead (with the trim, it stands back as for a user's
                # own setting): 2 workers embedded 472 stars/s with it, 927 without (16,384 stars).
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
            }
        ),
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=dashboard,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        link = client.dashboard_link if dashboard else None
        log.info("Dask local cluster: %d worker processes; dashboard %s", n, link or "off (no bokeh)")
        yield Engine(client.get_executor(pure=False), n, link)


@contextmanager
def _environ_restored() -> Iterator[None]:
    """Restore the driver's environment once the cluster is gone.

    distributed's nanny writes its workers' start-up variables (``OMP_NUM_THREADS=1``,
    ``MKL_NUM_THREADS=1``, ``MALLOC_TRIM_THRESHOLD_=65536``, ...) into the *driver's* ``os.environ``
    before spawning them and leaves them there. Every later subprocess of the driver (``desa
    train`` under torchrun, say) then ran with one thread and glibc trimming its heap at 64 KiB,
    and ``desa_core.allocator`` took the trim setting for the user's own and stood back: training
    steps after a simulate and ingest in the same process took 0.17 s instead of 0.105 s
    (``benchmarks/bench_pipeline.py``'s short run, 2026-12-06).
    """
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Warnings and errors only from logger ``name`` (a cluster's start-up and shut-down chatter)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _dashboard_address() -> Any:
    """127.0.0.1 on a free port when bokeh is installed (the dashboard needs it), else no dashboard."""
    import importlib.util

    return "127.0.0.1:0" if importlib.util.find_spec("bokeh") is not None else None


def chunked(items: list[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of ``items`` of ``size`` items (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = [
    "ALLOWED_FAILURES",
    "SCHEDULER_ENV",
    "Engine",
    "apply_each",
    "chunked",
    "open_engine",
    "scheduler_address",
]
