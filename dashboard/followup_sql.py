"""The follow-up list in a server database (PostgreSQL, MySQL/MariaDB) or SQLite, by SQLAlchemy URL.

``DESA_FOLLOWUP_DB=postgresql+psycopg://user@host/db`` (or ``mysql+pymysql://...``,
``sqlite:///path``) stores the lists of dashboard/followup.py through SQLAlchemy Core: the same two
tables (``followup`` keyed by survey, user and row; ``followup_history``), the same per-row upserts
(PostgreSQL's and SQLite's ``INSERT ... ON CONFLICT DO UPDATE``, MySQL's ``ON DUPLICATE KEY
UPDATE``), so labelling a star touches that star's row only, and one transaction per change
(``engine.begin()``; on SQLite ``BEGIN IMMEDIATE`` in WAL mode, as the file-path store does).
Engines are shared per URL within a process (one connection pool, not one per session).

SQLAlchemy is the optional extra ``db``; the driver of a server database is the deployer's install
(docs/DEPLOY.md). A URL may carry a password: messages show it as ``***`` only.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from dashboard.followup import (
    BUSY_TIMEOUT_S,
    COLUMNS,
    FollowupDatabaseError,
    FollowupList,
    user_name,
)

#: Dialects whose upsert this module writes.
DIALECTS = ("postgresql", "mysql", "mariadb", "sqlite")
#: Key columns are VARCHAR (MySQL cannot index TEXT): at most this many characters.
KEY_LENGTH = 255
#: The fix named by every error about the URL.
FIX = (
    "set DESA_FOLLOWUP_DB to a SQLAlchemy URL such as postgresql+psycopg://user@host/dbname "
    "(with its driver installed: pip install 'desa-explorer[db]' psycopg) or to a SQLite file path, "
    "or unset it for <survey>/followup/followup.sqlite"
)

METADATA = sa.MetaData()
FOLLOWUP = sa.Table(
    "followup",
    METADATA,
    sa.Column("survey", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("user", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("row", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("star", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("added_utc", sa.String(32), nullable=False),
    sa.Column("updated_utc", sa.String(32), nullable=False),
)
HISTORY = sa.Table(
    "followup_history",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("survey", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("user", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("row", sa.BigInteger, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("label", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("time_utc", sa.String(32), nullable=False),
    sqlite_autoincrement=True,
)

#: One engine (and connection pool) per URL, shared by every session of the process.
_ENGINES: dict[str, sa.Engine] = {}
_ENGINES_LOCK = threading.Lock()
#: ``scheme://user:password@`` in a URL SQLAlchemy could not parse.
_PASSWORD = re.compile(r"(^[^:/]*://[^:/@]*:)[^@]*@")


def hidden(url: str) -> str:
    """``url`` with its password replaced by ``***`` (also when SQLAlchemy cannot parse it)."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError, TypeError):
        return _PASSWORD.sub(r"\1***@", url)


def _scrub(text: str, url: str) -> str:
    """``text`` with ``url``'s password (if any) replaced by ``***``."""
    try:
        password = sa.make_url(url).password
    except (sa_exc.ArgumentError, ValueError, TypeError):
        match = _PASSWORD.match(url)
        password = url[match.end(1) : match.end() - 1] if match else None
    return text.replace(str(password), "***") if password else text


def database_error(url: str, reason: str) -> FollowupDatabaseError:
    """The error for an unusable ``DESA_FOLLOWUP_DB`` URL: the URL without password, why, the fix."""
    return FollowupDatabaseError(
        _scrub(f"DESA_FOLLOWUP_DB={hidden(url)} cannot be used: {reason}; {FIX}", url)
    )


def upsert_statement(dialect: str, *, keep_note: bool) -> sa.Insert:
    """The per-row upsert of ``FOLLOWUP`` in ``dialect``, for executemany with one dict per star.

    A new star is inserted; a listed one gets the new label and time, and the new note unless
    ``keep_note`` (a change that gives no note keeps the star's note).
    """
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(FOLLOWUP)
        new = stmt.inserted
        changes = {"label": new.label, "updated_utc": new.updated_utc}
        if not keep_note:
            changes["note"] = new.note
        return stmt.on_duplicate_key_update(changes)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise FollowupDatabaseError(f"no upsert for database {dialect!r}; one of {', '.join(DIALECTS)}")
    stmt = insert(FOLLOWUP)
    new = stmt.excluded
    changes = {"label": new.label, "updated_utc": new.updated_utc}
    if not keep_note:
        changes["note"] = new.note
    return stmt.on_conflict_do_update(
        index_elements=[FOLLOWUP.c.survey, FOLLOWUP.c.user, FOLLOWUP.c.row], set_=changes
    )


