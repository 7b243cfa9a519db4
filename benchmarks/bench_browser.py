"""Browser-side latency: Playwright drives Debian's Chromium against ``panel serve`` of the dashboard.

The server serves a synthetic survey (``benchmarks/synthetic.py``, 10^6 rows by default) from a
temporary ``DESA_DATA_DIR``. Measured:

* page ready: ``goto`` until the three Bokeh canvases are drawn and the ``selected-count`` element
  reads ``Selected: 0 / N``; the first session (catalogue load, numba JIT) and later ones (warm);
* drag end to all views updated: from the ``pointerup`` of a box drag on the UMAP (timestamped in
  the page) until the count text has changed and every view's canvas shows the selection colour
  (pixels read in the page each animation frame); the selection is cleared between repeats;
* click to star card: from a click on a star until the ``star-card`` container shows ``KIC <id>``;
  "not available" when the page has no star card.

The server's RSS (process tree, ``/proc``) is recorded after the first page and after the drags.

    python -m benchmarks.bench_browser --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CHROMIUM, CHROMIUM_FLAGS, answers, free_port, summarise, tree_rss_bytes

GOALS_S = {"page_ready_warm": 5.0, "drag_to_all_views": 0.5, "click_to_star_card": 0.3}
SURVEY = "bench"

#: In-page helpers: a querySelectorAll that enters open shadow roots (Bokeh 3 and Panel render in
#: them), the count, and per view the number of pixels in the selection colour (#e6007e).
_JS_HELPERS = r"""
() => {
  const deepAll = (selector, root = document) => {
    const out = [...root.querySelectorAll(selector)];
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) out.push(...deepAll(selector, el.shadowRoot));
    }
    return out;
  };
  const text = (el) => (el.shadowRoot ? el.shadowRoot.textContent : '') + el.textContent;
  // All text under a node, nested shadow roots included (Panel nests one per component).
  const deepText = (node) => {
    let out = node.shadowRoot ? deepText(node.shadowRoot) : '';
    for (const child of node.childNodes) out += child.nodeType === 3 ? child.textContent : deepText(child);
    return out;
  };
  const countEl = () => deepAll('.selected-count')[0];
  const count = (el = countEl()) => {
    const m = el ? text(el).match(/Selected:\s*([\d,]+)/) : null;
    return m ? Number(m[1].replace(/,/g, '')) : null;
  };
  const total = (el = countEl()) => {
    const m = el ? text(el).match(/Selected:\s*[\d,]+\s*\/\s*([\d,]+)/) : null;
    return m ? Number(m[1].replace(/,/g, '')) : null;
  };
  // The three linked views: the top-most visible Bokeh canvases left of the side panel (the star
  // card's plots lie in it, right of the views).
  const sideLeft = () => {
    const side = deepAll('.side-panel')[0];
    return side ? side.getBoundingClientRect().left : Infinity;
  };
  const viewEls = () => deepAll('.bk-Canvas')
    .map((el) => [el, el.getBoundingClientRect()])
    .filter(([, r]) => r.width > 50 && r.height > 50 && r.left < sideLeft())
    .sort(([, a], [, b]) => (Math.abs(a.top - b.top) > 20 ? a.top - b.top : a.left - b.left))
    .slice(0, 3)
    .map(([el]) => el);
  // The primary layer canvas of each view (Bokeh draws the glyphs there; overlays are separate).
  const layers = () => viewEls().map((v) => deepAll('canvas', v.shadowRoot || v).slice(0, 1));
  // Pixels passing ``test``, read on every second row and column (a quarter of the cost).
  const pixels = (canvases, test) => {
    let n = 0;
    for (const canvas of canvases) {
      if (!canvas.width || !canvas.height) continue;
      const ctx = canvas.getContext('2d');
      if (!ctx) continue;
      const w = canvas.width, h = canvas.height;
      const d = ctx.getImageData(0, 0, w, h).data;
      for (let y = 0; y < h; y += 2) {
        for (let x = 0, i = y * w * 4; x < w; x += 2, i += 8) {
          if (test(d[i], d[i + 1], d[i + 2], d[i + 3])) n++;
        }
      }
    }
    return n;
  };
  const isMagenta = (r, g, b, a) => a > 0 && r > 180 && g < 110 && b > 70 && b < 210 && r - b > 40;
  const isInk = (r, g, b, a) => a > 0 && (r < 235 || g < 235 || b < 235);
  // Page coordinates of the drawn (non-white) pixel of view ``v`` nearest its centre: a star.
  const starPoint = (v) => {
    const canvas = layers()[v][0];
    const rect = canvas.getBoundingClientRect();
    const sx = canvas.width / rect.width, sy = canvas.height / rect.height;
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let best = null;
    for (let y = 0; y < canvas.height; y += 2) {
      for (let x = 0; x < canvas.width; x += 2) {
        const i = (y * canvas.width + x) * 4;
        if (isInk(d[i], d[i + 1], d[i + 2], d[i + 3]) && !isMagenta(d[i], d[i + 1], d[i + 2], d[i + 3])) {
          const dist = Math.hypot(x - canvas.width / 2, y - canvas.height / 2);
          if (!best || dist < best.dist) best = { x, y, dist };
        }
      }
    }
    return best && { x: rect.x + best.x / sx, y: rect.y + best.y / sy };
  };
  // Drawn pixels in the middle of a view (inside the frame: no title, axes or legend).
  const inkInside = (canvases) => {
    const canvas = canvases[0];
    if (!canvas || !canvas.width) return 0;
    const w = canvas.width, h = canvas.height;
    const d = canvas.getContext('2d').getImageData(0, 0, w, h).data;
    let n = 0;
    for (let y = Math.floor(0.25 * h); y < 0.75 * h; y += 2) {
      for (let x = Math.floor(0.25 * w); x < 0.65 * w; x += 2) {
        const i = (y * w + x) * 4;
        if (isInk(d[i], d[i + 1], d[i + 2], d[i + 3])) n++;
      }
    }
    return n;
  };
  // Ready: three views, each with stars drawn inside its frame, and the count showing 0.
  const ready = () => {
    const views = layers();
    return views.length === 3 && count() === 0 && views.every((c) => inkInside(c) > 20);
  };
  const box = (i) => {
    const r = viewEls()[i].getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  };
  const magenta = (views = layers()) => views.map((c) => pixels(c, isMagenta));
  const starCard = () => {
    const cards = deepAll('.star-card');
    if (!cards.length) return null;
    const m = cards.map(deepText).join(' ').match(/KIC\s*(\d+)/);
    return m ? m[1] : '';
  };
  window.__bench = {
    deepAll, countEl, count, total, viewEls, layers, magenta, ready, box, starPoint, starCard,
  };
  return true;
}
"""

#: Arm a watcher: after the next pointerup, poll each frame until the count differs from
#: ``before`` and every view has ``minPixels`` more selection-coloured pixels than ``base``.
_JS_ARM_DRAG = r"""
([before, base, minPixels]) => {
  const b = window.__bench;
  const result = { up: null, count: null, views: base.map(() => null), done: false, polls: 0, pollMs: 0 };
  window.__benchDrag = result;
  const el = b.countEl();
  const views = b.layers();
  window.addEventListener('pointerup', () => {
    result.up = performance.now();
    const poll = () => {
      const now = performance.now();
      if (result.count === null && b.count(el) !== before) result.count = now;
      b.magenta(views).forEach((n, i) => {
        if (result.views[i] === null && n > base[i] + minPixels) result.views[i] = now;
      });
      result.polls += 1;
      result.pollMs += performance.now() - now;
      if (result.count !== null && result.views.every((t) => t !== null)) result.done = true;
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  }, { capture: true, once: true });
}
"""


class Server:
    """``panel serve dashboard/app.py`` in its own process group, stopped as a group."""

    def __init__(self, data_root: Path, log_path: Path, timeout_s: float = 300) -> None:
        import dashboard

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/app"
        app = Path(dashboard.__file__).with_name("app.py")
        env = {**os.environ, "DESA_DATA_DIR": str(data_root), "DESA_SURVEY": SURVEY}
        self.log_path = log_path
        self._log = log_path.open("w")
        cmd = [sys.executable, "-m", "panel", "serve", str(app), "--address", "127.0.0.1"]
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        # The HTTP answer needs no session; this only waits for the port to serve.
        deadline = time.monotonic() + timeout_s
        while not answers(f"http://127.0.0.1:{self.port}/liveness") and not answers(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"panel serve did not start; see {log_path}")
            time.sleep(0.5)

    def rss(self) -> int:
        return tree_rss_bytes(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self._log.close()


def _page_ready(page: Any, url: str, n_rows: int, timeout_ms: int) -> float:
    """Seconds from ``goto`` until the three views show stars and the count reads 0 of ``n_rows``."""
    start = time.perf_counter()
    page.goto(url, timeout=timeout_ms)
    page.evaluate(_JS_HELPERS)
    page.wait_for_function("() => window.__bench.ready()", timeout=timeout_ms, polling=100)
    elapsed = time.perf_counter() - start
    # The page's last parts (star card, table, templates) may still be on their way
    # (dashboard/deferred.py): drags start on the whole page, whose views no longer change.
    page.locator(".deferred-placeholder").first.wait_for(state="detached", timeout=timeout_ms)
    total = page.evaluate("() => window.__bench.total()")
    if total != n_rows:
        raise RuntimeError(f"the page shows {total} stars, expected {n_rows}")
    return elapsed


def _drag(page: Any, fx0: float, fy0: float, fx1: float, fy1: float, timeout_ms: int) -> dict[str, Any]:
    """One box drag on the UMAP; in-page times from pointerup to count and to each view's update."""
    before = page.evaluate("() => window.__bench.count()")
    base = page.evaluate("() => window.__bench.magenta()")
    page.evaluate(_JS_ARM_DRAG, [before, base, 50])
    box = page.evaluate("() => window.__bench.box(0)")

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    page.mouse.move(*at(fx0, fy0))
    page.mouse.down()
    page.mouse.move(*at(fx1, fy1), steps=15)
    page.mouse.up()
    page.wait_for_function("() => window.__benchDrag && window.__benchDrag.done", timeout=timeout_ms)
    r = page.evaluate("() => window.__benchDrag")
    views = [(t - r["up"]) / 1000 for t in r["views"]]
    return {
        "count_s": (r["count"] - r["up"]) / 1000,
        "views_s": views,
        "all_views_s": max([*views, (r["count"] - r["up"]) / 1000]),
        "selected": page.evaluate("() => window.__bench.count()"),
        "poll_ms_mean": r["pollMs"] / max(r["polls"], 1),
    }


def _clear(page: Any, timeout_ms: int) -> None:
    page.get_by_role("button", name=re.compile("Clear selection")).first.click()
    page.wait_for_function("() => window.__bench.count() === 0", timeout=timeout_ms)
    page.wait_for_function("() => window.__bench.magenta().every((n) => n < 50)", timeout=timeout_ms)


def _wait_card(page: Any, before: str | None, timeout_ms: int) -> bool:
    try:
        page.wait_for_function(
            "(before) => { const k = window.__bench.starCard(); return k && k !== before; }",
            arg=before,
            timeout=timeout_ms,
            polling=20,
        )
    except Exception:  # playwright's TimeoutError: no card within the time
        return False
    return True


def _click_star_card(page: Any, timeout_ms: int) -> dict[str, Any]:
    """Click a star drawn on the UMAP; time until the star card shows ``KIC <id>``.

    When a click on the plot opens no card, a click on the first row of the selected-stars table
    (which also sets the focused star) is timed instead, and ``via`` says which one was measured.
    """
    if page.evaluate("() => window.__bench.starCard()") is None:
        return {"available": False, "note": "not available: no element with css class star-card"}
    _clear(page, timeout_ms)
    point = page.evaluate("() => window.__bench.starPoint(0)")
    notes = []
    if point is not None:
        before = page.evaluate("() => window.__bench.starCard()")
        start = time.perf_counter()
        page.mouse.click(point["x"], point["y"])
        if _wait_card(page, before, timeout_ms):
            elapsed = time.perf_counter() - start
            kic = page.evaluate("() => window.__bench.starCard()")
            return {"available": True, "via": "click on the UMAP", "click_to_card_s": elapsed, "kic": kic}
        notes.append(f"a click on the UMAP showed no star card within {timeout_ms / 1000:.0f} s")
    else:
        notes.append("no star drawn on the UMAP to click")
    _drag(page, 0.40, 0.40, 0.55, 0.60, timeout_ms)
    rows = page.locator(".selected-table .desa-table-frozen tbody tr")
    try:
        rows.first.wait_for(timeout=timeout_ms)
    except Exception:
        return {"available": True, "note": "; ".join([*notes, "the selected-stars table shows no rows"])}
    before = page.evaluate("() => window.__bench.starCard()")
    start = time.perf_counter()
    rows.first.locator("td[data-field='row']").click()  # the visible first cell, as a person would
    if _wait_card(page, before, timeout_ms):
        elapsed = time.perf_counter() - start
        kic = page.evaluate("() => window.__bench.starCard()")
        return {
            "available": True,
            "via": "click on a row of the selected-stars table",
            "click_to_card_s": elapsed,
            "kic": kic,
            "note": "; ".join(notes),
        }
    notes.append("a click on a table row showed no star card either")
    return {"available": True, "note": "; ".join(notes)}


def run(
    n_rows: int = 1_000_000, repeats: int = 3, warm_pages: int = 2, workdir: Path | None = None
) -> dict[str, Any]:
    """Serve a synthetic survey of ``n_rows`` and measure page ready, drag and click in Chromium."""
    from playwright.sync_api import sync_playwright

    from benchmarks.synthetic import write_synthetic_survey

    timeout_ms = 180_000
    result: dict[str, Any] = {"n_rows": n_rows, "repeats": repeats, "goals_s": GOALS_S}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        write_synthetic_survey(root / SURVEY, n_rows)
        start = time.perf_counter()
        server = Server(root, root / "panel.log")
        result["server_start_s"] = time.perf_counter() - start
        result["server_rss_idle_bytes"] = server.rss()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                context = browser.new_context(viewport={"width": 1600, "height": 1000})
                page = context.new_page()
                result["page_ready_first_s"] = _page_ready(page, server.url, n_rows, timeout_ms)
                result["server_rss_after_first_page_bytes"] = server.rss()
                warm = []
                for _ in range(warm_pages):
                    page.close()
                    page = context.new_page()
                    warm.append(_page_ready(page, server.url, n_rows, timeout_ms))
                result["page_ready_warm"] = summarise(warm)
                # Canvas fractions (the canvas includes axes and legend): ~15-30 % of the stars each.
                boxes = [(0.40, 0.40, 0.55, 0.60), (0.42, 0.38, 0.57, 0.58), (0.38, 0.42, 0.53, 0.62)]
                drags = [_drag(page, *boxes[0], timeout_ms)]  # first drag pays the JIT
                for i in range(repeats):
                    _clear(page, timeout_ms)
                    drags.append(_drag(page, *boxes[(i + 1) % len(boxes)], timeout_ms))
                result["drag_first"] = drags[0]
                result["drags"] = drags[1:]
                result["drag_to_all_views"] = summarise([d["all_views_s"] for d in drags[1:]])
                result["drag_to_count"] = summarise([d["count_s"] for d in drags[1:]])
                result["server_rss_after_drags_bytes"] = server.rss()
                result["star_card"] = _click_star_card(page, 20_000)
                browser.close()
        finally:
            result["server_rss_end_bytes"] = server.rss() if server.proc.poll() is None else None
            server.stop()
            log_tail = (root / "panel.log").read_text(errors="replace")[-2000:]
            result["server_log_tail"] = log_tail
    result["goal_met"] = {
        "page_ready_warm": result["page_ready_warm"]["median_s"] <= GOALS_S["page_ready_warm"],
        "drag_to_all_views": result["drag_to_all_views"]["median_s"] <= GOALS_S["drag_to_all_views"],
        "click_to_star_card": (
            result["star_card"]["click_to_card_s"] <= GOALS_S["click_to_star_card"]
            if "click_to_card_s" in result["star_card"]
            else None
        ),
    }
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    r = run(args.rows, args.repeats)
    r.pop("server_log_tail")
    print(r)


if __name__ == "__main__":
    main()
