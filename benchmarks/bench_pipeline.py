"""Pipeline throughput: simulation stars/s, ingest stars/s, training steps/s and time to the demo model.

``run()`` simulates and ingests a survey of the demo's size (2,500 stars), then trains it with the
``demo`` run config cut to ``steps`` steps per stage. The per-step and per-validation-pass times
come from the run's ``metrics.jsonl`` timestamps; from them it *projects* the demo model's training
time (the config's step budgets, one validation pass per epoch) on the demo survey and on 20,000
stars (goal, issue 15: ≤ 10 minutes on 2 idle cores), and extrapolates the 20,000-star simulation
time; all are labelled. ``run(..., full=True)`` (``make bench-full``) measures them: it simulates
and ingests 20,000 stars and trains the ``demo`` config on them as ``make demo-train`` does (two
data-parallel processes on two cores or more). The short run trains the same way (two torchrun
processes where there are two cores), so the projection is of the training ``make demo-train`` runs.

    python -m benchmarks.bench_pipeline --stars 2500 --steps 40
"""

from __future__ import annotations

import argparse
import itertools
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
#: Goal for training the ``demo`` config on BIG_SIMULATION stars on 2 idle cores (issue 15).
GOAL_TRAIN_20K_S = 600.0


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


def _stage_timings(path: Path) -> dict[str, dict[str, Any]]:
    """Per stage, from ``metrics.jsonl``: median seconds per training step and per validation pass.

    A step's time is the gap between consecutive step records within an epoch; a validation pass's
    time is the gap between an epoch's last step record and its ``val_loss`` record.
    """
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "stage" in record and "time" in record:
            records[record["stage"]].append(record)
    out: dict[str, dict[str, Any]] = {}
    for stage, rows in records.items():
        step_gaps, val_gaps = [], []
        for prev, cur in itertools.pairwise(rows):
            gap = cur["time"] - prev["time"]
            if "val_loss" in cur and "val_loss" not in prev:
                val_gaps.append(gap)
            elif "val_loss" not in cur and "val_loss" not in prev and cur.get("epoch") == prev.get("epoch"):
                step_gaps.append(gap)
        steps = sum(1 for r in rows if "val_loss" not in r)
        out[stage] = {
            "steps": steps,
            "validations": sum(1 for r in rows if "val_loss" in r),
            "step_s": float(np.median(step_gaps)) if step_gaps else math.nan,
            "validation_s": float(np.median(val_gaps)) if val_gaps else math.nan,
            "logged_s": rows[-1]["time"] - rows[0]["time"],  # first to last record of the stage
        }
    return out


_NO_TIMINGS = {"steps": 0, "validations": 0, "step_s": math.nan, "validation_s": math.nan}


def _steps_per_epoch(n_train: int, batch_size: int) -> int:
    full, rest = divmod(n_train, batch_size)
    return full + (1 if rest > 1 else 0)


def train_short(folder: Path, steps: int, config_name: str = "demo", procs: int = 1) -> dict[str, Any]:
    """Train ``config_name`` on the survey in ``folder`` with every stage cut to ``steps`` steps.

    ``procs`` > 1 trains as :func:`train_demo_full` does, in ``procs`` torchrun processes, the cut
    budgets passed as ``desa train --set`` overrides; 1 trains in this process.
    """
    from data.storage import SurveyStore
    from training.config import STAGES, load_config
    from training.run import train

    base = load_config(config_name)
    short = replace(
        base,
        name=f"bench_{config_name}",
        **{s: replace(base.stage(s), max_steps=steps) for s in STAGES},
    )
    store = SurveyStore(folder)
    start = time.perf_counter()
    if procs > 1:
        overrides = [f'name="{short.name}"', *(f"{stage}.max_steps={steps}" for stage in STAGES)]
        _train_processes(folder, config_name, procs, overrides)
        summary = None
    else:
        summary = train(short, store, restart=True, progress=False)
    wall = time.perf_counter() - start
    timings = _stage_timings(store.models_dir / short.name / "metrics.jsonl")
    stages = {}
    for name in STAGES:
        t = timings.get(name) or _NO_TIMINGS
        result = next((r for r in summary.stages if r.name == name), None) if summary else None
        seconds = result.seconds if result else t.get("logged_s", math.nan)
        stages[name] = {
            "epochs": result.epochs if result else None,
            "seconds": seconds,
            **t,
            "steps_per_s_training": 1.0 / t["step_s"] if t["step_s"] > 0 else math.nan,
            "steps_per_s_with_validation": t["steps"] / seconds if seconds > 0 else math.nan,
        }
    catalog = store.read_catalog(["split"])
    return {
        "config": config_name,
        "processes": procs,
        "steps_per_stage": steps,
        "n_stars": len(catalog),
        "n_train": int((catalog["split"] == "train").sum()),
        "wall_s": wall,
        "stages": stages,
    }


