"""Soak test: N concurrent browser sessions against one ``desa serve`` for M minutes.

Each session is a Chromium page (Playwright, Debian's /usr/bin/chromium, one browser, one context
per session) that repeatedly

* drags a random box on the UMAP (box select is the active drag tool) and waits for the
  selection expression to show the new box (selection latency);
* clicks a star and waits for the star card (``.star-card``) to name a new ``KIC <id>`` (card
  latency); skipped when the page has no star card yet;
* every few actions reloads the page (a new server session; the old one must be cleaned up).

Reported in ``benchmarks/soak_results.json`` (or ``--out``): errors (timeouts, page errors,
server tracebacks; goal 0), p50/p95/max latency per action, and the resident memory of the
server's process tree after warm-up and at the end (growth goal ≤ 10 %). Server log lines about a
websocket closed by a reloading page (``WebSocketClosedError``) are counted apart, not as errors;
browser console errors (e.g. fonts from an unreachable CDN) are reported, not counted.

    python -m benchmarks.soak --sessions 20 --minutes 10            # synthetic 20,000-star survey
    python -m benchmarks.soak --data-dir /tmp/demo_data --survey demo --minutes 5
    python -m benchmarks.soak --url http://127.0.0.1:5006/app       # an already running server

Nothing here is asserted on timings; ``tests/hardening/test_soak.py`` runs a short version and
asserts only that there were no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks.common import CHROMIUM, CHROMIUM_FLAGS, answers, free_port, tree_rss_bytes
from data.storage import SurveyStore

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "soak_results.json"
#: How long one action may take before it counts as an error (``--timeout``).
ACTION_TIMEOUT_MS = 120_000
RELOAD_EVERY = 6


# --- the server -----------------------------------------------------------------------------------


def write_synthetic(data_root: Path, survey: str, n: int) -> None:
    """The synthetic survey of the dashboard tests (catalogue, arrays, embedding, manifest)."""
    from benchmarks.fixtures import write_synthetic_survey

    write_synthetic_survey(data_root / survey, n=n, seed=0)


@contextmanager
def desa_serve(data_root: Path, survey: str, num_procs: int, log_path: Path) -> Iterator[tuple[str, int]]:
    """``desa serve`` on 127.0.0.1 in its own process group; yields (app URL, server pid)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "import sys; from training.cli import main; sys.exit(main())",
        "serve",
        "--survey",
        survey,
        "--port",
        str(port),
        "--num-procs",
        str(num_procs),
        "--liveness",
    ]
    env = {**os.environ, "DESA_DATA_DIR": str(data_root)}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=REPO
        )
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 180
    try:
        while not answers(base + "/liveness"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"desa serve did not start; see {log_path}")
            time.sleep(0.5)
        yield base + "/app", proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


