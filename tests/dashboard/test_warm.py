"""What a serving process prepares before its first user (dashboard/warm.py)."""

from __future__ import annotations

import re

import pytest

_FIRST_SELECTION = """
import sys
import numpy as np, pandas as pd, xarray as xr
from numba.core import event
from datashader import transfer_functions as tf
from dashboard import warm
from dashboard.selected_layer import SelectedLayer

if sys.argv[1] == "warm":
    warm.warm_kernels()
compiled = []

class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev)

    def on_end(self, ev):
        pass

event.register("numba:compile", Listener())
rng = np.random.default_rng(1)
stars = pd.DataFrame({"x": rng.random(5000, dtype=np.float32), "y": rng.random(5000, dtype=np.float32)})
layer = SelectedLayer(stars, "x", "y", (0.0, 1.0), (0.0, 1.0), width=300, height=200)
for n in (2500, 50, 3):  # a dense selection, then sparse ones that need spreading
    layer.update(np.arange(5000) < n)
    layer.image((0.0, 1.0), (0.0, 1.0))
counts = xr.DataArray(rng.poisson(0.01, (60, 80)).astype(np.uint32), dims=("y", "x"))
for values in (counts, counts.astype(np.float64)):  # a zoomed view's counts, or means
    tf.dynspread(values, max_px=3, threshold=0.5)
print(len(compiled))
"""


@pytest.mark.parametrize("warmed", [True, False])
def test_the_warm_up_compiles_what_a_first_sparse_selection_or_zoom_needs(warmed: bool) -> None:
    """After ``warm_kernels`` a first selection or zoom compiles nothing (it stopped the loop 3.6 s)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _FIRST_SELECTION, "warm" if warmed else "cold"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    compiled = int(out.stdout.split()[-1])
    if warmed:
        assert compiled == 0, f"{compiled} kernels compiled on a user's first selection or zoom"
    else:  # the check can fail: without the warm-up the same calls compile
        assert compiled > 0


def test_panel_collects_after_ended_sessions_at_most_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Panel's full collection after each ended session is paced, delayed and never dropped."""
    import datetime as dt
    import time

    from panel.io import document
    from panel.io.state import state

    from dashboard import warm

    monkeypatch.setattr(document, "_garbage_collect", document._garbage_collect)  # restored after
    warm.pace_collections()
    assert document._garbage_collect is warm.paced_collection  # what Panel schedules when a session ends

    collected: list[float] = []
    scheduled: list[float] = []
    monkeypatch.setattr(warm.gc, "collect", lambda: collected.append(time.monotonic()))

    def schedule_task(name, callback, at):
        assert (name, callback) == ("gc.collect", warm.paced_collection)
        scheduled.append((at - dt.datetime.now()).total_seconds())

    monkeypatch.setattr(state, "schedule_task", schedule_task)
    monkeypatch.setattr(warm, "_last_full_collection", -float("inf"))

    warm.paced_collection()  # the first: collects
    assert len(collected) == 1 and scheduled == []
    warm.paced_collection()  # too soon after the first: put off to a minute after it
    assert len(collected) == 1
    assert scheduled and warm.GC_MIN_INTERVAL - 2 < scheduled[-1] <= warm.GC_MIN_INTERVAL
    monkeypatch.setattr(warm, "_last_full_collection", time.monotonic() - warm.GC_MIN_INTERVAL + 10)
    warm.paced_collection()  # 50 s after the last one: waits 10 s more
    assert len(collected) == 1 and 8 < scheduled[-1] <= 10
    monkeypatch.setattr(warm, "_last_full_collection", time.monotonic() - warm.GC_MIN_INTERVAL - 1)
    warm.paced_collection()  # the interval is over: collects
    assert len(collected) == 2


def test_a_long_full_collection_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A full collection that stopped the loop names its length in the server's log; a short one does not."""
    import gc
    import logging

    from dashboard import warm

    before = list(gc.callbacks)
    warm.log_long_collections()
    timer = gc.callbacks[-1]
    try:
        with caplog.at_level(logging.WARNING, logger="desa.serve"):
            monkeypatch.setattr(warm, "GC_LOG_S", 0.0)
            gc.collect()
            gc.collect(1)  # a young generation: never logged
            monkeypatch.setattr(warm, "GC_LOG_S", 60.0)
            gc.collect()
    finally:
        gc.callbacks.remove(timer)
    assert gc.callbacks == before
    lines = [r.getMessage() for r in caplog.records if "garbage collection" in r.getMessage()]
    assert len(lines) == 1 and re.fullmatch(
        r"full garbage collection: the loop stopped [\d.]+ s \(\d+ objects freed\)", lines[0]
    )
    from benchmarks.soak import SERVER_EVENT  # the soak's timeline reads the line

    assert SERVER_EVENT.match("2026-12-07 05:19:11,171 " + lines[0])
