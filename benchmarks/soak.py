"""Soak test: N concurrent users of one ``desa serve`` for M minutes, most of them protocol-level.

Twenty Chromium pages on the server's machine measure the browsers, not the server (issue 16,
item 7: 35 errors and a 249 s p95 first page when the load generator starved the server on 2
cores). Here:

* ``--sessions`` users in all, of which ``--browsers`` (default 2) are real Chromium pages
  (Playwright, Debian's /usr/bin/chromium) measuring what a person sees: page ready, box selection
  (drag on the UMAP until the expression shows the new box) and star card (click a selected star
  until the card names a new star);
* the others are protocol-level users (``benchmarks/soak_protocol.py``), all in one process of
  their own: each speaks Bokeh's server protocol on the page's websocket as bokehjs does, opens
  the served ``/app`` and sends the events a browser sends (box selection, expression + *Apply*,
  click on a star), timing each until the server's reply arrives; they parse the server's
  messages without building its models, so the load generator stays light, and the process
  that drives the browsers never waits for theirs;
* one page is opened and closed before the users arrive (the server's first session compiles
  and loads what later ones reuse; its time is reported apart, not counted);
* every user pauses ``--think`` seconds before each action (a person looks at the result) and
  reloads the page every ``--reload-every`` rounds (a new server session; the old one is
  cleaned up); users arrive ``--ramp`` seconds apart, and the clock starts once all have arrived;
  from there each user starts at a random point of its first round and has a reload round of
  its own (not in step: released together, 20 users acted and reloaded as a herd, a wave of
  reloads queueing ten page builds on the server at once — soak14 in benchmarks/RESULTS.md);
* the server runs on its own CPUs (``taskset -c --server-cpus``, default CPU 1) and this load
  generator, browsers included, on others (``--client-cpus``, default CPU 0); both CPU times
  are reported, with the machine's load average.

Reported in ``benchmarks/soak_results.json`` (or ``--out``): errors (timeouts, page errors, server
tracebacks; goal 0), p50/p95/max per action for protocol and browser users separately, page-ready
p95, the server's resident memory at ``--warm-at`` seconds (minute 2) and at the end (growth goal
≤ 10 %). ``--results-md benchmarks/RESULTS.md`` writes the run's section into that file. Server
log lines about a websocket closed by a reloading page are counted apart, not as errors; browser
console errors are reported, not counted.

    python -m benchmarks.soak                                      # make soak: 20 x 10 min, 10^6 stars
    python -m benchmarks.soak --sessions 6 --minutes 2 --stars 100000    # a short check
    python -m benchmarks.soak --url http://127.0.0.1:5006/app --data-dir ~/desa_data --survey demo

Nothing here is asserted on timings; ``tests/hardening/test_soak.py`` runs a short version and
asserts only that there were no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import queue as queue_module
import random
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from benchmarks import common, soak_protocol
from benchmarks.common import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    OTHER_JOBS_CORES,
    SOAK_SECTION,
    kept_soak_section,
    machine_busy_seconds,
    tree_rss_bytes,
)
from dashboard.warm import GC_LOG_LINE
from data.storage import SurveyStore

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "soak_results.json"
#: How long one action may take before it counts as an error (``--timeout``).
ACTION_TIMEOUT_MS = 120_000
#: How long a click waits for a new star card before it counts as a miss (between stars).
CARD_WAIT_MS = 60_000
#: Seconds between two users' arrivals: 20 users come within 80 s. A page costs the server about
#: 2.5 s of CPU at 10^6 stars, so twenty arriving in 20 s (the earlier default, 1 s) queue 50 s
#: of page builds on one core: that measures a class starting together, not a day's use.
DEFAULT_RAMP_S = 4.0
#: Seconds of RSS readings (one a second) whose median is the warm and the end memory.
RSS_WINDOW_S = 30.0
#: Stars whose UMAP positions the protocol users click on.
CLICK_SAMPLE = 2000
#: The section of RESULTS.md this soak writes (``--results-md``), between these two lines.
MD_BEGIN, MD_END = SOAK_SECTION
GOALS = {
    "errors": 0,
    "browser_select_p95_s": 1.0,
    "browser_card_p95_s": 1.0,
    "browser_page_p95_s": 8.0,
    "rss_growth_pct": 10.0,
}


# --- the server -----------------------------------------------------------------------------------


def write_synthetic(data_root: Path, survey: str, n: int) -> None:
    """A synthetic survey of ``n`` stars (benchmarks/synthetic.py: vectorised, 10^6 in seconds)."""
    from benchmarks.synthetic import write_synthetic_survey

    write_synthetic_survey(data_root / survey, n=n, seed=0)


def cpu_list(text: str) -> set[int] | None:
    """``"1"``, ``"0,2"`` or ``"2-3"`` as a set of CPU numbers; None for ``""`` (no pinning)."""
    cpus: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus or None


@contextmanager
def desa_serve(
    data_root: Path, survey: str, num_procs: int, log_path: Path, cpus: set[int] | None = None
) -> Iterator[tuple[str, int]]:
    """``desa serve`` with ``num_procs`` processes on ``cpus``, one OpenMP thread; yields (app URL, pid)."""
    with common.desa_serve(
        data_root,
        survey,
        "--num-procs",
        str(num_procs),
        log_path=log_path,
        cpus=cpus,
        env={"OMP_NUM_THREADS": "1"},
        start_timeout=600,
    ) as (base, pid):
        wait_for_workers(log_path, num_procs)
        yield base + "/app", pid


#: A server log line of a page arriving or leaving (its websocket) or of a long full garbage
#: collection (dashboard/warm.py), with its local timestamp.
SERVER_EVENT = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) "
    rf"(WebSocket connection \w+|ServerConnection \w+|{re.escape(GC_LOG_LINE)} [\d.]+ s)"
)
#: What each server worker logs once its warm-up page is built (dashboard/warm.py).
WARM_LINE = re.compile(r"worker warm(ed up|-up failed)")


def wait_for_workers(log_path: Path, num_procs: int, timeout: float = 600.0) -> int:
    """Wait until each of the server's ``num_procs`` workers has logged its warm-up; how many did.

    The server answers ``/liveness`` from the first worker that listens, while the others may
    still be building their warm-up page: users who arrived then would time the server's start,
    not its service. A server without the warm-up (none logged after ``timeout``) is not waited
    for past it.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len(WARM_LINE.findall(log_path.read_text(errors="replace"))) if log_path.is_file() else 0
        if done >= num_procs:
            return done
        time.sleep(0.5)
    return done


