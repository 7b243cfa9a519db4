"""Keep a batch's large CPU tensors on the heap instead of fresh memory maps (glibc only).

glibc's ``malloc`` serves a request above its mmap threshold with a new ``mmap`` and unmaps it on
``free``. The threshold starts at 128 KiB and rises by itself only up to 32 MiB, and only after a
mapped block has been freed; torch's CPU allocator keeps no cache, so every large activation of
every batch (the spectrum stem's (128, 1920, 32) float32 GELU output is 31.5 MB) can be mapped,
page-faulted in zero-filled page by page, and unmapped again. Measured on the 2-core machine
(one thread, the ``demo`` model; ``docs/evaluation/readout.md``, "The allocator"): a batch of 128
stars embeds in 0.205-0.222 s with :func:`tune` against 0.227-0.271 s without, and a spectrum
pretraining step takes 0.164-0.166 s against 0.192-0.211 s (the light-curve step, whose tensors
are smaller, is unchanged).

:func:`tune` sets ``M_MMAP_THRESHOLD`` to 64 MiB, so such blocks come from the heap and are reused
batch after batch, and ``M_TRIM_THRESHOLD`` to 1 GiB, so a freed batch's memory is not handed back
to the kernel only to be faulted in again by the next one (setting either turns off glibc's own
adjustment of both, hence both). The cost is memory: the process keeps its peak working set
(a few hundred MB for the demo model's batches) instead of returning it between batches.

It is called where DESA computes in bulk: :class:`desa_core.serving.DesaService` (``desa embed``,
its Dask workers, ``desa evaluate``), ``training.run.train`` and ``training.loop.run_loop`` (every
training path: the stages, the baselines, ``desa ablate``). It does nothing on other C
libraries, when ``DESA_MALLOC_TUNING=0``, or when the user has set glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (theirs win).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: glibc's mallopt parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap: 64 MiB holds a batch of 256 stars' stem outputs.
#: Some glibc versions refuse more than 32 MiB (HEAP_MAX_SIZE / 2 on 64-bit); then that is used.
MMAP_THRESHOLD = 64 * 1024 * 1024
FALLBACK_MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the heap's top is returned to the kernel only above this.
TRIM_THRESHOLD = 1024 * 1024 * 1024
#: Set to "0" to leave glibc's defaults alone.
ENV_SWITCH = "DESA_MALLOC_TUNING"
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_state: dict[str, bool] = {}


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they are set.

    Safe to call many times and from any thread (mallopt takes glibc's own lock).
    """
    if "done" in _state:
        return _state["done"]
    _state["done"] = _apply()
    return _state["done"]


def _apply() -> bool:
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    if "threshold" in os.environ.get("GLIBC_TUNABLES", ""):  # glibc.malloc.{mmap,trim}_threshold
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mapped = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) or mallopt(M_MMAP_THRESHOLD, FALLBACK_MMAP_THRESHOLD)
    return bool(mapped) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
