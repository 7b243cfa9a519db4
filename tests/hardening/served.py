"""Start and stop a real ``desa serve`` (``panel serve``) on 127.0.0.1 for the hardening tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import free_port


def status(url: str, opener: urllib.request.OpenerDirector | None = None) -> tuple[int, str, str]:
    """(HTTP status, final URL, body) of a GET; errors become their status code."""
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=60) as response:
            return response.status, response.geturl(), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, url, exc.read().decode("utf-8", "replace")
    except OSError:
        return 0, url, ""


@contextmanager
def desa_serve(data_root: Path, survey: str, *args: str, log_path: Path) -> Iterator[tuple[str, int]]:
    """Run ``desa serve`` with liveness on; yield (base URL, server pid) once /liveness answers."""
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
        "--liveness",
        *args,
    ]
    env = {**os.environ, "DESA_DATA_DIR": str(data_root)}
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    try:
        while status(base + "/liveness")[0] != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"desa serve did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