def _tree(pid: int, exclude: int | None = None) -> list[int]:
    """``pid`` and its descendants, without ``exclude`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):  # a process that ended meanwhile
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current == exclude:
            continue
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _other_jobs(cpu: dict[str, Any], machine: dict[str, Any]) -> str:
    """The report's line on other jobs: measured as the machine's busy CPU less the soak's own.

    The load average cannot say it: the soak's own server workers, browsers and users keep it at
    several on 2 cores.
    """
    if cpu.get("other_cores") is None:
        return f"1-min load up to {machine['load_average_1min_max']} (other jobs not measured).\n"
    if cpu["other_cores"] > OTHER_JOBS_CORES:
        return (
            f"**Other jobs were running**: {cpu['other_cpu_s']} CPU-s ({cpu['other_cores']} cores) "
            "beside the server and the load generator, so latencies are pessimistic.\n"
        )
    return (
        f"No other jobs: everything but the server and the load generator used {cpu['other_cpu_s']} "
        f"CPU-s ({cpu['other_cores']} cores); the load average is the soak's own.\n"
    )


def tree_cpu_seconds(pid: int, exclude: int | None = None) -> float:
    """CPU time (user + system, with reaped children's) of ``pid`` and its descendants.

    ``exclude``: a descendant whose subtree is not counted (the load generator's own server).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in _tree(pid, exclude):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / ticks


# --- the users ------------------------------------------------------------------------------------
@dataclass
class Stats:
    """Browser users: latencies (s) per action and their errors."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"page": [], "select": [], "card": []})
    #: (wall-clock time of the reply, action, latency) of every sample: the report's timeline.
    timeline: list[tuple[float, str, float]] = field(default_factory=list)

    def add(self, action: str, seconds: float) -> None:
        self.latencies[action].append(seconds)
        self.timeline.append((time.time(), action, seconds))

    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    cards_skipped: int = 0
    cards_missed: int = 0
    actions: int = 0


async def _load(page: Any, url: str, stats: Stats) -> bool:
    from playwright.async_api import expect

    start = time.perf_counter()
    try:
        await page.goto(url, timeout=ACTION_TIMEOUT_MS)
        await expect(page.locator(".bk-Canvas")).to_have_count(4, timeout=ACTION_TIMEOUT_MS)
        await expect(page.get_by_text(re.compile(r"^Selected: \d+ / \d+$"))).to_be_visible(
            timeout=ACTION_TIMEOUT_MS
        )
    except Exception as exc:  # a load that fails is an error of the run, not a crash of the script
        stats.errors.append(f"load: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return False
    stats.add("page", time.perf_counter() - start)
    return True


#: In-page state of a browser user: the page's own elements found once (through the open shadow
#: roots Bokeh and Panel render in) and read on every poll. Waiting is done by the page
#: (``wait_for_function``), not by a loop of Playwright queries from here: a text search of the
#: whole page every 50 ms costs Chromium more CPU than the page itself, on the core the other
#: browser needs, and a slow reply then slows every browser of the run.
_JS_PRELUDE = r"""
const soak = window.__soak || (window.__soak = {});
const deepFirst = (selector, root = document) => {
  const found = root.querySelector(selector);
  if (found) return found;
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) {
      const inner = deepFirst(selector, el.shadowRoot);
      if (inner) return inner;
    }
  }
  return null;
};
const cached = (key, find) => {
  if (!soak[key] || !soak[key].isConnected) soak[key] = find();
  return soak[key];
};
const deepText = (node) => {
  let out = node.shadowRoot ? deepText(node.shadowRoot) : '';
  for (const child of node.childNodes) out += child.nodeType === 3 ? child.textContent : deepText(child);
  return out;
};
const expression = () => {
  const el = cached('expression', () => {
    const host = deepFirst('.selection-expression');
    return host && (deepFirst('textarea', host.shadowRoot || host) || deepFirst('textarea', host));
  });
  return el ? el.value : null;
};
const cardTitle = () => {
  const el = cached('card', () => deepFirst('.star-card-header'));
  const match = el ? deepText(el).match(/KIC \d+ · row \d+/) : null;
  return match ? match[0] : null;
};
"""
_JS_EXPRESSION = f"() => {{ {_JS_PRELUDE} return expression(); }}"
_JS_NEW_BOX = (
    f"(before) => {{ {_JS_PRELUDE} const v = expression(); "
    "return v !== null && v !== before && v.includes('box('); }"
)
_JS_CARD = f"() => {{ {_JS_PRELUDE} return cardTitle(); }}"
_JS_NEW_CARD = f"(before) => {{ {_JS_PRELUDE} const t = cardTitle(); return t !== null && t !== before; }}"
#: How often the page checks for a reply (ms).
POLL_MS = 50


async def _select(page: Any, rng: random.Random, stats: Stats) -> None:
    umap = page.locator(".bk-Canvas").nth(0)
    box = await umap.bounding_box()
    before = await page.evaluate(_JS_EXPRESSION)
    x0, y0 = rng.uniform(0.2, 0.45), rng.uniform(0.2, 0.45)
    x1, y1 = x0 + rng.uniform(0.15, 0.35), y0 + rng.uniform(0.15, 0.35)
    await page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    await page.mouse.down()
    await page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=8)
    start = time.perf_counter()
    await page.mouse.up()
    try:
        await page.wait_for_function(_JS_NEW_BOX, arg=before, polling=POLL_MS, timeout=ACTION_TIMEOUT_MS)
    except Exception as exc:  # playwright's TimeoutError, or the page went away
        stats.errors.append(
            f"select: the expression did not change within {ACTION_TIMEOUT_MS} ms ({type(exc).__name__})"
        )
        return
    stats.add("select", time.perf_counter() - start)


def _star_pixel(png: bytes, rng: random.Random) -> tuple[float, float] | None:
    """A pixel drawn in the selection colour (magenta #e6007e), i.e. on a selected star."""
    import io

    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    ys, xs = np.nonzero((r > 180) & (g < 110) & (b > 70) & (b < 210) & (r - b > 40))
    if xs.size < 20:
        return None
    i = rng.randrange(xs.size)
    return float(xs[i]), float(ys[i])


async def _card(page: Any, rng: random.Random, stats: Stats) -> None:
    if await page.locator(".star-card").count() == 0:
        stats.cards_skipped += 1  # the star card is not on this page (yet): nothing to time
        return
    before = await page.evaluate(_JS_CARD)
    umap = page.locator(".bk-Canvas").nth(0)
    box = await umap.bounding_box()
    x, y = _star_pixel(await umap.screenshot(), rng) or (
        rng.uniform(0.3, 0.7) * box["width"],
        rng.uniform(0.3, 0.7) * box["height"],
    )
    start = time.perf_counter()
    await page.mouse.click(box["x"] + x, box["y"] + y)
    try:
        await page.wait_for_function(_JS_NEW_CARD, arg=before, polling=POLL_MS, timeout=CARD_WAIT_MS)
    except Exception:  # playwright's TimeoutError: no new card
        # A click can land between stars (none within the click radius) or on the card's own star.
        stats.cards_missed += 1
        return
    stats.add("card", time.perf_counter() - start)


async def _browser_user(
    browser: Any,
    url: str,
    index: int,
    clock: soak_protocol.SharedClock,
    stats: Stats,
    *,
    think_s: tuple[float, float],
    reload_every: int,
    start_delay: float,
) -> None:
    """Load, wait until every user has arrived, then act until ``clock.until``."""
    rng = random.Random(index)
    await asyncio.sleep(start_delay)
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda exc: stats.errors.append(f"browser {index}: page error: {exc}"[:300]))
    page.on(
        "console",
        lambda msg: (
            # A failed resource names itself only in the message's location.
            stats.console_errors.append(f"browser {index}: {msg.text} ({msg.location.get('url', '?')})"[:300])
            if msg.type == "error"
            else None
        ),
    )
    loaded = False
    try:
        try:
            loaded = await _load(page, url, stats)
        finally:  # a user that fails to load must not hold the others at the barrier
            clock.arrived()
        await asyncio.to_thread(clock.warm.wait)
        # Not in step with the other users (soak_protocol.User): a start within one round and a
        # reload round of its own.
        phase = rng.randrange(max(1, reload_every))
        await asyncio.sleep(rng.uniform(0.0, 2 * think_s[1]))
        n = 0
        while loaded:
            await asyncio.sleep(rng.uniform(*think_s))
            await _select(page, rng, stats)
            await asyncio.sleep(rng.uniform(*think_s))
            await _card(page, rng, stats)
            stats.actions += 2
            n += 1
            if time.monotonic() >= clock.until:
                break  # at least one round each, then until the clock runs out
            if (n + phase) % reload_every == 0:
                loaded = await _load(page, url, stats)
    except Exception as exc:
        stats.errors.append(f"browser {index}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await context.close()


def click_sample(data_dir: Path | None, survey: str) -> soak_protocol.Stars | None:
    """UMAP positions of ``CLICK_SAMPLE`` random stars of the survey's current generation, or None."""
    if data_dir is None:
        return None
    catalog = SurveyStore(Path(data_dir) / survey).catalog_path
    table = pq.read_table(catalog, columns=["umap_x", "umap_y"]).to_pandas().dropna()
    rows = np.random.default_rng(0).choice(len(table), min(CLICK_SAMPLE, len(table)), replace=False)
    return soak_protocol.Stars(table["umap_x"].to_numpy()[rows], table["umap_y"].to_numpy()[rows])


async def _drive(
    url: str, plan: dict[str, Any], stars: soak_protocol.Stars | None, pid: int | None
) -> tuple[Stats, soak_protocol.Recorder, dict[str, Any]]:
    """Run every user; the ``seconds`` of load start once every user has arrived."""
    from playwright.async_api import async_playwright

    stats = Stats()
    n_browsers, n_protocol = plan["browsers"], plan["sessions"] - plan["browsers"]
    # The protocol users run in a process of their own (spawned before any browser thread exists):
    # the browsers' driver below must not wait for their work to measure what a person sees.
    ctx = multiprocessing.get_context("spawn")
    clock = soak_protocol.SharedClock(ctx, plan["sessions"], plan["seconds"])
    think, ramp = tuple(plan["think_s"]), plan["ramp_s"]
    # One page before the users arrive, not counted: the server's first session pays for imports,
    # numba compilation and the column files, which no later user waits for.
    monitor: dict[str, Any] = {"rss_samples": [], "load_samples": []}
    if plan["warm_up"]:
        monitor["warm_up_page_s"] = round(await soak_protocol.warm_up(url, ACTION_TIMEOUT_MS / 1000), 2)
    queue = ctx.Queue()
    options = {
        "timeout": ACTION_TIMEOUT_MS / 1000,
        "think_s": think,
        "reload_every": plan["reload_every"],
        "first_delay": n_browsers * ramp,
        "ramp_s": ramp,
    }
    users = ctx.Process(
        target=soak_protocol.users_process,
        args=(queue, url, n_protocol, stars, clock, options),
        name="soak-protocol-users",
        daemon=True,
    )
    users.start()
    rec_dict: dict[str, Any] | None = None
    me = os.getpid()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        tasks = [
            asyncio.create_task(
                _browser_user(
                    browser,
                    url,
                    i,
                    clock,
                    stats,
                    think_s=think,
                    reload_every=plan["reload_every"],
                    start_delay=i * ramp,
                )
            )
            for i in range(n_browsers)
        ]
        warm_at = min(plan["warm_at_s"], 0.5 * plan["seconds"])
        while not (all(t.done() for t in tasks) and rec_dict is not None):
            now = time.monotonic()
            if rec_dict is None:
                with contextlib.suppress(queue_module.Empty):
                    rec_dict = queue.get_nowait()
                if rec_dict is None and not users.is_alive() and users.exitcode is not None:
                    with contextlib.suppress(queue_module.Empty):
                        rec_dict = queue.get(timeout=2.0)
                    if rec_dict is None:
                        rec_dict = {
                            "latencies": soak_protocol.Recorder().latencies,
                            "errors": [f"the protocol users' process died (exit code {users.exitcode})"],
                            "actions": 0,
                        }
            monitor["load_samples"].append(os.getloadavg()[0])
            if pid is not None:
                rss = tree_rss_bytes(pid)
                elapsed = None if clock.started is None else round(now - clock.started, 1)
                monitor["rss_samples"].append((elapsed, rss))
            if clock.started is not None and "cpu_start" not in monitor:
                monitor["cpu_start"] = (
                    now,
                    tree_cpu_seconds(me, pid),
                    tree_cpu_seconds(pid) if pid else None,
                )
                monitor["busy_start"] = machine_busy_seconds()
                monitor["protocol_cpu_start"] = tree_cpu_seconds(users.pid) if users.pid else 0.0
            if clock.started is not None and now - clock.started >= warm_at and "warm_bytes" not in monitor:
                monitor["warm_bytes"], monitor["warm_at_s"] = (tree_rss_bytes(pid) if pid else None), warm_at
            if now >= clock.until and "end_bytes" not in monitor:
                # every user still open, the clock just ran out
                monitor["end_bytes"] = tree_rss_bytes(pid) if pid else None
                monitor["cpu_end"] = (now, tree_cpu_seconds(me, pid), tree_cpu_seconds(pid) if pid else None)
                monitor["busy_end"] = machine_busy_seconds()
                monitor["protocol_cpu_end"] = tree_cpu_seconds(users.pid) if users.pid else 0.0
            await asyncio.sleep(1.0)
        await asyncio.gather(*tasks)
        monitor.setdefault("end_bytes", tree_rss_bytes(pid) if pid else None)
        monitor.setdefault(
            "cpu_end", (time.monotonic(), tree_cpu_seconds(me, pid), tree_cpu_seconds(pid) if pid else None)
        )
        monitor.setdefault("busy_end", machine_busy_seconds())
        await browser.close()
    users.join(timeout=30)
    rec = soak_protocol.Recorder.from_dict(rec_dict)
    return stats, rec, monitor


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_s": None, "p95_s": None, "max_s": None}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)

    return {"n": len(ordered), "p50_s": pct(0.5), "p95_s": pct(0.95), "max_s": round(ordered[-1], 3)}


def _server_errors(log_path: Path | None) -> list[str]:
    """Tracebacks (first and last lines) and ERROR lines of the server log."""
    if log_path is None or not log_path.is_file():
        return []
    lines = log_path.read_text(errors="replace").splitlines()
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                j += 1
            block = lines[max(0, i - 1) : min(j + 1, len(lines))]
            out.append(" | ".join(x.strip() for x in (block[:2] + block[-4:]))[:1200])
            i = j + 1
        else:
            if " ERROR " in lines[i] or lines[i].startswith("ERROR"):
                out.append(lines[i][:600])
            i += 1
    return out


def run(
    *,
    sessions: int = 20,
    browsers: int = 2,
    seconds: float = 600.0,
    url: str | None = None,
    data_dir: Path | None = None,
    survey: str = "soak",
    stars: int = 1_000_000,
    num_procs: int = 1,
    server_cpus: str = "1",
    client_cpus: str = "0",
    think_s: tuple[float, float] = (3.0, 7.0),
    reload_every: int = 10,
    ramp_s: float = DEFAULT_RAMP_S,
    warm_at_s: float = 120.0,
    warm_up: bool = True,
    out: Path = DEFAULT_OUT,
) -> dict[str, Any]:
    """Run the soak and write its JSON report to ``out``; returns the report."""
    browsers = min(browsers, sessions)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_start = list(os.getloadavg())
    server_set, client_set = cpu_list(server_cpus), cpu_list(client_cpus)
    host_speed = common.python_loop_seconds()  # before the server starts, on an idle machine
    if client_set and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, client_set)  # this process, its threads and the browsers it starts
    plan = {
        "sessions": sessions,
        "browsers": browsers,
        "seconds": seconds,
        "think_s": list(think_s),
        "reload_every": reload_every,
        "ramp_s": ramp_s,
        "warm_at_s": warm_at_s,
        "warm_up": warm_up,
    }
    log_path: Path | None = None
    with tempfile.TemporaryDirectory(prefix="desa_soak_") as tmp:
        if data_dir is None and url is None:
            data_dir = Path(tmp) / "data"
            print(f"writing a synthetic {stars:,}-star survey", flush=True)
            write_synthetic(data_dir, survey, stars)
        click = click_sample(data_dir, survey)
        n_stars = None
        if data_dir is not None:
            catalog = SurveyStore(Path(data_dir) / survey).catalog_path  # the current generation's
            n_stars = pq.read_metadata(catalog).num_rows if catalog.is_file() else None
        if url is None:
            log_path = Path(tmp) / "serve.log"
            with desa_serve(Path(data_dir), survey, num_procs, log_path, server_set) as (app_url, pid):
                print(
                    f"{sessions} users ({browsers} browsers) against {app_url} for {seconds:.0f} s",
                    flush=True,
                )
                stats, rec, monitor = asyncio.run(_drive(app_url, plan, click, pid))
                time.sleep(2.0)  # let the server log the sessions' last events
                logged = _server_errors(log_path)  # before shutdown: its messages don't count
                log_text = log_path.read_text(errors="replace")
            # A page reload closes its websocket while the server may still be writing to it:
            # tornado logs WebSocketClosedError/StreamClosedError. A client-side disconnect, counted
            # apart from errors.
            closed = ("WebSocketClosedError", "StreamClosedError")
            disconnects = [e for e in logged if any(c in e for c in closed)]
            server_errors = [e for e in logged if e not in disconnects]
        else:
            print(f"{sessions} users against {url} for {seconds:.0f} s (server memory and CPU not measured)")
            stats, rec, monitor = asyncio.run(_drive(url, plan, click, None))
            server_errors, disconnects, log_text = [], [], ""
    report = _report(started, load_start, plan, stats, rec, monitor, server_errors, disconnects)
    report["timeline"] = _timeline(stats, rec, log_text)
    report["machine"].update(cpu_model=common.cpu_model(), python_loop_s=host_speed)
    report.update(
        survey=survey if url is None else url,
        stars=n_stars,
        num_procs=num_procs,
        server_cpus=server_cpus if url is None else None,
        client_cpus=client_cpus,
        clicks=click is not None,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_out, out)
    return report


