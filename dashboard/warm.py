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
new ones is mostly wasted walking. Panel's own full collection after each session ends is paced
(``paced_collect``).
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("desa.serve")
#: The collector's thresholds in a serving process (Python's default: 700, 10, 10).
GC_THRESHOLD = (20_000, 20, 10)
#: Panel's collection after a session ends runs only every this many times ...
COLLECT_EVERY = 5
#: ... or when this many seconds have passed since the last one [s].
COLLECT_INTERVAL_S = 60.0
_collections = {"skipped": 0, "last": 0.0}


def paced_collect() -> bool:
    """Panel's full collection after a session ends, run one time in ``COLLECT_EVERY``.

    Panel collects all generations about 5 s after each session ends; with twenty sessions open
    that walks every object of every session (0.2–0.9 s with the loop stopped) once per reload,
    6 % of the server's time in ``make soak``. Every ``COLLECT_EVERY``-th call (or after
    ``COLLECT_INTERVAL_S``) still collects, so at most a few ended sessions' cycles wait for
    it. Returns whether it collected.
    """
    now = time.monotonic()
    if _collections["skipped"] + 1 < COLLECT_EVERY and now - _collections["last"] < COLLECT_INTERVAL_S:
        _collections["skipped"] += 1
        return False
    gc.collect()
    _collections.update(skipped=0, last=time.monotonic())
    return True


def pace_panel_collections() -> None:
    """Make Panel's after-session collection ``paced_collect`` (``panel.io.document._garbage_collect``).

    Panel schedules that module function by its name when a session's document is destroyed;
    ``tests/dashboard/test_warm.py`` fails if a Panel release renames it.
    """
    from panel.io import document

    if not hasattr(document, "_garbage_collect"):
        log.warning("panel.io.document has no _garbage_collect: Panel's collections are not paced")
        return
    _collections["last"] = time.monotonic()
    document._garbage_collect = paced_collect


def settle_collector() -> int:
    """Collect once, freeze what is left (kept for the process's life), raise the thresholds.

    Returns how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    return gc.get_freeze_count()


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


if __name__ == "panel_setup_module":  # run by `panel serve --setup`, not when imported
    try:
        log.warning("worker warmed up: one page built in %.1f s of CPU", warm_up())
    except Exception as exc:  # the served page reports a broken catalogue itself, with its traceback
        log.warning("worker warm-up failed (%s); the first session builds the page", type(exc).__name__)
    log.info("garbage collector: %d long-lived objects frozen", settle_collector())
    pace_panel_collections()
