"""Server memory: RSS of a fresh process holding one session of the dashboard at N catalogue rows.

For each size a synthetic survey is written first (in this process), then a new Python process
does what ``panel serve`` does for the first session: ``load_catalog`` (the per-process cached
table), the shared state and the three linked views rendered into a Bokeh document, and one box
selection. It reports its RSS after each step and its peak (``/proc/self/status``), so the figure
excludes the data generation. Goal (issue 8): 2 GiB or less per process at 10^6 rows.

    python -m benchmarks.bench_memory --sizes 1000000
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
    }


def run(sizes: tuple[int, ...] = (1_000_000,), workdir: Path | None = None) -> dict[str, Any]:
    from benchmarks.synthetic import synthetic_survey

    out = []
    for n in sizes:
        with synthetic_survey(n, workdir) as folder:
            code = (
                "import json, sys; from pathlib import Path; from benchmarks.bench_memory import measure; "
                "print(json.dumps(measure(Path(sys.argv[1]))))"
            )
            proc = subprocess.run(
                [sys.executable, "-c", code, str(folder)],
                capture_output=True,
                text=True,
                check=False,
                cwd=Path(__file__).resolve().parents[1],
            )
            if proc.returncode != 0:
                raise RuntimeError(f"memory measurement at n={n} failed:\n{proc.stderr[-3000:]}")
            entry = json.loads(proc.stdout.strip().splitlines()[-1])
            if n == 1_000_000:
                entry["goal"] = {
                    "max_gib": GOAL_GIB_1E6,
                    "met": entry["peak_rss_bytes"] <= GOAL_GIB_1E6 * 2**30,
                }
            out.append(entry)
            print(f"memory n={n:,}: peak RSS {entry['peak_rss_bytes'] / 2**30:.2f} GiB", flush=True)
    return {"sizes": out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args(argv)
    print(json.dumps(run(tuple(args.sizes)), indent=2))


if __name__ == "__main__":
    main()