def _timeline(stats: Stats, rec: soak_protocol.Recorder, log_text: str) -> list[list[Any]]:
    """Samples and the server's session events in time order (seconds since the first sample).

    Rows ``[t, "browser" | "protocol", action, latency]`` (``t``: when the reply arrived) and
    ``[t, "server", event]`` (a websocket opened or closed: a page arriving or leaving), to read a
    tail against what the server was doing then.
    """
    rows: list[tuple[Any, ...]] = [(t, "browser", a, x) for t, a, x in stats.timeline]
    rows += [(t, "protocol", a, x) for t, a, x in rec.timeline]
    rows.sort()
    t0 = rows[0][0] if rows else 0.0
    out: list[list[Any]] = [[round(t - t0, 2), who, action, round(x, 3)] for t, who, action, x in rows]
    for line in log_text.splitlines():
        stamp = SERVER_EVENT.match(line)
        if stamp:
            local = time.mktime(time.strptime(stamp[1], "%Y-%m-%d %H:%M:%S")) + int(stamp[2]) / 1000
            out.append([round(local - t0, 2), "server", stamp[3]])
    out.sort(key=lambda row: row[0])
    return out


def _report(
    started: str,
    load_start: list[float],
    plan: dict[str, Any],
    stats: Stats,
    rec: soak_protocol.Recorder,
    monitor: dict[str, Any],
    server_errors: list[str],
    disconnects: list[str],
) -> dict[str, Any]:
    # Resident memory swings by a few hundred MiB as sessions come and go: the median over the
    # RSS_WINDOW_S seconds around the warm point and before the end, not one reading each.
    samples = [(t, rss) for t, rss in monitor.get("rss_samples", []) if t is not None]
    warm_at = monitor.get("warm_at_s")
    warm = _median(
        [rss for t, rss in samples if warm_at is not None and abs(t - warm_at) <= RSS_WINDOW_S / 2]
    )
    last = samples[-1][0] if samples else None
    end = _median([rss for t, rss in samples if last is not None and t >= last - RSS_WINDOW_S])
    warm = warm or monitor.get("warm_bytes")
    end = end or monitor.get("end_bytes")
    growth = None if not warm or end is None else round((end - warm) / warm * 100, 2)
    cpu = {}
    if "cpu_start" in monitor:
        (t0, me0, srv0), (t1, me1, srv1) = monitor["cpu_start"], monitor["cpu_end"]
        wall = max(t1 - t0, 1e-9)
        cpu = {
            "load_phase_s": round(wall, 1),
            "load_generator_cpu_s": round(me1 - me0, 1),
            "load_generator_cores": round((me1 - me0) / wall, 2),
            "server_cpu_s": None if srv0 is None else round(srv1 - srv0, 1),
            "server_cores": None if srv0 is None else round((srv1 - srv0) / wall, 2),
        }
        if "protocol_cpu_end" in monitor:
            # The protocol users' process apart: the rest of the load generator is the browsers.
            protocol_cpu = monitor["protocol_cpu_end"] - monitor["protocol_cpu_start"]
            cpu["protocol_users_cpu_s"] = round(protocol_cpu, 1)
            cpu["browsers_cpu_s"] = round(me1 - me0 - protocol_cpu, 1)
        busy0, busy1 = monitor.get("busy_start"), monitor.get("busy_end")
        if busy0 is not None and busy1 is not None and srv0 is not None:
            # What neither the server nor the load generator used: other jobs on the machine.
            other = max(0.0, (busy1 - busy0) - (me1 - me0) - (srv1 - srv0))
            cpu["other_cpu_s"], cpu["other_cores"] = round(other, 1), round(other / wall, 2)
    errors = stats.errors + rec.errors + server_errors
    browser = {name: _percentiles(v) for name, v in stats.latencies.items()}
    protocol = {name: _percentiles(v) for name, v in rec.latencies.items()}
    loads = monitor.get("load_samples") or [load_start[0]]
    report = {
        "started_utc": started,
        **plan,
        "protocol_sessions": plan["sessions"] - plan["browsers"],
        "errors": len(errors),
        "error_samples": errors[:20],
        "closed_websocket_logs": len(disconnects),
        "browser": {
            "actions": stats.actions,
            "cards_skipped": stats.cards_skipped,
            "cards_missed": stats.cards_missed,
            "console_errors": len(stats.console_errors),
            "console_error_samples": stats.console_errors[:10],
            "latency": browser,
        },
        "protocol": {"actions": rec.actions, "latency": protocol},
        "page_ready_p95_s": {"browser": browser["page"]["p95_s"], "protocol": protocol["page"]["p95_s"]},
        "warm_up_page_s": monitor.get("warm_up_page_s"),
        "rss_warm_at_s": monitor.get("warm_at_s"),
        "rss_window_s": RSS_WINDOW_S,
        "rss_warm_mib": None if warm is None else round(warm / 2**20, 1),
        "rss_end_mib": None if end is None else round(end / 2**20, 1),
        "rss_growth_pct": growth,
        "rss_samples": monitor.get("rss_samples", [])[-300:],
        "cpu": cpu,
        "machine": {
            "cores": os.cpu_count(),
            "load_average_start": [round(v, 2) for v in load_start],
            "load_average_1min_max": round(max(loads), 2),
            "load_average_end": [round(v, 2) for v in os.getloadavg()],
        },
        "goals": GOALS,
    }
    report["met"] = {
        "errors": report["errors"] == 0,
        "browser_select_p95_s": _within(browser["select"]["p95_s"], GOALS["browser_select_p95_s"]),
        "browser_card_p95_s": _within(browser["card"]["p95_s"], GOALS["browser_card_p95_s"]),
        "browser_page_p95_s": _within(browser["page"]["p95_s"], GOALS["browser_page_p95_s"]),
        "rss_growth_pct": _within(growth, GOALS["rss_growth_pct"]),
    }
    return report