def _sqlite_like_the_file_store(engine: sa.Engine) -> None:
    """WAL, a busy timeout and ``BEGIN IMMEDIATE`` per transaction, as ``FollowupList`` does."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not the driver, begins transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A change takes the write lock at once (no deadlock between two upgrading readers); a read
        # stays deferred, so readers never wait for writers (WAL).
        write = connection.get_execution_options().get("followup_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def engine_for(url: str) -> sa.Engine:
    """The shared engine of ``url`` (created on first use); FollowupDatabaseError if unusable."""
    with _ENGINES_LOCK:
        if url in _ENGINES:
            return _ENGINES[url]
        try:
            parsed = sa.make_url(url)
        except (sa_exc.ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
            raise database_error(url, f"not a database URL ({exc})") from None
        dialect = parsed.get_backend_name()
        if dialect not in DIALECTS:
            raise database_error(url, f"database {dialect!r} is not one of {', '.join(DIALECTS)}")
        options: dict[str, Any] = {"pool_pre_ping": True}
        if dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                try:
                    Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise database_error(url, f"cannot make its folder ({exc})") from None
            options = {"connect_args": {"timeout": BUSY_TIMEOUT_S}}
        try:
            engine = sa.create_engine(parsed, **options)
        except ImportError as exc:
            raise database_error(url, f"its driver is not installed ({exc})") from None
        except sa_exc.ArgumentError as exc:  # also NoSuchModuleError: an unknown driver
            raise database_error(url, f"unknown database or driver ({exc})") from None
        if dialect == "sqlite":
            _sqlite_like_the_file_store(engine)
        _ENGINES[url] = engine
        return engine


class SqlFollowupList(FollowupList):
    """The follow-up lists of one survey in the database of a SQLAlchemy URL.

    The same methods and checks as ``FollowupList`` (which it extends); only storage differs.

    Parameters
    ----------
    url
        A SQLAlchemy URL (``postgresql+psycopg://user:pw@host/db``); the tables are created on first
        use (existing ones, also those a ``FollowupList`` made in a SQLite file, are used as they are).
    survey
        The survey's name: lists of several surveys may share one database.
    """

    def __init__(self, url: str, survey: str) -> None:
        self.url = str(url)
        self.path = None  # no file: ``location`` says where the lists are
        self.survey = str(survey)
        self.engine = engine_for(self.url)
        try:
            METADATA.create_all(self.engine, checkfirst=True)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise database_error(self.url, f"cannot open it ({type(exc).__name__}: {exc})") from None

    @property
    def location(self) -> str:
        """The database URL without its password."""
        return hidden(self.url)

    def _write(self, statements: list[tuple[str, dict]]) -> None:
        """Run ``statements`` (kind, parameters) as one transaction: upserts or deletes, then history."""
        groups: dict[str, list[dict]] = {}
        for kind, params in statements:
            groups.setdefault(kind, []).append(params)
        dialect = self.engine.dialect.name
        with self.engine.execution_options(followup_write=True).begin() as db:
            for kind, rows in groups.items():
                if kind == "upsert":
                    keep_note = rows[0]["note"] is None  # one note (or none) per change
                    values = [
                        {key: p[key] for key in ("survey", "user", "row", "star", "label")}
                        | {"note": p["note"] or "", "added_utc": p["now"], "updated_utc": p["now"]}
                        for p in rows
                    ]
                    db.execute(upsert_statement(dialect, keep_note=keep_note), values)
                elif kind == "delete":
                    where = sa.and_(
                        FOLLOWUP.c.survey == sa.bindparam("b_survey"),
                        FOLLOWUP.c.user == sa.bindparam("b_user"),
                        FOLLOWUP.c.row == sa.bindparam("b_row"),
                    )
                    keys = [{"b_survey": p["survey"], "b_user": p["user"], "b_row": p["row"]} for p in rows]
                    db.execute(sa.delete(FOLLOWUP).where(where), keys)
                else:
                    columns = ("survey", "user", "row", "action", "label", "note")
                    values = [{key: p[key] for key in columns} | {"time_utc": p["now"]} for p in rows]
                    db.execute(sa.insert(HISTORY), values)

    def entries(self, user: str | None) -> pd.DataFrame:
        """``user``'s list, oldest first: ``COLUMNS`` (``row`` int64, the rest text)."""
        query = (
            sa.select(*(FOLLOWUP.c[name] for name in COLUMNS))
            .where(FOLLOWUP.c.survey == self.survey, FOLLOWUP.c.user == user_name(user))
            .order_by(FOLLOWUP.c.added_utc, FOLLOWUP.c.row)
        )
        with self.engine.connect() as db:
            frame = pd.DataFrame([tuple(r) for r in db.execute(query)], columns=list(COLUMNS))
        return frame.astype({"row": np.int64})

    def history(self, user: str | None) -> pd.DataFrame:
        """Every change of ``user``'s list, oldest first (row, action, label, note, time)."""
        names = ["row", "action", "label", "note", "time_utc"]
        query = (
            sa.select(*(HISTORY.c[name] for name in names))
            .where(HISTORY.c.survey == self.survey, HISTORY.c.user == user_name(user))
            .order_by(HISTORY.c.id)
        )
        with self.engine.connect() as db:
            return pd.DataFrame([tuple(r) for r in db.execute(query)], columns=names)
