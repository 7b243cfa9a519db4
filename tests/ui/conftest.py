"""Real-browser fixtures: Debian's Chromium and a served dashboard on a synthetic survey.

Recipe of docs/DASHBOARD.md section 4.2: never `playwright install`; the server runs in its own
process group and is stopped as a group (``--num-procs`` would fork workers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import dashboard
from benchmarks import fixtures
from benchmarks.common import CHROMIUM, CHROMIUM_FLAGS, answers, free_port
from dashboard.serve_options import SAMP_WEB_PLUGIN

N_STARS = 3000
#: The served app's log file per URL (the ``app_log`` fixture).
SERVER_LOGS: dict[str, Path] = {}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1000}}


#: Set to a folder (``make screenshots``: the repository's ``docs/``) to keep the README's
#: screenshots there; otherwise the browser tests write them to a temporary folder, so a test run
#: leaves the working tree as it found it.
SCREENSHOTS_ENV = "DESA_SCREENSHOTS_DIR"


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests write the pages they show in the README (``SCREENSHOTS_ENV``)."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def samp_lockfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the served app looks for a SAMP hub ($SAMP_HUB); a test starts the hub there."""
    return tmp_path_factory.mktemp("samp") / "samp.lock"


@contextlib.contextmanager
def serve(data_root: Path, survey: str, log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``panel serve dashboard/app.py`` on a free port for ``data_root/survey``; yields the page URL.

    Stopped as a process group when the block ends (a test may stop and start it again).
    """
    port = free_port()
    app = Path(dashboard.__file__).with_name("app.py")
    env = {**os.environ, **(env or {}), "DESA_DATA_DIR": str(data_root), "DESA_SURVEY": survey}
    env.setdefault("DESA_SAMP_WEB_DIR", str(data_root / ".samp_web"))
    with log_path.open("a") as log:
        proc = subprocess.Popen(
            [
                *[
                    sys.executable,
                    "-m",
                    "panel",
                    "serve",
                    str(app),
                    "--address",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                *["--plugins", SAMP_WEB_PLUGIN],
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        url, deadline = f"http://127.0.0.1:{port}/app", time.monotonic() + 90
        try:
            while not answers(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"panel serve did not start; see {log_path}")
                time.sleep(0.5)
            SERVER_LOGS[url] = log_path
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory, samp_lockfile: Path) -> Iterator[str]:
    data_root = tmp_path_factory.mktemp("desa_data")
    fixtures.write_synthetic_survey(data_root / "uitest", n=N_STARS, seed=0)
    env = {"SAMP_HUB": f"std-lockurl:{samp_lockfile.as_uri()}"}  # never the user's ~/.samp hub
    log_path = tmp_path_factory.mktemp("serve") / "panel.log"
    with serve(data_root, "uitest", log_path, env) as url:
        yield url


@pytest.fixture
def app_log(app_url: str) -> Path:
    """The log file of the server behind ``app_url`` (stdout and stderr of `panel serve`)."""
    return SERVER_LOGS[app_url]
