"""Embedding throughput of the ``tiny`` and ``paper`` presets on the CPU, and their sizes.

Random-initialised weights (throughput does not depend on training); random inputs of the
presets' shapes, all pixels valid. Parameter counts per component sit next to the paper's
(docs SCIENCE.md sections 1.2-1.5). Goal (issues 5, 15): 1,000 stars/s or more on 2 cores for the
demo model (the ``tiny`` preset with the fusion of training/configs/demo.toml).

``DesaService`` runs one batch per core side by side (``desa_core/serving.py``); the baseline in
the same run is the schedule it replaced, one batch of 256 at a time split across the cores by
OpenMP. Stars per CPU-second (process time) are recorded too: unlike stars/s they barely move
when other jobs share the machine.

Dask scaling (``--scaling 1 2``): ``training.embed.embed_survey`` on a temporary synthetic store
(``benchmarks.fixtures``) with a random-initialised demo model, once per worker count; stars/s of
the engine's map over the tasks (``EmbedSummary.model_seconds``: inference and each worker's
loading of the model, without the cluster's start-up, the UMAP fit and the writes), the wall time
of the whole call, and the scaling efficiency, (stars/s with N) / (N x stars/s with 1). The store
holds four tasks' rows by default, so two workers get two each (with three, the ideal efficiency of
two workers would be 0.75). With N > 1 the time includes each worker's first import of torch and
load of the model; with 1 the tasks run in-process on the model the driver has already loaded.

    python -m benchmarks.bench_embed --stars 2048
    python -m benchmarks.bench_embed --scaling 1 2 --scaling-stars 1536 --task-rows 512
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
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
    config: Any = None,
) -> dict[str, Any]:
    """Stars per second of ``DesaService.embed`` for one preset and fusion (median of ``repeats``).

    ``config`` (a ``DesaConfig``) replaces the preset's, e.g. a run config's ``model_config()`` with
    its measured line indices.
    """
    import torch

    from desa_core.config import DesaConfig
    from desa_core.model import DesaModel
    from desa_core.serving import DesaService

    torch.manual_seed(0)
    config = config or DesaConfig.preset(name, fusion)
    start = time.perf_counter()
    model = _random_model(DesaModel, config)
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
        "measured_indices": bool(config.spectrum.measured_indices),
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


def _random_model(model_class: Any, config: Any) -> Any:
    """A random-initialised model; measured line indices, if any, standardised as N(0, 1).

    A trained model fits their statistics on its training split (``align.encode_all``); an unfitted
    model refuses to encode, so the benchmark sets neutral ones (the cost does not depend on them).
    """
    model = model_class(config)
    if model.spectrum_indices is not None:
        model.spectrum_indices.mean.zero_()
        model.spectrum_indices.std.fill_(1.0)
    return model


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
        if model.spectrum_indices is not None:  # as DesaModel.encode appends them
            start = time.perf_counter()
            indices = model.spectrum_indices(spec, spec_mask)
            spec_pooled = torch.cat((spec_pooled, indices), dim=-1)
            out["measured_line_indices"] = time.perf_counter() - start
        start = time.perf_counter()
        model.fuse(lc_pooled, spec_pooled)
        out["dualformer_projection_heads"] = time.perf_counter() - start
    out["batch_size"] = len(lc)
    return out


def bench_scaling(
    workers: tuple[int, ...] = (1, 2),
    n_stars: int | None = None,
    task_rows: int | None = None,
    max_fit: int = 500,
) -> dict[str, Any]:
    """``embed_survey`` with each count of Dask workers on one temporary synthetic store.

    ``n_stars`` defaults to four tasks' rows; ``task_rows`` (default ``training.embed.TASK_ROWS``)
    sets the rows per task for this call only, so small runs still make several tasks.
    """
    import torch

    from benchmarks.fixtures import write_synthetic_store
    from desa_core.checkpoint import save_checkpoint
    from desa_core.model import DesaModel
    from training import embed
    from training.config import load_config

    rows = int(task_rows or embed.TASK_ROWS)
    n = int(n_stars or 4 * rows)
    demo = load_config("demo")
    torch.manual_seed(0)
    folder = Path(tempfile.mkdtemp(prefix="bench_embed_scaling_"))
    saved_rows = embed.TASK_ROWS
    try:
        store = write_synthetic_store(folder / "survey", n=n)
        checkpoint = save_checkpoint(folder / "demo-random.pt", _random_model(DesaModel, demo.model_config()))
        embed.TASK_ROWS = rows
        out, first = [], None
        for count in workers:
            summary = embed.embed_survey(store, checkpoint, max_fit=max_fit, progress=False, workers=count)
            vectors = store.read_array("embedding")
            first = vectors if first is None else first
            rate = summary.n_stars / summary.model_seconds
            out.append(
                {
                    "workers": count,
                    "stars_per_s": rate,
                    "model_s": summary.model_seconds,
                    "wall_s": summary.seconds,
                    "same_vectors_as_first": bool(np.array_equal(vectors, first)),
                }
            )
            print(
                f"embed with {count} Dask worker(s): {rate:.0f} stars/s in the model "
                f"({summary.model_seconds:.1f} s), {summary.seconds:.1f} s wall",
                flush=True,
            )
    finally:
        embed.TASK_ROWS = saved_rows
        shutil.rmtree(folder, ignore_errors=True)
    one = next((m["stars_per_s"] for m in out if m["workers"] == 1), None)
    for m in out:
        m["efficiency"] = m["stars_per_s"] / (m["workers"] * one) if one else None
    return {
        "preset": demo.model,
        "fusion": demo.fusion,
        "n_stars": n,
        "task_rows": rows,
        "tasks": -(-n // rows),
        "max_fit": max_fit,
        "cuda": torch.cuda.is_available(),  # embed_survey runs one worker on a GPU
        "workers": out,
    }


def run(
    tiny_stars: int = 2048,
    paper_stars: int = 8,
    tiny_batch: int = 128,
    paper_batch: int = 4,
    presets: tuple[str, ...] = ("tiny", "demo", "paper"),
    scaling: tuple[int, ...] = (),
    scaling_stars: int | None = None,
    scaling_task_rows: int | None = None,
) -> dict[str, Any]:
    """The presets asked for, and ``goal_met``: the throughput goal of the "demo" model.

    "demo" is the model ``make demo`` ships: the preset and fusion of training/configs/demo.toml.
    ``scaling`` lists Dask worker counts for :func:`bench_scaling` (none: not run).
    """
    from training.config import load_config

    out: dict[str, Any] = {"goal_tiny_stars_per_s": GOAL_TINY_STARS_PER_S}
    if scaling:
        out["scaling"] = bench_scaling(tuple(scaling), scaling_stars, scaling_task_rows)
    if "tiny" in presets:
        out["tiny"] = bench_preset("tiny", tiny_stars, tiny_batch)
    if "demo" in presets:
        demo = load_config("demo")
        # The model `make demo` ships: preset, fusion and the measured line indices of its config.
        out["demo"] = bench_preset(
            demo.model, tiny_stars, tiny_batch, fusion=demo.fusion, config=demo.model_config()
        )
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
    parser.add_argument(
        "--scaling", type=int, nargs="*", default=[], help="Dask worker counts to compare (e.g. 1 2)"
    )
    parser.add_argument("--scaling-stars", type=int, default=None, help="default: four tasks' rows")
    parser.add_argument("--task-rows", type=int, default=None, help="rows per task (scaling only)")
    parser.add_argument("--scaling-only", action="store_true", help="skip the presets")
    args = parser.parse_args(argv)
    presets = () if args.scaling_only else ("tiny", "demo", "paper")
    result = run(
        args.stars,
        args.paper_stars,
        presets=presets,
        scaling=tuple(args.scaling),
        scaling_stars=args.scaling_stars,
        scaling_task_rows=args.task_rows,
    )
    for preset in presets:
        r = result[preset]
        print(f"{preset}: {r['stars_per_s']:.1f} stars/s; parameters {r['parameters']}")
    for m in result.get("scaling", {}).get("workers", []):
        eff = "" if m["efficiency"] is None else f", efficiency {m['efficiency']:.2f}"
        print(f"scaling, {m['workers']} worker(s): {m['stars_per_s']:.0f} stars/s{eff}")


if __name__ == "__main__":
    main()
