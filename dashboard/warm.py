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
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("desa.serve")
#: The collector's thresholds in a serving process (Python's default: 700, 10, 10).
GC_THRESHOLD = (20_000, 20, 10)


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
