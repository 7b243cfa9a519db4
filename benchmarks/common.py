"""Shared helpers: timing statistics, hardware and version records, result files.

No side effects on import. Timings are wall-clock (``time.perf_counter``); every figure a benchmark
reports carries its baseline (when one applies) and the ratio, so noisy shared machines still give
a meaningful comparison.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from data.storage import atomic_write_text

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PACKAGES = (
    "numpy",
    "pandas",
    "torch",
    "holoviews",
    "bokeh",
    "panel",
    "datashader",
    "spatialpandas",
    "umap-learn",
    "pynndescent",
    "scikit-learn",
    "numba",
    "playwright",
)


def summarise(seconds: list[float]) -> dict[str, float]:
    """Median, p95, min and max of repeated timings (seconds), with the repeat count."""
    if not seconds:
        raise ValueError("no timings to summarise")
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_s": statistics.median(ordered),
        "p95_s": p95,
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "n": len(ordered),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once; return (seconds, its result)."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def ratio(baseline: float | None, ours: float | None) -> float | None:
    """How many times faster ours is than the baseline (None when either is missing or zero)."""
    if not baseline or not ours:
        return None
    return baseline / ours


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_busy_seconds() -> float | None:
    """CPU seconds every core of the machine has been busy since boot (/proc/stat), None elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process's children that have ended and been waited for."""
    times = os.times()
    return times.children_user + times.children_system


#: Cores of other jobs above which a run says its times are pessimistic.
OTHER_JOBS_CORES = 0.1


def other_jobs(busy_start: float | None, own_start: float, wall_s: float) -> dict[str, float] | None:
    """CPU the machine spent on anything but this process's (ended) children since the starts.

    ``busy_start``: ``machine_busy_seconds()`` then; ``own_start``: ``children_cpu_seconds()``
    then; ``wall_s``: the seconds since. The load average cannot say it: a benchmark's own server
    and browser keep it at several on 2 cores. None where /proc/stat is absent.
    """
    busy_end = machine_busy_seconds()
    if busy_start is None or busy_end is None or wall_s <= 0:
        return None
    own = children_cpu_seconds() - own_start
    other = max(0.0, busy_end - busy_start - own)
    return {"other_cpu_s": round(other, 1), "other_cores": round(other / wall_s, 2)}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for a report that names its machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


#: Iterations of ``python_loop_seconds``' loop (0.10 s on an idle AMD EPYC host of 7 Dec 2026).
CALIBRATION_LOOP = 3_000_000


def python_loop_seconds(repeats: int = 3) -> float:
    """Best of ``repeats`` timings of a fixed pure-Python loop on this process's CPU: the host's speed.

    The shared machines this project is measured on change from day to day (an AMD EPYC or an
    Intel Xeon, busy neighbours or not), and the same code's latencies move with them: a report
    gives this figure so that two runs can be compared (lower is faster).
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        total = 0
        for i in range(CALIBRATION_LOOP):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware() -> dict[str, Any]:
    """CPU model, cores available to this process, RAM, OS, and the load average now."""
    return {
        "cpu_model": cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": platform.platform(),
        "load_average_1_5_15": load_average(),
    }


def rss_bytes(pid: int | str = "self") -> dict[str, int]:
    """Resident set size now and its peak (``VmRSS``/``VmHWM`` of ``/proc/<pid>/status``), bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out["rss" if key == "VmRSS" else "peak_rss"] = int(value.split()[0]) * 1024
    return out


def tree_rss_bytes(pid: int) -> int:
    """Summed RSS of a process and its descendants (``panel serve`` may fork workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += rss_bytes(current).get("rss", 0)
        except OSError:
            continue
        todo.extend(children.get(current, []))
    return total


def write_result(name: str, result: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Write one benchmark's result as ``<results_dir>/<name>.json`` (atomically)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    atomic_write_text(path, json.dumps(result, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def gib(n_bytes: float | None) -> float | None:
    return None if n_bytes is None else n_bytes / 2**30


# --- browser and server helpers shared by the browser benchmark, the soak test and the UI tests ---
#: Debian's Chromium (never `playwright install`), with the flags of DASHBOARD.md section 4.2:
#: no sandbox in containers, no GPU, no network chatter.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


#: The lines around ``make soak``'s section of RESULTS.md (benchmarks/soak.py writes it;
#: benchmarks/report.py keeps it when it rewrites the file).
SOAK_SECTION = ("<!-- soak: begin (benchmarks/soak.py writes this section) -->", "<!-- soak: end -->")


def kept_soak_section(text: str) -> str | None:
    """The soak section of a RESULTS.md text, markers included, or None."""
    begin, end = SOAK_SECTION
    if begin not in text or end not in text.split(begin, 1)[1]:
        return None
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str, timeout: float = 30) -> bool:
    """Whether ``url`` answers HTTP 200 within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def desa_serve(
    data_root: Path,
    survey: str,
    *args: str,
    log_path: Path,
    cpus: set[int] | None = None,
    env: dict[str, str] | None = None,
    start_timeout: float = 120,
) -> Iterator[tuple[str, int]]:
    """Run ``desa serve --liveness`` on 127.0.0.1 in its own process group; yield (base URL, pid).

    ``args`` are more ``desa serve`` options; ``cpus`` pins the server with ``taskset`` where it
    exists; ``env`` adds environment variables. The server gets SIGTERM on exit (SIGKILL after 20 s).
    """
    port = free_port()
    pin = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus and shutil.which("taskset") else []
    cmd = [
        *pin,
        sys.executable,
        "-c",
        "import sys; from training.cli import main; sys.exit(main())",
        "serve",
        "--survey",
        survey,
        "--port",
        str(port),
        "--liveness",
        *args,
    ]
    environment = {**os.environ, "DESA_DATA_DIR": str(data_root), **(env or {})}
    repo = Path(__file__).resolve().parents[1]
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True, cwd=repo
        )
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + start_timeout
    try:
        while not answers(base + "/liveness"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"desa serve did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):  # stopped already (a test may stop it itself)
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
