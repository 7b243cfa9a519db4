"""Server memory: RSS of a fresh process holding one session of the dashboard at N catalogue rows.

For each size a synthetic survey is written first (in this process), then a new Python process
does what ``panel serve`` does for the first session: ``load_catalog`` (the per-process cached
table), the shared state and the three linked views rendered into a Bokeh document, and one box
selection. It reports its RSS after each step and its peak (``/proc/self/status``), so the figure
excludes the data generation, and at the end how the RSS splits into anonymous memory (the
process's own) and file pages (memory-mapped columns, shared through the page cache by every
process that maps them), with the PSS (shared pages divided among the processes mapping them).
Goals: 2 GiB or less per process at 10^6 rows (issue 8) and at 10^7 rows (issue 19).

With ``--procs N`` the first measuring process runs alone (it may build the dashboard's column
files, dashboard/columns.py), then N more run at once on the same survey, as ``desa serve
--num-procs N`` workers would, and their summed RSS and PSS are reported while all N hold their
session.

    python -m benchmarks.bench_memory --sizes 1000000 10000000 --procs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import rss_bytes

GOAL_GIB_1E6 = 2.0
#: Issue 19: a dashboard at 10^7 stars per process in 2 GiB RSS or less.
GOAL_GIB_1E7 = 2.0
_GOALS = {1_000_000: GOAL_GIB_1E6, 10_000_000: GOAL_GIB_1E7}


def smaps_bytes(pid: int | str = "self") -> dict[str, int]:
    """RSS split (``/proc/<pid>/smaps_rollup``): ``anon``, ``file`` (mapped files) and ``pss``, bytes."""
    keys = {"Rss": "rss", "Pss": "pss", "Anonymous": "anon"}
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            out[keys[key]] = int(value.split()[0]) * 1024
    out["file"] = out["rss"] - out["anon"]
    return out


def measure(survey_dir: Path) -> dict[str, Any]:
    """In this process: RSS after imports, catalogue load, views rendered and one selection."""
    from benchmarks.bench_selection import OursPath

    steps = {"imports": rss_bytes()["rss"]}
    from dashboard.store import load_catalog

    start = time.perf_counter()
    catalog = load_catalog(survey_dir)
    steps["catalog_loaded"] = rss_bytes()["rss"]
    load_s = time.perf_counter() - start
    path = OursPath(catalog)
    steps["views_rendered"] = rss_bytes()["rss"]
    path.box((-1.0, -1.0, 1.0, 1.3))
    steps["after_selection"] = rss_bytes()["rss"]
    return {
        "n_rows": len(catalog),
        "catalog_bytes": int(catalog.memory_usage(deep=True).sum()),
        "load_catalog_s": load_s,
        "rss_bytes": steps,
        "peak_rss_bytes": rss_bytes()["peak_rss"],
        "smaps_bytes": smaps_bytes(),
    }


_CODE = (
    "import json, sys; from pathlib import Path; from benchmarks.bench_memory import measure; "
    "print(json.dumps(measure(Path(sys.argv[1]))), flush=True); sys.stdin.read()"
)


def _start(folder: Path) -> subprocess.Popen:
    """A measuring process; it holds its session until its stdin closes."""
    return subprocess.Popen(
        [sys.executable, "-c", _CODE, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )


def _measure_in(folder: Path, n_procs: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Run ``n_procs`` measuring processes at once; their records and summed RSS/PSS while all hold."""
    procs = [_start(folder) for _ in range(n_procs)]
    entries = []
    try:
        for proc in procs:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"memory measurement in {folder} failed:\n{proc.stderr.read()[-3000:]}")
            entries.append(json.loads(line))
        totals = {"rss": 0, "pss": 0, "anon": 0}
        for proc in procs:
            now = smaps_bytes(proc.pid)
            for key in totals:
                totals[key] += now[key]
    finally:
        for proc in procs:
            proc.stdin.close()
            proc.wait(timeout=120)
    return entries, totals


def run(sizes: tuple[int, ...] = (1_000_000,), workdir: Path | None = None, procs: int = 1) -> dict[str, Any]:
    from benchmarks.synthetic import synthetic_survey

    out = []
    for n in sizes:
        with synthetic_survey(n, workdir) as folder:
            (entry,), _ = _measure_in(folder, 1)
            if n in _GOALS:
                entry["goal"] = {"max_gib": _GOALS[n], "met": entry["peak_rss_bytes"] <= _GOALS[n] * 2**30}
            split = entry["smaps_bytes"]
            print(
                f"memory n={n:,}: peak RSS {entry['peak_rss_bytes'] / 2**30:.2f} GiB "
                f"(at the end: anonymous {split['anon'] / 2**30:.2f}, mapped files "
                f"{split['file'] / 2**30:.2f}, PSS {split['pss'] / 2**30:.2f} GiB)",
                flush=True,
            )
            if procs > 1:
                entries, totals = _measure_in(folder, procs)
                entry["procs"] = {
                    "n": procs,
                    "peak_rss_bytes": [e["peak_rss_bytes"] for e in entries],
                    "total_rss_bytes": totals["rss"],
                    "total_pss_bytes": totals["pss"],
                    "total_anon_bytes": totals["anon"],
                }
                print(
                    f"memory n={n:,}, {procs} processes at once: peak RSS "
                    + ", ".join(f"{e['peak_rss_bytes'] / 2**30:.2f}" for e in entries)
                    + f" GiB; total RSS {totals['rss'] / 2**30:.2f} GiB, total PSS "
                    f"{totals['pss'] / 2**30:.2f} GiB (anonymous {totals['anon'] / 2**30:.2f} GiB)",
                    flush=True,
                )
            out.append(entry)
    return {"sizes": out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--procs", type=int, default=1, help="then this many processes at once")
    args = parser.parse_args(argv)
    print(json.dumps(run(tuple(args.sizes), procs=args.procs), indent=2))


if __name__ == "__main__":
    main()
