"""Run the benchmarks and write ``benchmarks/results/*.json`` and ``benchmarks/RESULTS.md``.

    python -m benchmarks.run_all                  # make bench: 15 minutes or less on 2 cores
    python -m benchmarks.run_all --profile full   # make bench-full: the largest sizes
    python -m benchmarks.run_all --only selection umap

Each benchmark runs in its own Python process (fresh imports and JIT, its own memory), one after
another; a benchmark that fails is recorded with its error and the others still run. The load
average is recorded before and after each one, since other jobs on the machine skew timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BENCH_DIR,
    RESULTS_DIR,
    children_cpu_seconds,
    hardware,
    load_average,
    machine_busy_seconds,
    other_jobs,
    versions,
    write_result,
)
from benchmarks.synthetic import CACHE_ENV

#: name -> (module, keyword arguments of its ``run``) per profile.
PROFILES: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "quick": {
        "selection": (
            "benchmarks.bench_selection",
            {"sizes": [100_000, 1_000_000, 10_000_000], "repeats": 5, "large_repeats": 3},
        ),
        "browser": ("benchmarks.bench_browser", {"n_rows": 1_000_000, "repeats": 3, "warm_pages": 2}),
        "memory": ("benchmarks.bench_memory", {"sizes": [1_000_000, 10_000_000], "procs": 2}),
        # Dask scaling of embed_survey (1 vs 2 workers): four tasks of training.embed.TASK_ROWS stars.
        "embed": ("benchmarks.bench_embed", {"tiny_stars": 2048, "paper_stars": 4, "scaling": [1, 2]}),
        "pipeline": ("benchmarks.bench_pipeline", {"n_stars": 1000, "steps": 30}),
        # Streaming ingest: peak RSS and stars/s; the in-memory ingest it replaced and the Dask
        # engine's scaling (1 vs 2 workers) at the smaller size.
        "ingest": ("benchmarks.bench_ingest", {"sizes": [2_000, 10_000], "scaling": [1, 2]}),
        # (stars, fitted sample, plain-fit budget in s or None): the plain fit of 10^6 stars takes
        # 20-25 min here; stopped after 300 s it has reached its optimisation epochs, whose rate
        # gives the projection (checked on the 10^5 fit, which runs to the end).
        "umap": (
            "benchmarks.bench_umap",
            {"sizes": [[100_000, 10_000, None], [1_000_000, 100_000, "goal"]]},
        ),
    },
    "full": {
        "selection": (
            "benchmarks.bench_selection",
            {"sizes": [100_000, 1_000_000, 10_000_000], "repeats": 5},
        ),
        "browser": ("benchmarks.bench_browser", {"n_rows": 1_000_000, "repeats": 5, "warm_pages": 3}),
        "memory": ("benchmarks.bench_memory", {"sizes": [1_000_000, 10_000_000], "procs": 2}),
        # Base layers from aggregates against the points: 10^7, then 3 x 10^7 stars (a slim survey).
        "aggregates": ("benchmarks.bench_aggregates", {"sizes": [10_000_000, 30_000_000]}),
        "embed": ("benchmarks.bench_embed", {"tiny_stars": 8192, "paper_stars": 16, "scaling": [1, 2]}),
        "pipeline": ("benchmarks.bench_pipeline", {"n_stars": 2500, "steps": 40, "full": True}),
        # 10^5 stars write ~12 GB of files; 10^6 would need ~120 GB of disk (see the module).
        "ingest": ("benchmarks.bench_ingest", {"sizes": [10_000, 100_000], "scaling": [1, 2]}),
        "umap": (
            "benchmarks.bench_umap",
            {"sizes": [[100_000, 10_000, None], [1_000_000, 100_000, None]]},
        ),
    },
}
#: Small sizes for the smoke test and for trying the machinery (seconds to minutes).
PROFILES["smoke"] = {
    "selection": ("benchmarks.bench_selection", {"sizes": [1000], "repeats": 2}),
    "browser": ("benchmarks.bench_browser", {"n_rows": 3000, "repeats": 1, "warm_pages": 1}),
    "memory": ("benchmarks.bench_memory", {"sizes": [1000], "procs": 2}),
    "aggregates": ("benchmarks.bench_aggregates", {"sizes": [3000], "min_rows": 1000, "coarsest": 32}),
    "embed": (
        "benchmarks.bench_embed",
        {
            "tiny_stars": 16,
            "paper_stars": 1,
            "paper_batch": 1,
            "scaling": [1, 2],
            "scaling_stars": 64,
            "scaling_task_rows": 16,
        },
    ),
    "pipeline": ("benchmarks.bench_pipeline", {"n_stars": 20, "steps": 3}),
    "ingest": ("benchmarks.bench_ingest", {"sizes": [40, 80], "scaling": [1, 2]}),
    "umap": ("benchmarks.bench_umap", {"sizes": [[300, 100, None], [600, 100, 0.2]], "warmup": 200}),
}


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def run_one(name: str, profile: str) -> dict[str, Any]:
    """Run one benchmark in this process and return its record (never raises for a failed run)."""
    import importlib

    module_name, kwargs = PROFILES[profile][name]
    record: dict[str, Any] = {
        "benchmark": name,
        "profile": profile,
        "params": kwargs,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_start": load_average(),
    }
    start = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        record["result"] = module.run(**{k: _tuples(v) for k, v in kwargs.items()})
        record["status"] = "ok"
    except Exception as exc:  # recorded, so the other benchmarks still run
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()[-4000:]
    record["seconds"] = time.perf_counter() - start
    record["load_average_end"] = load_average()
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    names = sorted({name for profile in PROFILES.values() for name in profile})
    parser.add_argument("--only", nargs="+", choices=names, help="a subset (of the profile's)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        record = run_one(args.child, args.profile)
        write_result(args.child, record, args.results_dir)
        return 0 if record["status"] == "ok" else 1

    from benchmarks.report import write_report

    names = args.only or list(PROFILES[args.profile])
    run_record: dict[str, Any] = {
        "profile": args.profile,
        "command": " ".join(["python -m benchmarks.run_all", *(argv if argv is not None else sys.argv[1:])]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hardware": hardware(),
        "versions": versions(),
        "benchmarks": names,
    }
    start = time.perf_counter()
    busy_start, own_start = machine_busy_seconds(), children_cpu_seconds()
    # One folder of synthetic surveys for the whole run: each size is written once, then reused.
    surveys = tempfile.mkdtemp(prefix="desa_bench_surveys_")
    env = {**os.environ, CACHE_ENV: surveys}
    try:
        _run_children(names, args, env)
    finally:
        shutil.rmtree(surveys, ignore_errors=True)
    run_record["seconds"] = time.perf_counter() - start
    run_record["load_average_end"] = load_average()
    # Measured, not read from the load average (which the benchmarks' own servers keep high).
    run_record["other_jobs"] = other_jobs(busy_start, own_start, run_record["seconds"])
    write_result("run", run_record, args.results_dir)
    report = BENCH_DIR / "RESULTS.md" if args.results_dir == RESULTS_DIR else args.results_dir / "RESULTS.md"
    path = write_report(args.results_dir, report, names)
    print(f"wrote {path} in {run_record['seconds'] / 60:.1f} min")
    return 0 if all(_status(args.results_dir, n) == "ok" for n in names) else 1


def _run_children(names: list[str], args: argparse.Namespace, env: dict[str, str]) -> None:
    """Each benchmark in its own process, one after another; a crash is recorded, the rest still run."""
    for name in names:
        print(f"== {name} ({args.profile})", flush=True)
        t0 = time.perf_counter()
        busy_start, own_start = machine_busy_seconds(), children_cpu_seconds()
        cmd = [sys.executable, "-m", "benchmarks.run_all", "--profile", args.profile, "--child", name]
        proc = subprocess.run(
            [*cmd, "--results-dir", str(args.results_dir)], check=False, cwd=BENCH_DIR.parent, env=env
        )
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        if proc.returncode not in (0, 1):  # killed (memory?) before it could write its record
            failed = {"benchmark": name, "profile": args.profile, "status": "failed"}
            failed["error"] = f"the benchmark process exited with {proc.returncode} without a record"
            write_result(name, failed, args.results_dir)
        _add_other_jobs(args.results_dir, name, other_jobs(busy_start, own_start, time.perf_counter() - t0))
        print(f"== {name}: {status} in {time.perf_counter() - t0:.0f} s", flush=True)


def _add_other_jobs(results_dir: Path, name: str, other: dict[str, float] | None) -> None:
    """Add the CPU of other jobs during a benchmark (measured from outside it) to its record."""
    path = results_dir / f"{name}.json"
    if other is None or not path.is_file():
        return
    record = json.loads(path.read_text())
    record["other_jobs"] = other
    write_result(name, record, results_dir)


def _status(results_dir: Path, name: str) -> str:
    path = results_dir / f"{name}.json"
    return json.loads(path.read_text())["status"] if path.is_file() else "missing"


if __name__ == "__main__":
    sys.exit(main())
