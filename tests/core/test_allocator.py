"""The embedding engine and the training loop keep a batch's large tensors on the heap.

desa_core/allocator.py. Each check runs in a fresh interpreter, so that glibc starts from its
defaults: it builds a ``DesaService`` (which tunes the allocator on the CPU) or runs the training
loop, then mallocs a 40 MB block, the size of a spectrum stem's activations, and reads glibc's
``mallinfo2().hblkhd`` (bytes in mmapped blocks) before and after. With the tuning the block comes
from the heap; without it glibc maps it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from desa_core.allocator import ENV_SWITCH

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

ROOT = Path(__file__).resolve().parents[2]

MALLINFO = r"""
import ctypes, json
from desa_core import allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
"""

MEASURE = r"""
before = libc.mallinfo2().hblkhd
block = libc.malloc(40 * 1024 * 1024)
mapped = libc.mallinfo2().hblkhd - before
libc.free(block)
print(json.dumps({"tuned": allocator.tune(), "mapped_mb": mapped / 2**20}))
"""

SERVICE = r"""
from desa_core.config import DesaConfig
from desa_core.model import DesaModel
from desa_core.serving import DesaService

DesaService(DesaModel(DesaConfig.tiny()), device="cpu")
"""

LOOP = r"""
import tempfile
from pathlib import Path
import torch
from torch import nn
from training.config import StageConfig
from training.loop import run_loop
from training.metrics import MetricLog

model, x = nn.Linear(2, 1), torch.randn(40, 2)
with tempfile.TemporaryDirectory() as tmp:
    run_loop(
        name="toy", model=model, trainable=[model],
        step=lambda rows, gen: {"loss": model(x[rows]).pow(2).mean()},
        train_rows=torch.arange(30), val_rows=torch.arange(30, 40),
        config=StageConfig(epochs=1, batch_size=10), state_path=Path(tmp) / "state.pt",
        metrics=MetricLog(Path(tmp) / "m.jsonl"), seed=0, progress=False,
    )
"""


def _probe(work: str = SERVICE, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != ENV_SWITCH}
    environ.update(env, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", MALLINFO + work + MEASURE],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_embedding_engine_takes_a_batchs_large_blocks_from_the_heap() -> None:
    assert _probe() == {"tuned": True, "mapped_mb": 0.0}
    untuned = _probe(**{ENV_SWITCH: "0"})  # glibc's defaults: a 40 MB block is mapped
    assert untuned["tuned"] is False
    assert untuned["mapped_mb"] >= 40.0


def test_every_training_path_gets_the_same_tuning() -> None:
    """``training.loop.run_loop`` (the stages, the baselines, ``desa ablate``) tunes as the engine does."""
    assert _probe(LOOP) == {"tuned": True, "mapped_mb": 0.0}


def test_the_users_own_glibc_settings_win() -> None:
    mine = _probe(MALLOC_MMAP_THRESHOLD_=str(1024 * 1024))
    assert mine["tuned"] is False
    assert mine["mapped_mb"] >= 40.0  # their 1 MiB threshold, not ours
