"""Embedding throughput of the ``tiny`` and ``paper`` presets on the CPU, and their sizes.

Random-initialised weights (throughput does not depend on training); random inputs of the
presets' shapes, all pixels valid. Parameter counts per component sit next to the paper's
(docs SCIENCE.md sections 1.2-1.5). Goal (issue 5): 1,000 stars/s or more for ``tiny`` on 2 cores.

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


def _inputs(config: Any, n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lc_cfg, spec_cfg = config.lightcurve, config.spectrum
    lc = rng.standard_normal((n, lc_cfg.channels, lc_cfg.length), dtype=np.float32)
    spec = (1.0 + 0.05 * rng.standard_normal((n, spec_cfg.length))).astype(np.float32)
    return lc, np.ones((n, lc_cfg.length), bool), spec, np.ones((n, spec_cfg.length), bool)


def bench_preset(name: str, n_stars: int, batch_size: int, repeats: int = 3) -> dict[str, Any]:
    """Stars per second of ``DesaService.embed`` for one preset (median of ``repeats`` passes)."""
    import torch

    from desa_core.config import DesaConfig
    from desa_core.model import DesaModel
    from desa_core.serving import DesaService

    torch.manual_seed(0)
    config = DesaConfig.preset(name)
    start = time.perf_counter()
    model = DesaModel(config)
    build_s = time.perf_counter() - start
    counts = model.parameter_count()
    service = DesaService(model, device="cpu")
    inputs = _inputs(config, n_stars)
    warm = tuple(a[: min(batch_size, n_stars)] for a in inputs)
    service.embed(*warm, batch_size=batch_size, progress=False)  # first-call allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        vectors = service.embed(*inputs, batch_size=batch_size, progress=False)
        times.append(time.perf_counter() - start)
    if vectors.shape != (n_stars, config.embedding_dim) or not np.isfinite(vectors).all():
        raise RuntimeError(f"{name}: embed returned {vectors.shape} or non-finite values")
    stats = summarise(times)
    return {
        "components_s_per_batch": _components(model, inputs, batch_size),
        "preset": name,
        "n_stars": n_stars,
        "batch_size": batch_size,
        "torch_threads": torch.get_num_threads(),
        "build_s": build_s,
        "embed": stats,
        "stars_per_s": n_stars / stats["median_s"],
        "parameters": {**counts, "total": int(sum(p.numel() for p in model.parameters()))},
        "paper_parameters": PAPER_PARAMS,
        "parameter_ratio_to_paper": {k: counts[k] / v for k, v in PAPER_PARAMS.items()},
    }


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
    tiny_batch: int = 256,
    paper_batch: int = 4,
    presets: tuple[str, ...] = ("tiny", "paper"),
) -> dict[str, Any]:
    """The presets asked for; ``goal_met`` for the tiny throughput goal."""
    out: dict[str, Any] = {"goal_tiny_stars_per_s": GOAL_TINY_STARS_PER_S}
    if "tiny" in presets:
        out["tiny"] = bench_preset("tiny", tiny_stars, tiny_batch)
        out["goal_met"] = out["tiny"]["stars_per_s"] >= GOAL_TINY_STARS_PER_S
    if "paper" in presets:
        # The paper preset holds ~0.44 G parameters (1.8 GB): a few stars give its rate.
        out["paper"] = bench_preset("paper", paper_stars, paper_batch, repeats=1 if paper_stars > 4 else 2)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=2048, help="stars embedded with tiny")
    parser.add_argument("--paper-stars", type=int, default=8, help="stars embedded with paper")
    args = parser.parse_args(argv)
    result = run(args.stars, args.paper_stars)
    for preset in ("tiny", "paper"):
        r = result[preset]
        print(f"{preset}: {r['stars_per_s']:.1f} stars/s; parameters {r['parameters']}")


if __name__ == "__main__":
    main()
