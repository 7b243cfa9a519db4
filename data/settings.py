"""Where data lives: the one place that reads environment variables for paths.

``DESA_DATA_DIR`` sets the data root. Without it, a checkout uses ``<repo>/desa_data`` (git-ignored)
and an installed package uses ``~/.local/share/desa``. ``DESA_SURVEY`` names the survey folder
inside the root that the dashboard serves (default ``demo``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_SURVEY = "demo"


def data_root() -> Path:
    """Return the data root folder (not created)."""
    env = os.environ.get("DESA_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file():
        return repo / "desa_data"
    return Path.home() / ".local" / "share" / "desa"


def survey_name() -> str:
    """Return the survey the dashboard serves, from ``DESA_SURVEY`` (default ``demo``)."""
    return os.environ.get("DESA_SURVEY", DEFAULT_SURVEY)


def survey_dir(name: str | None = None) -> Path:
    """Return the folder of one survey (raw files, store and models) inside the data root."""
    return data_root() / (name or survey_name())


#: A database URL (``dialect[+driver]://...``) in ``DESA_FOLLOWUP_DB``, as opposed to a file path.
DATABASE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def followup_database(survey: Path) -> Path | str:
    """Return the follow-up lists' SQLite file, or the database URL given instead.

    ``DESA_FOLLOWUP_DB``, else ``<survey>/followup/followup.sqlite``. A ``DESA_FOLLOWUP_DB`` of the
    form ``dialect[+driver]://...`` (``postgresql+psycopg://user@host/db``, ``sqlite:///path``) is a
    SQLAlchemy URL and is returned unchanged (dashboard.followup.open_followup opens it).

    One file may hold the lists of several surveys (each row names its survey); point every server
    process, and every server sharing the lists, at the same file.
    """
    env = os.environ.get("DESA_FOLLOWUP_DB")
    if env and DATABASE_URL.match(env):
        return env
    if env:
        return Path(env).expanduser().resolve()
    return Path(survey) / "followup" / "followup.sqlite"


def samp_web_dir() -> Path:
    """Return the folder of tables sent over the SAMP Web Profile.

    ``DESA_SAMP_WEB_DIR``, else ``<data root>/.samp_web``.

    Every server process writes and serves its sessions' tables there (dashboard/samp_web.py).
    """
    env = os.environ.get("DESA_SAMP_WEB_DIR")
    return Path(env).expanduser().resolve() if env else data_root() / ".samp_web"
