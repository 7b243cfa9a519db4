"""The short load test: 3 protocol-level users and 1 browser for 15 s against a real ``desa serve``.

``benchmarks/soak.py`` (``make soak``) is the long version: 20 users for 10 minutes at 10^6 stars.
This one asserts only that nothing failed (no action without its reply, no server traceback, no
page error) and that every kind of action ran; timings and memory are reported, never asserted (a
shared CI machine makes them noisy).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import fixtures

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.ui
def test_protocol_users_and_a_browser_select_and_click_without_errors(tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    fixtures.write_synthetic_survey(data_root / "soak", n=2000, seed=2)
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.soak",
            *("--sessions", "4", "--browsers", "1", "--seconds", "15", "--no-warm-up"),
            *("--think", "0.2,0.5", "--reload-every", "3", "--ramp", "0.5"),
            # Any CPU: a CI machine may have one core, and the test must not depend on its timing.
            *("--server-cpus", "", "--client-cpus", ""),
            *("--data-dir", str(data_root), "--survey", "soak"),
            *("--timeout", "60", "--out", str(out)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.is_file(), proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    print(proc.stdout)
    assert report["errors"] == 0, report["error_samples"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    protocol, browser = report["protocol"]["latency"], report["browser"]["latency"]
    # Every user opened its page, and each kind of action got its reply at least once.
    assert protocol["page"]["n"] >= 3 and browser["page"]["n"] >= 1
    assert all(protocol[action]["n"] >= 3 for action in ("box", "expression", "click"))
    assert browser["select"]["n"] >= 1
    # The report names its host and the host's speed, so runs on different machines compare.
    from benchmarks.soak import markdown

    assert report["machine"]["cpu_model"] and report["machine"]["python_loop_s"] > 0
    assert "a fixed Python loop took" in markdown(report)


def test_a_protocol_user_never_clicks_the_star_whose_card_is_on_show() -> None:
    """The same star twice in a row changes no card, so no reply comes: the soak counted an error."""
    import itertools
    import random

    import numpy as np

    from benchmarks.soak_protocol import Page, Stars

    page = Page.__new__(Page)  # no connection: only the choice of star is checked
    sent: list[tuple[float, float]] = []
    page.umap, page.last_click = "umap", None

    def patch(event: dict) -> None:
        values = event["msg_data"]["values"]
        sent.append((values["x"], values["y"]))

    page.conn = type("Conn", (), {"patch": staticmethod(patch)})()
    stars = Stars(np.arange(3.0), np.arange(3.0))
    rng = random.Random(0)
    for _ in range(300):
        page.click(stars, rng)
    assert all(a != b for a, b in itertools.pairwise(sent))
    assert {x for x, _ in sent} == {0.0, 1.0, 2.0}