# --- the sessions ---------------------------------------------------------------------------------
@dataclass
class Stats:
    """Latencies (s) per action and the errors of all sessions."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"load": [], "select": [], "card": []})
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
    stats.latencies["load"].append(time.perf_counter() - start)
    return True


async def _select(page: Any, rng: random.Random, stats: Stats) -> None:
    umap = page.locator(".bk-Canvas").nth(0)
    box = await umap.bounding_box()
    expression = page.locator(".selection-expression textarea")
    before = await expression.input_value() if await expression.count() else None
    x0, y0 = rng.uniform(0.2, 0.45), rng.uniform(0.2, 0.45)
    x1, y1 = x0 + rng.uniform(0.15, 0.35), y0 + rng.uniform(0.15, 0.35)
    await page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    await page.mouse.down()
    await page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=8)
    start = time.perf_counter()
    await page.mouse.up()
    deadline = start + ACTION_TIMEOUT_MS / 1000
    while time.perf_counter() < deadline:
        value = await expression.input_value() if await expression.count() else None
        if value is not None and value != before and "box(" in value:
            stats.latencies["select"].append(time.perf_counter() - start)
            return
        await asyncio.sleep(0.05)
    stats.errors.append(f"select: the expression did not change within {ACTION_TIMEOUT_MS} ms")


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


#: The star card's title line (D2: "KIC <id> · row <n>"); Markdown renders in a shadow root, which
#: ``get_by_text`` pierces and ``inner_text`` of the card does not.
CARD_TITLE = re.compile(r"KIC \d+ · row \d+")


async def _card_title(page: Any) -> str | None:
    title = page.get_by_text(CARD_TITLE)
    return await title.first.inner_text() if await title.count() else None


async def _card(page: Any, rng: random.Random, stats: Stats) -> None:
    if await page.locator(".star-card").count() == 0:
        stats.cards_skipped += 1  # the star card is not on this page (yet): nothing to time
        return
    before = await _card_title(page)
    umap = page.locator(".bk-Canvas").nth(0)
    box = await umap.bounding_box()
    x, y = _star_pixel(await umap.screenshot(), rng) or (
        rng.uniform(0.3, 0.7) * box["width"],
        rng.uniform(0.3, 0.7) * box["height"],
    )
    start = time.perf_counter()
    await page.mouse.click(box["x"] + x, box["y"] + y)
    deadline = start + min(ACTION_TIMEOUT_MS / 1000, 60.0)
    while time.perf_counter() < deadline:
        title = await _card_title(page)
        if title is not None and title != before:
            stats.latencies["card"].append(time.perf_counter() - start)
            return
        await asyncio.sleep(0.05)
    # A click can land between stars (none within the click radius) or on the card's own star.
    stats.cards_missed += 1


async def _session(browser: Any, url: str, index: int, clock: dict, stats: Stats) -> None:
    """Load, wait until every session has loaded, then act until ``clock['until']``."""
    rng = random.Random(index)
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda exc: stats.errors.append(f"session {index}: page error: {exc}"[:300]))
    page.on(
        "console",
        lambda msg: (
            stats.console_errors.append(f"session {index}: {msg.text}"[:300]) if msg.type == "error" else None
        ),
    )
    loaded = False
    try:
        try:
            loaded = await _load(page, url, stats)
        finally:  # a session that fails to load must not hold the others at the barrier
            clock["loaded"] += 1
            if clock["loaded"] == clock["sessions"]:
                clock["until"] = time.monotonic() + clock["seconds"]
                clock["warm"].set()
        await clock["warm"].wait()
        n = 0
        while loaded:
            await _select(page, rng, stats)
            await _card(page, rng, stats)
            stats.actions += 2
            n += 1
            if time.monotonic() >= clock["until"]:
                break  # at least one round each, then until the clock runs out
            if n % RELOAD_EVERY == 0:
                loaded = await _load(page, url, stats)
    except Exception as exc:
        stats.errors.append(f"session {index}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await context.close()


async def _drive(url: str, sessions: int, seconds: float, pid: int | None) -> tuple[Stats, dict]:
    """Run the sessions; the ``seconds`` of load start once every session has loaded once."""
    from playwright.async_api import async_playwright

    stats = Stats()
    memory: dict[str, Any] = {"samples": []}
    clock = {
        "sessions": sessions,
        "seconds": seconds,
        "loaded": 0,
        "until": math.inf,
        "warm": asyncio.Event(),
    }
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        tasks = [asyncio.create_task(_session(browser, url, i, clock, stats)) for i in range(sessions)]
        start = time.monotonic()
        while not all(t.done() for t in tasks):
            if pid is not None:
                memory["samples"].append((round(time.monotonic() - start, 1), tree_rss_bytes(pid)))
                if clock["warm"].is_set() and "warm_bytes" not in memory:
                    memory["warm_bytes"] = tree_rss_bytes(pid)
                    memory["warm_after_s"] = round(time.monotonic() - start, 1)
                if time.monotonic() >= clock["until"] and "end_bytes" not in memory:
                    memory["end_bytes"] = tree_rss_bytes(pid)  # all sessions still open, clock just ran out
            await asyncio.sleep(1.0)
        await asyncio.gather(*tasks)
        if pid is not None:
            memory.setdefault("end_bytes", tree_rss_bytes(pid))
        await browser.close()
    return stats, memory


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
    seconds: float = 600.0,
    url: str | None = None,
    data_dir: Path | None = None,
    survey: str = "soak",
    stars: int = 20_000,
    num_procs: int = 1,
    out: Path = DEFAULT_OUT,
) -> dict[str, Any]:
    """Run the soak and write its JSON report to ``out``; returns the report."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log_path: Path | None = None
    with tempfile.TemporaryDirectory(prefix="desa_soak_") as tmp:
        if url is None:
            if data_dir is None:
                data_dir = Path(tmp) / "data"
                print(f"writing a synthetic {stars}-star survey", flush=True)
                write_synthetic(data_dir, survey, stars)
            catalog = SurveyStore(Path(data_dir) / survey).catalog_path  # the current generation's
            n_stars = pq.read_metadata(catalog).num_rows if catalog.is_file() else None
            log_path = Path(tmp) / "serve.log"
            with desa_serve(Path(data_dir), survey, num_procs, log_path) as (app_url, pid):
                print(f"{sessions} sessions against {app_url} for {seconds:.0f} s", flush=True)
                stats, memory = asyncio.run(_drive(app_url, sessions, seconds, pid))
                time.sleep(2.0)  # let the server log the sessions' last events
                logged = _server_errors(log_path)  # before shutdown: its messages don't count
            # A page reload closes its websocket while the server may still be writing to it:
            # tornado logs WebSocketClosedError/StreamClosedError. A client-side disconnect, counted
            # apart from errors.
            closed = ("WebSocketClosedError", "StreamClosedError")
            disconnects = [e for e in logged if any(c in e for c in closed)]
            server_errors = [e for e in logged if e not in disconnects]
        else:
            print(f"{sessions} sessions against {url} for {seconds:.0f} s (server memory not measured)")
            stats, memory = asyncio.run(_drive(url, sessions, seconds, None))
            server_errors, disconnects, n_stars = [], [], None
    warm, end = memory.get("warm_bytes"), memory.get("end_bytes")
    growth = None if not warm or end is None else round((end - warm) / warm * 100, 2)
    all_latencies = stats.latencies["select"] + stats.latencies["card"]
    report = {
        "started_utc": started,
        "sessions": sessions,
        "seconds": seconds,
        "survey": survey if url is None else url,
        "stars": n_stars,
        "num_procs": num_procs,
        "errors": len(stats.errors) + len(server_errors),
        "error_samples": (stats.errors + server_errors)[:20],
        "closed_websocket_logs": len(disconnects),
        "console_errors": len(stats.console_errors),
        "console_error_samples": stats.console_errors[:10],
        "actions": stats.actions,
        "cards_skipped": stats.cards_skipped,
        "cards_missed": stats.cards_missed,
        "latency": {name: _percentiles(v) for name, v in stats.latencies.items()},
        "p95_latency_s": _percentiles(all_latencies)["p95_s"],
        "warm_up_s": memory.get("warm_after_s"),
        "rss_warm_mib": None if warm is None else round(warm / 2**20, 1),
        "rss_end_mib": None if end is None else round(end / 2**20, 1),
        "rss_growth_pct": growth,
        "rss_samples": memory.get("samples", [])[-200:],
        "goals": {"errors": 0, "rss_growth_pct_max": 10},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_out, out)
    return report