def _host(machine: dict[str, Any]) -> str:
    """The report's words on the host: its CPU and its speed (a fixed Python loop), when recorded."""
    if not machine.get("cpu_model"):
        return ""
    return (
        f", {machine['cpu_model']}; a fixed Python loop took {machine['python_loop_s']:.3f} s on it"
        " before the run, `benchmarks.common.python_loop_seconds`: lower is faster, compare runs by it"
    )


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _within(value: float | None, goal: float) -> bool | None:
    return None if value is None else value <= goal


def _cell(stat: dict[str, Any]) -> str:
    if not stat["n"]:
        return "–"
    return f"{stat['p50_s']:.2f} / {stat['p95_s']:.2f} / {stat['max_s']:.2f} (n={stat['n']})"


def markdown(report: dict[str, Any]) -> str:
    """The RESULTS.md section of a soak report."""
    machine, cpu = report["machine"], report.get("cpu", {})
    minutes = report["seconds"] / 60
    short = report["seconds"] < 600 or report["sessions"] < 20 or (report.get("stars") or 0) < 1_000_000
    lines = [
        MD_BEGIN,
        "### 5. Soak: concurrent users of one server (`make soak`, `benchmarks/soak.py`)\n",
        f"{'**Short run** (not the acceptance run): ' if short else ''}"
        f"{report['sessions']} users ({report['protocol_sessions']} protocol-level, {report['browsers']} "
        f"Chromium) for {minutes:.1f} min against one `desa serve --num-procs {report['num_procs']}` "
        f"on {report.get('stars') or '?':,} stars, started {report['started_utc']}; think time "
        f"{report['think_s'][0]:g}–{report['think_s'][1]:g} s before each action, a reload every "
        f"{report['reload_every']} rounds. Server on CPU {report.get('server_cpus') or 'any'}, load "
        f"generator on CPU {report.get('client_cpus') or 'any'} ({machine['cores']} cores"
        f"{_host(machine)}). **Machine load** (1/5/15 min) at start "
        f"{machine['load_average_start']}, 1-min max {machine['load_average_1min_max']}, at end "
        f"{machine['load_average_end']}.\n",
        _other_jobs(report.get("cpu") or {}, machine),
        "| action | users | p50 / p95 / max [s] | goal |",
        "|---|---|---|---|",
    ]
    b, p = report["browser"]["latency"], report["protocol"]["latency"]
    rows = [
        ("page ready", "browser", b["page"], "p95 ≤ 8 s"),
        ("box selection → expression shown", "browser", b["select"], "p95 ≤ 1 s"),
        ("click → star card", "browser", b["card"], "p95 ≤ 1 s"),
        ("page (session + document + ready)", "protocol", p["page"], ""),
        ("box selection → reply", "protocol", p["box"], ""),
        ("expression + Apply → reply", "protocol", p["expression"], ""),
        ("click → star card", "protocol", p["click"], ""),
    ]
    lines += [f"| {name} | {who} | {_cell(stat)} | {goal} |" for name, who, stat, goal in rows]
    growth = report["rss_growth_pct"]
    lines += [
        "",
        f"- errors: **{report['errors']}** (goal 0); closed-websocket log lines (reloads) "
        f"{report['closed_websocket_logs']}; browser console errors {report['browser']['console_errors']}",
        f"- server RSS (median of {report['rss_window_s']:g} s of readings) at {report['rss_warm_at_s']} s "
        f"{report['rss_warm_mib']} MiB, at the end {report['rss_end_mib']} MiB: "
        f"{growth if growth is not None else '?'} % (goal ≤ 10 %)",
        f"- one page opened before the users arrived (the server's first session, not counted): "
        f"{report.get('warm_up_page_s') or 'none'} s",
        f"- CPU over the {cpu.get('load_phase_s', '?')} s of load: server {cpu.get('server_cpu_s', '?')} s "
        f"({cpu.get('server_cores', '?')} cores), load generator {cpu.get('load_generator_cpu_s', '?')} s "
        f"({cpu.get('load_generator_cores', '?')} cores: browsers and their driver "
        f"{cpu.get('browsers_cpu_s', '?')} s, protocol users {cpu.get('protocol_users_cpu_s', '?')} s)"
        + (f", other processes {cpu['other_cpu_s']} s" if cpu.get("other_cpu_s") is not None else ""),
        MD_END,
    ]
    return "\n".join(lines) + "\n"


