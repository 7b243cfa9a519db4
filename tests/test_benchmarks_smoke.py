"""Every benchmark runs end to end at a tiny size and the report renders (no timing assertions).

Keeps ``benchmarks/`` from rotting as the code it measures changes; the real figures come from
``make bench``. The browser benchmark needs Chromium and a server, so it carries the ``ui`` marker.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import benchmarks
from benchmarks import common, report, run_all
from benchmarks.common import write_result

NO_BROWSER = [name for name in run_all.PROFILES["smoke"] if name != "browser"]


def test_modules_import_without_side_effects(tmp_path: Path) -> None:
    before = set(Path(benchmarks.__file__).parent.joinpath("results").glob("*"))
    for info in pkgutil.iter_modules(benchmarks.__path__):
        importlib.import_module(f"benchmarks.{info.name}")
    assert set(Path(benchmarks.__file__).parent.joinpath("results").glob("*")) == before


@pytest.mark.slow  # trains a model and fits UMAP, each for a few seconds (minutes on a busy machine)
def test_every_benchmark_runs_and_the_report_renders(tmp_path: Path) -> None:
    for name in NO_BROWSER:
        record = run_all.run_one(name, "smoke")
        assert record["status"] == "ok", f"{name}: {record.get('error')}\n{record.get('traceback')}"
        write_result(name, record, tmp_path)

    selection = (tmp_path / "selection.json").read_text()
    assert '"ratio_box"' in selection and '"ratio_lasso"' in selection
    write_result("run", {"profile": "smoke", "hardware": {"cores": 2}, "versions": {}}, tmp_path)
    text = report.render(tmp_path, NO_BROWSER)
    for heading in (
        "Selection latency",
        "Memory",
        "Base layers from multi-resolution aggregates",
        "Embedding throughput",
        "Pipeline",
        "Ingest at scale",
        "UMAP layout",
    ):
        assert heading in text, f"RESULTS.md lacks the {heading!r} section"
    assert "Failed" not in text
    assert "| embedding, `tiny` (" in text and "the demo model), stars/s |" in text
    # Dask scaling of both stages, with the 1-worker rate and the ratio in the same run.
    for stage in ("embed", "ingest"):
        assert f"| {stage} with 2 Dask workers (" in text and "(1 worker) | ×" in text
    assert "`embed_survey` of 64 synthetic stars in 4 tasks of 16" in text and "**differ**" not in text


def test_a_failed_benchmark_is_reported_not_hidden(tmp_path: Path) -> None:
    write_result("run", {"profile": "smoke", "hardware": {"cores": 2}, "versions": {}}, tmp_path)
    write_result("umap", {"benchmark": "umap", "status": "failed", "error": "ValueError: boom"}, tmp_path)
    text = report.render(tmp_path, ["umap"])
    assert "**Failed**: `ValueError: boom`" in text
    assert "umap: the benchmark failed" in text


@pytest.mark.ui
def test_browser_benchmark_runs(tmp_path: Path) -> None:
    record = run_all.run_one("browser", "smoke")
    assert record["status"] == "ok", f"{record.get('error')}\n{record.get('traceback')}"
    result = record["result"]
    assert result["drags"] and all(d["selected"] > 0 for d in result["drags"])
    write_result("browser", record, tmp_path)
    write_result("run", {"profile": "smoke", "hardware": {"cores": 2}, "versions": {}}, tmp_path)
    assert "Browser side" in report.render(tmp_path, ["browser"])


def test_other_jobs_are_measured_not_read_from_the_load() -> None:
    # The run's own children (a benchmark's server, browser, workers) are not "other jobs", however
    # high they keep the load average: one that burns a second of CPU leaves the figure near 0.
    busy, own, start = common.machine_busy_seconds(), common.children_cpu_seconds(), time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 1: pass",
        ],
        check=True,
    )
    measured = common.other_jobs(busy, own, time.perf_counter() - start)
    busy_end = common.machine_busy_seconds()
    if measured is None or busy is None or busy_end is None:
        pytest.skip("no /proc/stat on this machine")
    assert common.children_cpu_seconds() - own >= 0.9
    # Other processes of a shared machine may run meanwhile; the child's own second is not theirs.
    assert busy_end - busy - measured["other_cpu_s"] >= 0.85, (busy_end - busy, measured)
    high_load = [9.0, 9.0, 9.0]
    quiet = {"other_jobs": {"other_cpu_s": 0.3, "other_cores": 0.01}}
    assert "No other jobs" in report._other_jobs_line(quiet, {}, 2, 9.0, high_load)
    busy_run = {"other_jobs": {"other_cpu_s": 60.0, "other_cores": 0.5}}
    line = report._other_jobs_line(
        busy_run, {"embed": {"other_jobs": {"other_cores": 0.8}}}, 2, 0.5, [0.1] * 3
    )
    assert "Other jobs were running" in line and "embed 0.8 cores" in line
    # A run recorded before the measurement existed: the load average, said as a guess.
    assert "may have been running" in report._other_jobs_line({}, {}, 2, 9.0, high_load)