def main(argv: list[str] | None = None) -> int:
    global ACTION_TIMEOUT_MS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default 20)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the sessions run (default 10)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="duration in seconds (overrides --minutes)"
    )
    parser.add_argument("--url", default=None, help="an already running app URL (memory then not measured)")
    parser.add_argument("--data-dir", type=Path, default=None, help="data root of an existing survey")
    parser.add_argument("--survey", default="soak", help="survey name (default: a synthetic 'soak' survey)")
    parser.add_argument("--stars", type=int, default=20_000, help="stars of the synthetic survey")
    parser.add_argument("--num-procs", type=int, default=1, help="desa serve --num-procs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report (default {DEFAULT_OUT})")
    parser.add_argument(
        "--timeout", type=float, default=ACTION_TIMEOUT_MS / 1000, help="seconds before an action is an error"
    )
    args = parser.parse_args(argv)
    ACTION_TIMEOUT_MS = int(args.timeout * 1000)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    report = run(
        sessions=args.sessions,
        seconds=seconds,
        url=args.url,
        data_dir=args.data_dir,
        survey=args.survey,
        stars=args.stars,
        num_procs=args.num_procs,
        out=args.out,
    )
    lat = {name: v["p95_s"] for name, v in report["latency"].items()}
    print(
        f"errors {report['errors']} (goal 0); actions {report['actions']}; p95 select {lat['select']} s, "
        f"card {lat['card']} s, load {lat['load']} s; RSS {report['rss_warm_mib']} -> "
        f"{report['rss_end_mib']} MiB ({report['rss_growth_pct']} %, goal <= 10 %)"
    )
    print(f"report: {args.out}")
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