def write_markdown(report: dict[str, Any], path: Path) -> None:
    """Put the report's section into ``path`` (replacing this soak's previous section)."""
    from data.storage import atomic_write_text

    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmark results\n"
    section = markdown(report)
    if kept_soak_section(text) is not None:
        head, rest = text.split(MD_BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(MD_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    atomic_write_text(path, text)


def main(argv: list[str] | None = None) -> int:
    global ACTION_TIMEOUT_MS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent users in all (default 20)")
    parser.add_argument("--browsers", type=int, default=2, help="of which real Chromium pages (default 2)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the users act (default 10)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="duration in seconds (overrides --minutes)"
    )
    parser.add_argument("--url", default=None, help="an already running app URL (memory then not measured)")
    parser.add_argument("--data-dir", type=Path, default=None, help="data root of an existing survey")
    parser.add_argument("--survey", default="soak", help="survey name (default: a synthetic 'soak' survey)")
    parser.add_argument("--stars", type=int, default=1_000_000, help="stars of the synthetic survey")
    parser.add_argument("--num-procs", type=int, default=1, help="desa serve --num-procs")
    parser.add_argument("--server-cpus", default="1", help="CPUs of the server (taskset -c; '' for any)")
    parser.add_argument("--client-cpus", default="0", help="CPUs of this load generator ('' for any)")
    parser.add_argument("--think", default="3,7", help="pause before each action, 'min,max' seconds")
    parser.add_argument("--reload-every", type=int, default=10, help="rounds of actions between reloads")
    parser.add_argument(
        "--ramp", type=float, default=DEFAULT_RAMP_S, help="seconds between two users' arrivals"
    )
    parser.add_argument("--warm-at", type=float, default=120.0, help="seconds into the run of the first RSS")
    parser.add_argument("--no-warm-up", action="store_true", help="no uncounted page before the users arrive")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report (default {DEFAULT_OUT})")
    parser.add_argument("--results-md", type=Path, default=None, help="write the section into this file")
    parser.add_argument(
        "--timeout", type=float, default=ACTION_TIMEOUT_MS / 1000, help="seconds before an action is an error"
    )
    args = parser.parse_args(argv)
    # A SIGTERM (timeout, make interrupted) unwinds like Ctrl-C, so the server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ACTION_TIMEOUT_MS = int(args.timeout * 1000)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    lo, _, hi = args.think.partition(",")
    report = run(
        sessions=args.sessions,
        browsers=args.browsers,
        seconds=seconds,
        url=args.url,
        data_dir=args.data_dir,
        survey=args.survey,
        stars=args.stars,
        num_procs=args.num_procs,
        server_cpus=args.server_cpus,
        client_cpus=args.client_cpus,
        think_s=(float(lo), float(hi or lo)),
        reload_every=args.reload_every,
        ramp_s=args.ramp,
        warm_at_s=args.warm_at,
        warm_up=not args.no_warm_up,
        out=args.out,
    )
    print(markdown(report))
    if args.results_md is not None:
        write_markdown(report, args.results_md)
    print(f"report: {args.out}")
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
