"""``panel serve --setup`` script of ``desa serve``: build one page in each worker before users come.

The first page a worker process builds costs about four times a later one (8.6 s of CPU against
2.3 s at 200,000 stars, ``benchmarks/bench_session.py``): imports, numba compilation of
datashader's kernels, the column files mapped and the process-wide base layers of
``dashboard/shared.py``. Panel runs this script once per process (with ``--num-procs`` > 1 as the
first callback of each worker's event loop, before it answers a session; with one process before
the server listens), so that cost is paid at start, not by whoever arrives first. The page goes
into a throwaway document that is dropped at once; a page that fails to build is logged, not
raised, so that a broken catalogue is still reported where it is served.

Then what the process holds for good (modules, compiled kernels, the shared base layers: about
half a million objects) is moved out of the garbage collector's sight (``gc.freeze``). Every
session adds ~70,000 objects, and a full collection, which blocks the event loop and with it
every user of the process, walked all of them: 0.4 s with one session at 10^6 stars, 1.7 s with
twenty (``benchmarks/bench_session.py``). The young generations are collected less often too
(``GC_THRESHOLD``): a page build makes objects by the hundred thousand, and collecting every 700
new ones is mostly wasted walking.

Panel itself forces a full collection about 5 s after each session ends. With 20 users reloading
(about ten page loads a minute at 10^6 stars) that was one every 25 s, each stopping the loop for
1.0–1.7 s (``gc.callbacks`` timings over 290 s of ``make soak``: all eleven full collections were
Panel's). ``pace_collections`` lets at most one through every ``GC_MIN_INTERVAL`` seconds; the
garbage of the sessions that ended meanwhile waits for it (an ended session is ~51,000 objects
and ~15 MB). Each collection then frees more and takes longer, 1.3–2.9 s in ``make soak`` (logged
by ``log_long_collections``), but the loop stopped 21 s in 11 minutes where Panel's
own pace (eleven stops in 290 s) gives ~34 s.

The datashader kernels a first selection or zoom would compile are compiled here too
(``warm_kernels``).
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("desa.serve")
#: The collector's thresholds in a serving process (Python's default: 700, 10, 10).
GC_THRESHOLD = (20_000, 20, 10)
#: Seconds between two of Panel's full collections at most (Panel: 5 s after each ended session).
GC_MIN_INTERVAL = 60.0
_last_full_collection = -float("inf")
#: A full collection at least this long is logged: it stopped every user of the process.
GC_LOG_S = 0.3
#: How that log line starts (``make soak`` finds it in the server's log: benchmarks/soak.py).
GC_LOG_LINE = "full garbage collection: the loop stopped"


def settle_collector() -> int:
    """Collect once, freeze what is left (kept for the process's life), raise the thresholds.

    Returns how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    return gc.get_freeze_count()


def paced_collection() -> None:
    """Panel's collection after a session ends, at most once every ``GC_MIN_INTERVAL`` seconds.

    Panel schedules this (``panel.io.document._garbage_collect``, task ``gc.collect``) when a
    session's document is destroyed (5 s after), and keeps at most one such task waiting. Run too
    early, it schedules itself again for when the interval has passed, so the collection is
    delayed, never dropped. (Panel's own version waits until no session has ended for 5 s, which
    a busy server may never see.)
    """
    global _last_full_collection
    import datetime as dt

    from panel.io.state import state

    now = time.monotonic()
    wait = _last_full_collection + GC_MIN_INTERVAL - now
    if wait > 0:
        state.schedule_task("gc.collect", paced_collection, at=dt.datetime.now() + dt.timedelta(seconds=wait))
        return
    _last_full_collection = now
    gc.collect()


def pace_collections() -> None:
    """Make Panel's end-of-session collection ``paced_collection`` in this process."""
    from panel.io import document

    document._garbage_collect = paced_collection


def log_long_collections() -> None:
    """Log each full collection of this process that takes ``GC_LOG_S`` or more.

    Such a collection stops every user of the process; ``make soak`` puts the lines beside its
    slow replies.
    """
    started: list[float] = []

    def timer(phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            took = time.perf_counter() - started.pop()
            if took >= GC_LOG_S:
                log.warning(
                    GC_LOG_LINE + " %.2f s (%d objects freed)",
                    took,
                    info.get("collected", 0),
                )

    gc.callbacks.append(timer)


def warm_up() -> float:
    """Build one page into a throwaway Bokeh document; seconds of CPU it took."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from dashboard import app

    start = time.process_time()
    doc = Document()
    with set_curdoc(doc), doc.models.freeze():
        app.build_app().server_doc(doc)
    doc.clear()
    return time.process_time() - start


def warm_kernels() -> float:
    """Compile the datashader kernels a first selection or zoom would compile; seconds of CPU.

    numba compiles a kernel on its first call: the selected stars' points and their spreading
    (an RGBA image), and each spreading width (1–3 px) of a view's counts or means, which a zoom
    or a sparse selection needs. A ``py-spy`` record of ``make soak`` caught one at 205 s: the
    loop stopped for 3.6 s and every user with it. The warm-up page has no selection and no zoom,
    so they are compiled here, on a few stars.
    """
    import numpy as np
    import pandas as pd
    import xarray as xr
    from datashader import transfer_functions as tf

    from dashboard.selected_layer import SelectedLayer

    start = time.process_time()
    rng = np.random.default_rng(0)
    stars = pd.DataFrame({"x": rng.random(64, dtype=np.float32), "y": rng.random(64, dtype=np.float32)})
    layer = SelectedLayer(stars, "x", "y", (0.0, 1.0), (0.0, 1.0), width=40, height=30)
    for selected in (np.arange(64) < 32, np.arange(64) < 2):  # dense (no spreading), sparse (spread)
        layer.update(selected)
        layer.image((0.0, 1.0), (0.0, 1.0))
    counts = xr.DataArray(np.zeros((9, 9), dtype=np.uint32), dims=("y", "x"))
    counts[4, 4] = 1
    tf.spread(tf.shade(counts, cmap=["#000000"]), px=1)  # RGBA: selections, categories
    for px in (1, 2, 3):  # one kernel per width, per value type
        for values in (counts, counts.astype(np.float32), counts.astype(np.float64)):
            tf.spread(values, px=px)
    return time.process_time() - start


if __name__ == "panel_setup_module":  # run by `panel serve --setup`, not when imported
    try:
        log.warning("worker warmed up: one page built in %.1f s of CPU", warm_up())
        log.info("datashader kernels compiled in %.1f s of CPU", warm_kernels())
    except Exception as exc:  # the served page reports a broken catalogue itself, with its traceback
        log.warning("worker warm-up failed (%s); the first session builds the page", type(exc).__name__)
    log.info("garbage collector: %d long-lived objects frozen", settle_collector())
    pace_collections()
    log_long_collections()
