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

``--serve N`` adds the real thing (Chromium needed, so not in ``make bench``): ``panel serve
--num-procs N`` of the app on the same survey, ``--sessions`` browser pages opened one after the
other (Tornado hands them to the workers), and the RSS, peak RSS and PSS of every server process.
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


def _tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # not a process, or one that ended meanwhile
            continue
        children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        out.append(todo.pop())
        todo += children.get(out[-1], [])
    return out


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def serve(folder: Path, n_rows: int, procs: int = 2, sessions: int = 4) -> dict[str, Any]:
    """``panel serve --num-procs procs`` on the survey ``folder``; memory after ``sessions`` pages."""
    import os
    import signal

    from playwright.sync_api import sync_playwright

    import dashboard
    from benchmarks.bench_browser import _page_ready
    from benchmarks.common import CHROMIUM, CHROMIUM_FLAGS, free_port, load_average

    port = free_port()
    url = f"http://127.0.0.1:{port}/app"
    app = Path(dashboard.__file__).with_name("app.py")
    env = {**os.environ, "DESA_DATA_DIR": str(folder.parent), "DESA_SURVEY": folder.name}
    cmd = [sys.executable, "-m", "panel", "serve", str(app), "--address", "127.0.0.1", "--port", str(port)]
    log = folder.parent / f".panel-{port}.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*cmd, "--num-procs", str(procs)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    result: dict[str, Any] = {"n_rows": n_rows, "num_procs": procs, "sessions": sessions, "page_ready_s": []}
    try:
        deadline = time.monotonic() + 300
        while not _listening(port):  # not an HTTP request: a GET of the app would open a session
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"panel serve did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            pages = []  # kept open: every session holds its views until the measurement
            for _ in range(sessions):
                page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
                result["page_ready_s"].append(_page_ready(page, url, n_rows, 600_000))
                pages.append(page)
            processes = {}
            for pid in _tree_pids(server.pid):
                peak = rss_bytes(pid)["peak_rss"]
                processes[pid] = {**smaps_bytes(pid), "peak_rss": peak}
            browser.close()
        result["processes"] = list(processes.values())
        for key in ("rss", "pss", "anon"):
            result[f"total_{key}_bytes"] = sum(p[key] for p in processes.values())
        result["load_average"] = load_average()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.unlink(missing_ok=True)
    return result


def run(
    sizes: tuple[int, ...] = (1_000_000,),
    workdir: Path | None = None,
    procs: int = 1,
    serve_procs: int = 0,
    sessions: int = 4,
) -> dict[str, Any]:
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
            if serve_procs:
                entry["serve"] = serve(folder, n, serve_procs, sessions)
                record = entry["serve"]
                print(
                    f"memory n={n:,}, panel serve --num-procs {serve_procs}, {sessions} sessions: peak RSS "
                    + ", ".join(f"{p['peak_rss'] / 2**30:.2f}" for p in record["processes"])
                    + f" GiB; total RSS {record['total_rss_bytes'] / 2**30:.2f} GiB, total PSS "
                    f"{record['total_pss_bytes'] / 2**30:.2f} GiB",
                    flush=True,
                )
            out.append(entry)
    return {"sizes": out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--procs", type=int, default=1, help="then this many processes at once")
    parser.add_argument("--serve", type=int, default=0, help="then panel serve --num-procs SERVE (Chromium)")
    parser.add_argument("--sessions", type=int, default=4, help="browser sessions for --serve")
    args = parser.parse_args(argv)
    result = run(tuple(args.sizes), procs=args.procs, serve_procs=args.serve, sessions=args.sessions)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
