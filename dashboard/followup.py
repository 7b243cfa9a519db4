"""The follow-up list: stars a user marks for follow-up, with a label and a note, in a database.

One table row per (survey, user, star): the catalogue ``row``, the star's id as text, a label
(``candidate``, ``confirmed``, ``rejected`` or a short custom one), a free-text note, when it was
first added and last changed (UTC). Stored through the standard library's ``sqlite3`` in one
database file (``data.settings.followup_database``), never in the browser: a list survives server
restarts and is shared by every process of ``--num-procs``.

Concurrent writers (two sessions, two server processes) never overwrite each other's lists: the
database runs in WAL mode (readers never block the writer), each change is one ``BEGIN
IMMEDIATE`` transaction of per-row upserts (``INSERT ... ON CONFLICT DO UPDATE``), so labelling a
star touches that star's row only, and a busy database is waited for (``BUSY_TIMEOUT_S``), never
failed. Every change is also appended to ``followup_history`` (who changed what, when).

Notes and custom labels are user text: bounded here (``MAX_NOTE``, ``MAX_LABEL``, control
characters removed), escaped by whoever shows them (dashboard/safe_text.py, Tabulator's plain-text
formatter) and exported as data.

``DESA_FOLLOWUP_DB`` may instead be a SQLAlchemy URL (``postgresql+psycopg://...``,
``mysql+pymysql://...``, ``sqlite:///...``): :func:`open_followup` then returns the same list
through SQLAlchemy Core (dashboard/followup_sql.py: the same tables, per-row upserts and one
transaction per change). SQLAlchemy is the optional extra ``db``; a file path needs nothing.
"""

from __future__ import annotations

import datetime
import importlib.util
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from data.settings import DATABASE_URL

#: The labels offered by a button each; "confirmed" and "candidate" count as positives for the
#: candidate queue (dashboard/queue.py), "rejected" as a negative.
LABELS = ("candidate", "confirmed", "rejected")
POSITIVE_LABELS = frozenset({"candidate", "confirmed"})
NEGATIVE_LABELS = frozenset({"rejected"})
#: A custom label: letters, digits, space and ``_.+-``; at most ``MAX_LABEL`` characters.
MAX_LABEL = 32
_LABEL = re.compile(rf"[A-Za-z0-9][A-Za-z0-9 _.+-]{{0,{MAX_LABEL - 1}}}")
#: Longest note kept, characters (a paragraph; the rest is refused, not cut silently).
MAX_NOTE = 2000
#: Most stars one call may add (a selection of 10^6 stars is not a follow-up list).
MAX_ADD = 10_000
#: How long a writer waits for another one's transaction, seconds.
BUSY_TIMEOUT_S = 30.0
#: The user of a server without login (``pn.state.user`` is None).
LOCAL_USER = "local"
#: Control characters removed from notes (newline and tab are kept).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

SCHEMA = """
CREATE TABLE IF NOT EXISTS followup (
    survey TEXT NOT NULL,
    user TEXT NOT NULL,
    row INTEGER NOT NULL,
    star TEXT NOT NULL,
    label TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    added_utc TEXT NOT NULL,
    updated_utc TEXT NOT NULL,
    PRIMARY KEY (survey, user, row)
);
CREATE TABLE IF NOT EXISTS followup_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    survey TEXT NOT NULL,
    user TEXT NOT NULL,
    row INTEGER NOT NULL,
    action TEXT NOT NULL,
    label TEXT,
    note TEXT,
    time_utc TEXT NOT NULL
);
"""

_UPSERT = """
INSERT INTO followup (survey, user, row, star, label, note, added_utc, updated_utc)
VALUES (:survey, :user, :row, :star, :label, COALESCE(:note, ''), :now, :now)
ON CONFLICT (survey, user, row) DO UPDATE SET
    label = excluded.label,
    note = COALESCE(:note, followup.note),
    updated_utc = excluded.updated_utc
"""
_DELETE = "DELETE FROM followup WHERE survey=:survey AND user=:user AND row=:row"
_HISTORY = """
INSERT INTO followup_history (survey, user, row, action, label, note, time_utc)
VALUES (:survey, :user, :row, :action, :label, :note, :now)
"""
#: The SQL of each kind of statement ``FollowupList._write`` runs.
_SQL = {"upsert": _UPSERT, "delete": _DELETE, "history": _HISTORY}
#: Columns of ``FollowupList.entries``.
COLUMNS = ("row", "star", "label", "note", "user", "added_utc", "updated_utc")