def estimate_demo(short: dict[str, Any], demo_stars: int = DEMO_STARS, config_name: str = "demo") -> dict:
    """Demo training time from the short run's measured step and validation-pass times.

    Per stage: its step budget times the median step time, plus one validation pass per epoch
    (an epoch of the demo survey's training split; the last, partial one too) times the median
    validation time, scaled by the demo survey's validation size. Early stopping can only make
    the real run shorter; ``make bench-full`` measures it.
    """
    from training.config import STAGES, load_config

    config = load_config(config_name)
    n_train = round(demo_stars * short["n_train"] / short["n_stars"])
    val_scale = demo_stars / short["n_stars"]
    total, per_stage = 0.0, {}
    for stage in STAGES:
        cfg = config.stage(stage)
        per_epoch = _steps_per_epoch(n_train, cfg.batch_size)
        steps = cfg.max_steps or cfg.epochs * per_epoch
        validations = math.ceil(steps / per_epoch)
        measured = short["stages"][stage]
        seconds = steps * measured["step_s"] + validations * measured["validation_s"] * val_scale
        per_stage[stage] = {"steps": steps, "validations": validations, "seconds": seconds}
        total += seconds
    return {
        "label": "projected from the measured step and validation times (no early stopping)",
        "seconds": total,
        "demo_stars": demo_stars,
        "stages": per_stage,
    }


def train_demo_full(folder: Path, config_name: str = "demo", procs: int = 1) -> dict[str, Any]:
    """The demo model as ``make demo-train`` trains it, measured.

    ``procs`` > 1 runs ``desa train --nproc-per-node procs`` (torchrun, one process per share of the
    cores, as the Makefile's ``TRAIN_PROCS``) in a subprocess and times its wall clock, launch
    included; 1 trains in this process.
    """
    from data.storage import SurveyStore
    from training.config import load_config
    from training.run import train

    config = load_config(config_name)
    store = SurveyStore(folder)
    start = time.perf_counter()
    if procs > 1:
        _train_processes(folder, config_name, procs)
    else:
        train(config, store, restart=True, progress=False)
    seconds = time.perf_counter() - start
    timings = _stage_timings(store.models_dir / config.name / "metrics.jsonl")
    return {
        "label": f"measured, {procs} process{'es' if procs > 1 else ''}",
        "seconds": seconds,
        "processes": procs,
        "stages": timings,
    }


def _train_processes(folder: Path, config: str, procs: int, overrides: list[str] = ()) -> None:
    """``desa train --nproc-per-node procs`` of ``config`` (``--set`` each override) in a subprocess.

    The OpenMP threads are split between the processes, as the Makefile's ``TRAIN_THREADS``.
    """
    import os
    import subprocess
    import sys

    threads = max(1, (os.cpu_count() or 1) // procs)
    command = [sys.executable, "-m", "training.cli", "train", "--survey-dir", str(folder)]
    command += ["--config", config, "--restart", "--quiet", "--nproc-per-node", str(procs)]
    command += [arg for override in overrides for arg in ("--set", override)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=sys.stderr)  # stdout keeps the JSON


def _train_procs() -> int:
    """The Makefile's default: two data-parallel processes where there are two cores or more."""
    import os

    return 1 if (os.cpu_count() or 1) < 2 else 2


def run(n_stars: int = DEMO_STARS, steps: int = 40, full: bool = False, workdir: Path | None = None) -> dict:
    """Simulate and ingest ``n_stars`` (the demo survey's size), train ``steps`` steps per stage.

    With ``full`` (``make bench-full``) also the 20,000-star simulation and the whole demo model,
    measured.
    """
    import torch

    out: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        small = Path(tmp) / "small"
        out["simulation"] = simulate(small, n_stars)
        rate = out["simulation"]["stars_per_s"]
        out["simulation_20k"] = {
            "label": f"extrapolated from {n_stars:,} stars",
            "seconds": BIG_SIMULATION / rate,
        }
        out["ingest"] = ingest(small)
        out["train_short"] = train_short(small, steps, procs=_train_procs())
        out["demo_training"] = estimate_demo(out["train_short"])
        out["training_20k"] = estimate_demo(out["train_short"], BIG_SIMULATION)
        if full:
            big = Path(tmp) / "big"
            measured = simulate(big, BIG_SIMULATION)
            out["simulation_20k"] = {"label": "measured", **measured}
            procs = _train_procs()
            out["demo_training"] = {
                **train_demo_full(small, procs=procs),
                "estimate_from_short_run": out["demo_training"],
            }
            out["ingest_20k"] = ingest(big)
            out["training_20k"] = {
                **train_demo_full(big, procs=procs),
                "estimate_from_short_run": out["training_20k"],
            }
    out["goal_training_20k_s"] = GOAL_TRAIN_20K_S
    out["goal_training_20k_met"] = out["training_20k"]["seconds"] <= GOAL_TRAIN_20K_S
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=DEMO_STARS)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--full", action="store_true", help="also the 20k simulation and the demo model")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.stars, args.steps, args.full), indent=2))


if __name__ == "__main__":
    main()
