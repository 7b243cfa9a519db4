"""The short load test: 4 browser sessions for 30 s against a real ``desa serve``; no errors.

``benchmarks/soak.py`` (``make soak``) is the long version with 20 sessions. Timings and memory
are only reported here (a shared CI machine makes them noisy), never asserted.
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
def test_four_sessions_select_and_open_cards_without_errors(tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    fixtures.write_synthetic_survey(data_root / "soak", n=2000, seed=2)
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.soak",
            "--sessions",
            "4",
            "--seconds",
            "30",
            "--data-dir",
            str(data_root),
            "--survey",
            "soak",
            "--timeout",
            "240",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.is_file(), proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    print(proc.stdout)
    assert report["errors"] == 0, report["error_samples"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert report["latency"]["load"]["n"] >= 4
    # Every session made at least one box selection that reached the server and came back.
    assert report["latency"]["select"]["n"] >= 4
    assert report["rss_warm_mib"] > 0 and report["rss_end_mib"] > 0