class FollowupError(ValueError):
    """A label, note or request the list refuses (the message says why)."""


class FollowupDatabaseError(RuntimeError):
    """The database of ``DESA_FOLLOWUP_DB`` cannot be used (the message says why and what to do)."""


def is_database_url(location: str | Path) -> bool:
    """Whether ``location`` is a database URL (``dialect[+driver]://...``) rather than a file path."""
    return isinstance(location, str) and bool(DATABASE_URL.match(location))


def open_followup(location: str | Path, survey: str) -> FollowupList:
    """The follow-up lists at ``location``: a SQLite file path, or a SQLAlchemy database URL.

    Raises FollowupDatabaseError for a URL that cannot be used (no SQLAlchemy, a malformed URL, a
    missing driver, a server that refuses), with the password never in the message; a file path
    raises what ``sqlite3`` raises, as ``FollowupList`` does.
    """
    if is_database_url(location):
        if importlib.util.find_spec("sqlalchemy") is None:
            shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(location))
            raise FollowupDatabaseError(
                f"DESA_FOLLOWUP_DB={shown} is a database URL, which needs SQLAlchemy: "
                "pip install 'desa-explorer[db]' (and the database's driver), or set DESA_FOLLOWUP_DB to a "
                "SQLite file path, or unset it for <survey>/followup/followup.sqlite"
            )
        from dashboard.followup_sql import SqlFollowupList

        return SqlFollowupList(str(location), survey)
    return FollowupList(Path(location), survey)


def check_label(label: str) -> str:
    """``label`` if it is one of ``LABELS`` or a valid custom label; else FollowupError."""
    text = str(label).strip()
    if text in LABELS or _LABEL.fullmatch(text):
        return text
    raise FollowupError(
        f"a label is one of {', '.join(LABELS)} or up to {MAX_LABEL} letters, digits, spaces and _.+- "
        f"(starting with a letter or digit)"
    )


def clean_note(note: str | None) -> str | None:
    """The note as stored: control characters removed, at most ``MAX_NOTE`` characters; None kept."""
    if note is None:
        return None
    text = _CONTROL.sub("", str(note)).strip()
    if len(text) > MAX_NOTE:
        raise FollowupError(f"a note holds at most {MAX_NOTE:,} characters; this one has {len(text):,}")
    return text


