"""CPU time of building one new session's page, with and without the shared base aggregations.

What ``panel serve`` does for each new browser session, without a browser: ``build_app`` and the
page's Bokeh models in a fresh document (the HoloViews views render their first frames then:
datashader base layers, hover and selected layers, histogram). The first session of a process
pays for imports, numba compilation and the column files; the later ones are what every further
user costs. Measured twice in one process on the same catalogue: with ``dashboard/shared.py``'s
process-wide values (the default), and with them turned off (``shared.ENABLED = False``, each
session computing its own base layers, as before issue 16 item 7). ``--profile`` prints where a
later session's time goes (cProfile, cumulative, the dashboard's and datashader's functions).

    python -m benchmarks.bench_session --stars 1000000
    python -m benchmarks.bench_session --data-dir /tmp/data --survey s1m --sessions 5 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def build_session() -> Any:
    """One session's page in a new Bokeh document, as the server builds it; returns the document."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from dashboard import app

    doc = Document()
    with set_curdoc(doc), doc.models.freeze():
        app.build_app().server_doc(doc)
    return doc


def cpu_per_session(n: int) -> list[float]:
    """CPU seconds of each of ``n`` session builds (the documents are kept, as open sessions are)."""
    kept, out = [], []
    for _ in range(n):
        start = time.process_time()
        kept.append(build_session())
        out.append(time.process_time() - start)
    return out


def profile_one() -> str:
    """cProfile of one session build: the dashboard's and datashader's functions, cumulative."""
    profiler = cProfile.Profile()
    profiler.enable()
    build_session()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(r"dashboard/|operation/datashader|panel/pane/holoviews", 30)
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stars", type=int, default=1_000_000, help="synthetic survey size")
    parser.add_argument("--data-dir", type=Path, default=None, help="data root of an existing survey")
    parser.add_argument("--survey", default="bench", help="survey name under --data-dir")
    parser.add_argument("--sessions", type=int, default=5, help="sessions measured per mode")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of a later session")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="desa_bench_session_") as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            from benchmarks.synthetic import write_synthetic_survey

            data_dir = Path(tmp)
            write_synthetic_survey(data_dir / args.survey, args.stars)
        os.environ["DESA_DATA_DIR"], os.environ["DESA_SURVEY"] = str(data_dir), args.survey
        from dashboard import shared

        first = cpu_per_session(1)[0]  # imports, numba, column files: paid once per process
        results = {}
        for label, enabled in (("per session (shared off)", False), ("shared (default)", True)):
            shared.ENABLED = enabled
            shared.clear()
            seconds = cpu_per_session(args.sessions)
            results[label] = seconds
            if args.profile:
                print(f"--- {label}: profile of one more session\n{profile_one()}")
        print(f"first session of the process: {first:.2f} s CPU")
        for label, seconds in results.items():
            later = seconds[1:] if label.startswith("shared") else seconds
            print(
                f"{label}: median {statistics.median(later):.2f} s CPU per session "
                f"(each: {', '.join(f'{s:.2f}' for s in seconds)})"
            )
        print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
