"""Embedding throughput of the ``tiny`` and ``paper`` presets on the CPU, and their sizes.

Random-initialised weights (throughput does not depend on training); random inputs of the
presets' shapes, all pixels valid. Parameter counts per component sit next to the paper's
(docs SCIENCE.md sections 1.2-1.5). Goal (issues 5, 15): 1,000 stars/s or more on 2 cores for the
demo model (the ``tiny`` preset with the fusion of training/configs/demo.toml).

``DesaService`` runs one batch per core side by side (``desa_core/serving.py``); the baseline in
the same run is the schedule it replaced, one batch of 256 at a time split across the cores by
OpenMP. Stars per CPU-second (process time) are recorded too: unlike stars/s they barely move
when other jobs share the machine.

    python -m benchmarks.bench_embed --stars 2048
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from benchmarks.common import summarise

#: The paper's parameter counts (SCIENCE.md 1.2, 1.3, 1.5); the heads are not given there.
PAPER_PARAMS = {"lightcurve_encoder": 11_700_000, "spectrum_encoder": 523_000_000, "dualformer": 10_700_000}
GOAL_TINY_STARS_PER_S = 1000.0
#: The serving schedule before batches ran side by side: batches of 256, one at a time.
BASELINE_BATCH = 256


def _inputs(config: Any, n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lc_cfg, spec_cfg = config.lightcurve, config.spectrum
    lc = rng.standard_normal((n, lc_cfg.channels, lc_cfg.length), dtype=np.float32)
    spec = (1.0 + 0.05 * rng.standard_normal((n, spec_cfg.length))).astype(np.float32)
    return lc, np.ones((n, lc_cfg.length), bool), spec, np.ones((n, spec_cfg.length), bool)


def bench_preset(
    name: str,
    n_stars: int,
    batch_size: int,
    repeats: int = 3,
    *,
    fusion: str = "paper",
    baseline: bool = True,
) -> dict[str, Any]:
    """Stars per second of ``DesaService.embed`` for one preset and fusion (median of ``repeats``)."""
    import torch

    from desa_core.config import DesaConfig
    from desa_core.model import DesaModel
    from desa_core.serving import DesaService

    torch.manual_seed(0)
    config = DesaConfig.preset(name, fusion)
    start = time.perf_counter()
    model = DesaModel(config)
    build_s = time.perf_counter() - start
    counts = model.parameter_count()
    service = DesaService(model, device="cpu")
    inputs = _inputs(config, n_stars)
    warm = tuple(a[: min(2 * batch_size, n_stars)] for a in inputs)
    service.embed(*warm, batch_size=batch_size, progress=False)  # first-call allocations
    stats, cpu_s = _time_embed(service, inputs, repeats, batch_size=batch_size)
    base = {}
    if baseline:
        timing, _ = _time_embed(service, inputs, repeats, batch_size=BASELINE_BATCH, workers=1)
        base = {
            "baseline": {"label": f"one batch of {BASELINE_BATCH} at a time, OpenMP threads", **timing},
            "baseline_stars_per_s": n_stars / timing["median_s"],
            "ratio_to_baseline": timing["median_s"] / stats["median_s"],
        }
    return {
        **base,
        "components_s_per_batch": _components(model, inputs, batch_size),
        "preset": name,
        "fusion": fusion,
        "n_stars": n_stars,
        "batch_size": batch_size,
        "torch_threads": torch.get_num_threads(),
        "workers": torch.get_num_threads(),  # batches side by side (DesaService on the CPU)
        "build_s": build_s,
        "embed": stats,
        "stars_per_s": n_stars / stats["median_s"],
        "stars_per_cpu_s": n_stars / cpu_s,
        "parameters": {**counts, "total": int(sum(p.numel() for p in model.parameters()))},
        "paper_parameters": PAPER_PARAMS,
        "parameter_ratio_to_paper": {k: counts[k] / v for k, v in PAPER_PARAMS.items()},
    }


def _time_embed(service: Any, inputs: tuple[np.ndarray, ...], repeats: int, **kw: Any) -> tuple[dict, float]:
    """Wall-time statistics of ``repeats`` passes and the median process CPU seconds of one."""
    times, cpu = [], []
    n = len(inputs[0])
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        vectors = service.embed(*inputs, progress=False, **kw)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    if vectors.shape != (n, service.model.config.embedding_dim) or not np.isfinite(vectors).all():
        raise RuntimeError(f"embed returned {vectors.shape} or non-finite values")
    return summarise(times), float(np.median(cpu))


def _components(model: Any, inputs: tuple[np.ndarray, ...], batch_size: int) -> dict[str, float]:
    """Seconds per batch of each stage of the forward pass: where the embedding time goes."""
    import torch

    lc, lc_mask, spec, spec_mask = (torch.as_tensor(a[:batch_size]) for a in inputs)
    out = {}
    with torch.inference_mode():
        start = time.perf_counter()
        lc_pooled = model.lightcurve_encoder(lc, lc_mask).pooled
        out["lightcurve_encoder"] = time.perf_counter() - start
        start = time.perf_counter()
        spec_pooled = model.spectrum_encoder(spec, spec_mask).pooled
        out["spectrum_encoder"] = time.perf_counter() - start
        start = time.perf_counter()
        model.fuse(lc_pooled, spec_pooled)
        out["dualformer_projection_heads"] = time.perf_counter() - start
    out["batch_size"] = len(lc)
    return out


def run(
    tiny_stars: int = 2048,
    paper_stars: int = 8,
    tiny_batch: int = 128,
    paper_batch: int = 4,
    presets: tuple[str, ...] = ("tiny", "demo", "paper"),
) -> dict[str, Any]:
    """The presets asked for, and ``goal_met``: the throughput goal of the "demo" model.

    "demo" is the model ``make demo`` ships: the preset and fusion of training/configs/demo.toml.
    """
    from training.config import load_config

    out: dict[str, Any] = {"goal_tiny_stars_per_s": GOAL_TINY_STARS_PER_S}
    if "tiny" in presets:
        out["tiny"] = bench_preset("tiny", tiny_stars, tiny_batch)
    if "demo" in presets:
        demo = load_config("demo")
        out["demo"] = bench_preset(demo.model, tiny_stars, tiny_batch, fusion=demo.fusion)
        out["goal_met"] = out["demo"]["stars_per_s"] >= GOAL_TINY_STARS_PER_S
    if "paper" in presets:
        # The paper preset holds ~0.44 G parameters (1.8 GB): a few stars give its rate.
        repeats = 1 if paper_stars > 4 else 2
        out["paper"] = bench_preset("paper", paper_stars, paper_batch, repeats=repeats, baseline=False)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=2048, help="stars embedded with tiny")
    parser.add_argument("--paper-stars", type=int, default=8, help="stars embedded with paper")
    args = parser.parse_args(argv)
    result = run(args.stars, args.paper_stars)
    for preset in ("tiny", "demo", "paper"):
        r = result[preset]
        print(f"{preset}: {r['stars_per_s']:.1f} stars/s; parameters {r['parameters']}")


if __name__ == "__main__":
    main()
