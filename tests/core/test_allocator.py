"""The embedding engine keeps a batch's large tensors on the heap (desa_core/allocator.py).

Each check runs in a fresh interpreter, so that glibc starts from its defaults: it builds a
``DesaService`` (which tunes the allocator on the CPU), then mallocs a 40 MB block, the size of a
spectrum stem's activations, and reads glibc's ``mallinfo2().hblkhd`` (bytes in mmapped blocks)
before and after. With the tuning the block comes from the heap; without it glibc maps it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import ctypes, json
import torch
from desa_core.config import DesaConfig
from desa_core.model import DesaModel
from desa_core.serving import DesaService
from desa_core import allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
DesaService(DesaModel(DesaConfig.tiny()), device="cpu")
before = libc.mallinfo2().hblkhd
block = libc.malloc(40 * 1024 * 1024)
mapped = libc.mallinfo2().hblkhd - before
libc.free(block)
print(json.dumps({"tuned": allocator.tune(), "mapped_mb": mapped / 2**20}))
"""


def _probe(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environ.pop(allocator_switch(), None)
    environ.update(env, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def allocator_switch() -> str:
    from desa_core.allocator import ENV_SWITCH

    return ENV_SWITCH


def test_the_embedding_engine_takes_a_batchs_large_blocks_from_the_heap() -> None:
    tuned = _probe()
    assert tuned == {"tuned": True, "mapped_mb": 0.0}
    untuned = _probe(**{allocator_switch(): "0"})  # glibc's defaults: a 40 MB block is mapped
    assert untuned["tuned"] is False
    assert untuned["mapped_mb"] >= 40.0


def test_the_users_own_glibc_settings_win() -> None:
    mine = _probe(MALLOC_MMAP_THRESHOLD_=str(1024 * 1024))
    assert mine["tuned"] is False
    assert mine["mapped_mb"] >= 40.0  # their 1 MiB threshold, not ours