def user_name(user: str | None) -> str:
    """The list's owner: the logged-in user, or ``LOCAL_USER`` on a server without login."""
    return str(user) if user else LOCAL_USER


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class FollowupList:
    """The follow-up lists of one survey in one SQLite database (every user's, each kept apart).

    Parameters
    ----------
    path
        The database file (created with its folder on first use).
    survey
        The survey's name: lists of several surveys may share one database.
    """

    def __init__(self, path: Path, survey: str) -> None:
        self.path = Path(path)
        self.survey = str(survey)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        """A new connection (one per call: sessions run in other threads and processes)."""
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        return db

    def _write(self, statements: list[tuple[str, dict]]) -> None:
        """Run ``statements`` (kind of ``_SQL``, parameters) as one immediate transaction (all or nothing)."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            for kind, params in statements:
                db.execute(_SQL[kind], params)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def put(
        self,
        user: str | None,
        rows: Iterable[int],
        stars: Iterable[str],
        *,
        label: str,
        note: str | None = None,
    ) -> int:
        """Add the stars of ``rows`` (ids ``stars``) with ``label``, or relabel them; returns how many.

        ``note=None`` keeps a star's note (empty for a new one); a string replaces it.
        """
        label, note, user = check_label(label), clean_note(note), user_name(user)
        rows = [int(r) for r in rows]
        stars = [str(s) for s in stars]
        if len(rows) != len(stars):
            raise FollowupError(f"{len(rows)} rows but {len(stars)} star ids")
        if len(rows) > MAX_ADD:
            raise FollowupError(
                f"{len(rows):,} stars; a follow-up list takes at most {MAX_ADD:,} at once: "
                "narrow the selection"
            )
        now = _now()
        statements = []
        for row, star in zip(rows, stars, strict=True):
            params = {"survey": self.survey, "user": user, "row": row, "star": star, "label": label}
            params.update(note=note, now=now, action="put")
            statements += [("upsert", params), ("history", params)]
        self._write(statements)
        return len(rows)

    def remove(self, user: str | None, rows: Iterable[int]) -> int:
        """Take the stars of ``rows`` off ``user``'s list; returns how many were on it."""
        user, rows = user_name(user), [int(r) for r in rows]
        before = len(self.entries(user))
        now = _now()
        statements = []
        for row in rows:
            params = {"survey": self.survey, "user": user, "row": row, "now": now}
            statements.append(("delete", params))
            statements.append(("history", {**params, "action": "remove", "label": None, "note": None}))
        self._write(statements)
        return before - len(self.entries(user))

    def entries(self, user: str | None) -> pd.DataFrame:
        """``user``'s list, oldest first: ``COLUMNS`` (``row`` int64, the rest text)."""
        db = self._connect()
        try:
            cursor = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM followup WHERE survey=? AND user=? "
                "ORDER BY added_utc, row",
                (self.survey, user_name(user)),
            )
            frame = pd.DataFrame(cursor.fetchall(), columns=list(COLUMNS))
        finally:
            db.close()
        return frame.astype({"row": np.int64})

    def labels(self, user: str | None) -> dict[int, str]:
        """``{row: label}`` of ``user``'s list."""
        frame = self.entries(user)
        return dict(zip(frame["row"].tolist(), frame["label"].tolist(), strict=True))

    def history(self, user: str | None) -> pd.DataFrame:
        """Every change of ``user``'s list, oldest first (row, action, label, note, time)."""
        db = self._connect()
        try:
            cursor = db.execute(
                "SELECT row, action, label, note, time_utc FROM followup_history "
                "WHERE survey=? AND user=? ORDER BY id",
                (self.survey, user_name(user)),
            )
            return pd.DataFrame(cursor.fetchall(), columns=["row", "action", "label", "note", "time_utc"])
        finally:
            db.close()


def star_ids(catalog: pd.DataFrame, rows: np.ndarray | list[int]) -> list[str]:
    """Readable ids of catalogue ``rows``: ``KIC 123``, else ``Gaia DR3 456``, else ``row 7``."""
    rows = np.asarray(rows, dtype=np.int64)
    if "kic_id" in catalog.columns:
        return [f"KIC {int(v)}" for v in catalog["kic_id"].to_numpy()[rows]]
    if "gaia_source_id" in catalog.columns:
        return [f"Gaia DR3 {int(v)}" for v in catalog["gaia_source_id"].to_numpy()[rows]]
    return [f"row {int(r)}" for r in rows]


#: Columns the list adds to an export of its stars.
EXPORT_COLUMNS = {
    "label": "followup_label",
    "note": "followup_note",
    "user": "followup_user",
    "added_utc": "followup_added_utc",
    "updated_utc": "followup_updated_utc",
}
#: A CSV cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_frame(catalog: pd.DataFrame, entries: pd.DataFrame, *, fmt: str) -> pd.DataFrame:
    """The catalogue rows of ``entries`` with their label, note, user and times, for ``export_selection``.

    Notes are data: a CSV note that a spreadsheet would run as a formula gets a leading ``'``;
    FITS (ASCII headers and, in astropy, ASCII text columns) gets non-ASCII as backslash escapes.
    """
    rows = entries["row"].to_numpy(dtype=np.int64)
    frame = catalog.iloc[rows].reset_index(drop=True).copy()
    for source, name in EXPORT_COLUMNS.items():
        values = entries[source].astype(str).to_list()
        if fmt == "csv":
            values = ["'" + v if v.startswith(_FORMULA_START) else v for v in values]
        if fmt == "fits":
            values = [v.encode("ascii", "backslashreplace").decode("ascii") for v in values]
        frame[name] = values
    return frame
