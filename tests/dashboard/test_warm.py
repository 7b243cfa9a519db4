"""What a serving process prepares before its first user (dashboard/warm.py)."""

from __future__ import annotations

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
