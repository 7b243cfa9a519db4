"""Pipeline throughput: simulation stars/s, ingest stars/s, training steps/s and time to the demo model.

``run(n_stars=200)`` simulates and ingests a small survey, then trains it with the ``demo`` run
config cut to ``epochs`` per stage (a short measured run). Steps per second come from the per-step
timestamps of the run's ``metrics.jsonl`` (validation excluded) and from the stage wall times
(validation included). From them it *estimates* the demo model's training time on the demo survey
(2,500 stars, the demo config's full epochs) and the 20,000-star simulation time; both are labelled
``estimated`` / ``extrapolated``. ``run(..., full=True)`` (``make bench-full``) measures both instead.

    python -m benchmarks.bench_pipeline --stars 200 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

DEMO_STARS = 2500
BIG_SIMULATION = 20_000


def simulate(folder: Path, n_stars: int, seed: int = 0) -> dict[str, Any]:
    from data.simulate import SurveyConfig, simulate_survey

    config = SurveyConfig(n_stars=n_stars, seed=seed)
    start = time.perf_counter()
    summary = simulate_survey(config, folder / "raw", rng=np.random.default_rng(seed), progress=False)
    seconds = time.perf_counter() - start
    if summary.n_written != n_stars:
        raise RuntimeError(f"simulation wrote {summary.n_written} of {n_stars} stars")
    return {
        "n_stars": n_stars,
        "seconds": seconds,
        "stars_per_s": n_stars / seconds,
        "workers": config.workers,
    }


def ingest(folder: Path, seed: int = 0) -> dict[str, Any]:
    from data.ingest import ingest_survey
    from data.storage import SurveyStore

    start = time.perf_counter()
    summary = ingest_survey(folder / "raw", SurveyStore(folder), seed=seed, progress=False)
    seconds = time.perf_counter() - start
    return {
        "n_stars": summary.n_stars,
        "n_quarantined": summary.n_quarantined,
        "seconds": seconds,
        "stars_per_s": summary.n_stars / seconds,
    }


def _steps_from_metrics(path: Path) -> dict[str, dict[str, float]]:
    """Per stage: training steps logged and the steps/s between the first and last step record."""
    times: dict[str, list[float]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "step" in record and "stage" in record:
            times[record["stage"]].append(record["time"])
    out = {}
    for stage, stamps in times.items():
        span = max(stamps) - min(stamps)
        out[stage] = {"steps": len(stamps), "steps_per_s": (len(stamps) - 1) / span if span > 0 else math.nan}
    return out


def _steps_per_epoch(n_train: int, batch_size: int) -> int:
    full, rest = divmod(n_train, batch_size)
    return full + (1 if rest > 1 else 0)


def train_short(folder: Path, epochs: int, config_name: str = "demo") -> dict[str, Any]:
    """Train ``config_name`` with every stage cut to ``epochs`` epochs; steps/s per stage."""
    from data.storage import SurveyStore
    from training.config import STAGES, load_config
    from training.run import train

    base = load_config(config_name)
    short = replace(
        base,
        name=f"bench_{config_name}",
        # max_steps = 0: the cut is in epochs, whatever budget the config gives in steps.
        **{s: replace(base.stage(s), epochs=epochs, max_steps=0) for s in STAGES},
    )
    store = SurveyStore(folder)
    start = time.perf_counter()
    summary = train(short, store, restart=True, progress=False)
    wall = time.perf_counter() - start
    steps = _steps_from_metrics(store.models_dir / short.name / "metrics.jsonl")
    stages = {}
    for result in summary.stages:
        logged = steps.get(result.name, {"steps": 0, "steps_per_s": math.nan})
        stages[result.name] = {
            "epochs": result.epochs,
            "seconds": result.seconds,
            "steps": logged["steps"],
            "steps_per_s_training": logged["steps_per_s"],
            "steps_per_s_with_validation": logged["steps"] / result.seconds if result.seconds else math.nan,
        }
    catalog = store.read_catalog(["split"])
    return {
        "config": config_name,
        "epochs_per_stage": epochs,
        "n_stars": len(catalog),
        "n_train": int((catalog["split"] == "train").sum()),
        "wall_s": wall,
        "stages": stages,
    }


def estimate_demo(short: dict[str, Any], demo_stars: int = DEMO_STARS, config_name: str = "demo") -> dict:
    """Demo training time at the short run's training-step rate (every epoch run, no early stop).

    Training steps only: validation passes and stage set-up are left out, and early stopping may
    end stages sooner, so this is a rough figure; ``make bench-full`` measures the real one.
    """
    from training.config import STAGES, load_config

    config = load_config(config_name)
    n_train = round(demo_stars * short["n_train"] / short["n_stars"])
    total, per_stage = 0.0, {}
    for stage in STAGES:
        cfg = config.stage(stage)
        steps = cfg.max_steps or cfg.epochs * _steps_per_epoch(n_train, cfg.batch_size)
        rate = short["stages"][stage]["steps_per_s_training"]
        if not math.isfinite(rate):  # a single logged step gives no interval
            rate = short["stages"][stage]["steps_per_s_with_validation"]
        per_stage[stage] = {"steps": steps, "seconds": steps / rate}
        total += steps / rate
    return {
        "label": "estimated from the short run's step rate (training steps only, no early stopping)",
        "seconds": total,
        "demo_stars": demo_stars,
        "stages": per_stage,
    }


def train_demo_full(folder: Path, config_name: str = "demo") -> dict[str, Any]:
    """The demo model as ``make demo`` trains it, measured."""
    from data.storage import SurveyStore
    from training.config import load_config
    from training.run import train

    config = load_config(config_name)
    store = SurveyStore(folder)
    start = time.perf_counter()
    summary = train(config, store, restart=True, progress=False)
    steps = _steps_from_metrics(store.models_dir / config.name / "metrics.jsonl")
    return {
        "label": "measured",
        "seconds": time.perf_counter() - start,
        "stages": {
            r.name: {"epochs": r.epochs, "seconds": r.seconds, **steps.get(r.name, {})}
            for r in summary.stages
        },
    }


def run(n_stars: int = 200, epochs: int = 2, full: bool = False, workdir: Path | None = None) -> dict:
    """Simulate, ingest and briefly train ``n_stars``; with ``full`` the demo model and 20k simulation."""
    import torch

    out: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        small = Path(tmp) / "small"
        out["simulation"] = simulate(small, n_stars)
        rate = out["simulation"]["stars_per_s"]
        out["simulation_20k"] = {
            "label": f"extrapolated from {n_stars} stars",
            "seconds": BIG_SIMULATION / rate,
        }
        out["ingest"] = ingest(small)
        out["train_short"] = train_short(small, epochs)
        out["demo_training"] = estimate_demo(out["train_short"])
        if full:
            big = Path(tmp) / "big"
            measured = simulate(big, BIG_SIMULATION)
            out["simulation_20k"] = {"label": "measured", **measured}
            demo = Path(tmp) / "demo"
            out["demo_simulation"] = simulate(demo, DEMO_STARS)
            out["demo_ingest"] = ingest(demo)
            out["demo_training"] = {**train_demo_full(demo), "estimate_from_short_run": out["demo_training"]}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="also the 20k simulation and the demo model")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.stars, args.epochs, args.full), indent=2))


if __name__ == "__main__":
    main()
