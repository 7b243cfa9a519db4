"""The follow-up list by database URL (dashboard/followup_sql.py): upserts per dialect, clear errors.

The store's behaviour on a ``sqlite:///`` URL is tested with the file-path store's tests
(tests/dashboard/test_followup.py runs each on both back ends); PostgreSQL and MySQL are checked by
compiling their statements (no server here). Tests that need SQLAlchemy (extra ``db``) skip without it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from dashboard import followup
from dashboard.app import build_app
from dashboard.followup import FollowupDatabaseError, FollowupList, open_followup
from data.settings import followup_database

SKIP_REASON = "SQLAlchemy (extra 'db') is not installed"
PASSWORD = "s3kr1t-pw"


def sql() -> object:
    """dashboard.followup_sql, or skip the test without SQLAlchemy."""
    pytest.importorskip("sqlalchemy", reason=SKIP_REASON)
    import dashboard.followup_sql as module

    return module


def one_line(text: object) -> str:
    return " ".join(str(text).split())


@pytest.mark.parametrize("keep_note", [False, True])
def test_upserts_compile_with_each_dialects_conflict_clause(keep_note: bool) -> None:
    module = sql()
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    note = "note = excluded.note"
    pg = one_line(
        module.upsert_statement("postgresql", keep_note=keep_note).compile(dialect=postgresql.dialect())
    )
    assert pg.startswith(
        'INSERT INTO followup (survey, "user", row, star, label, note, added_utc, updated_utc)'
    )
    assert 'ON CONFLICT (survey, "user", row) DO UPDATE SET label = excluded.label' in pg
    assert "updated_utc = excluded.updated_utc" in pg and (note in pg) is not keep_note
    assert "added_utc = " not in pg  # first added stays first added
    lite = one_line(module.upsert_statement("sqlite", keep_note=keep_note).compile(dialect=sqlite.dialect()))
    assert 'ON CONFLICT (survey, user, "row") DO UPDATE SET label = excluded.label' in lite
    assert (note in lite) is not keep_note
    my = one_line(module.upsert_statement("mysql", keep_note=keep_note).compile(dialect=mysql.dialect()))
    assert my.startswith(
        "INSERT INTO followup (survey, user, `row`, star, label, note, added_utc, updated_utc)"
    )
    assert "ON DUPLICATE KEY UPDATE label = VALUES(label)" in my and "ON CONFLICT" not in my
    assert "updated_utc = VALUES(updated_utc)" in my and ("note = VALUES(note)" in my) is not keep_note
    with pytest.raises(FollowupDatabaseError, match="no upsert for database 'oracle'"):
        module.upsert_statement("oracle", keep_note=keep_note)


def test_the_tables_compile_for_server_databases() -> None:
    module = sql()
    from sqlalchemy.dialects import mysql, postgresql
    from sqlalchemy.schema import CreateTable

    my = one_line(CreateTable(module.FOLLOWUP).compile(dialect=mysql.dialect()))
    assert "survey VARCHAR(255) NOT NULL" in my and "PRIMARY KEY (survey, user, `row`)" in my
    pg = one_line(CreateTable(module.HISTORY).compile(dialect=postgresql.dialect()))
    assert "id SERIAL NOT NULL" in pg and '"user" VARCHAR(255) NOT NULL' in pg


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"postgresql+nosuchdriver://ana:{PASSWORD}@db.example/lists", "unknown database or driver"),
        (f"nosuchdb://ana:{PASSWORD}@db.example/lists", "'nosuchdb' is not one of"),
        (f"postgresql+psycopg://ana:{PASSWORD}@db.example:notaport/lists", "not a database URL"),
        ("sqlite:////proc/no/such/folder/f.sqlite", "cannot make its folder"),
    ],
)
def test_a_bad_url_names_the_variable_and_the_fix_never_the_password(url: str, why: str) -> None:
    sql()
    with pytest.raises(FollowupDatabaseError) as info:
        open_followup(url, "demo")
    message = str(info.value)
    assert message.startswith("DESA_FOLLOWUP_DB=") and why in message, message
    assert "set DESA_FOLLOWUP_DB to a SQLAlchemy URL such as" in message and "or unset it" in message
    assert PASSWORD not in message
    if "ana:" in url:
        assert "ana:***@db.example" in message


def test_a_missing_driver_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    module = sql()

    def no_driver(*args: object, **kwargs: object) -> object:
        raise ModuleNotFoundError("No module named 'psycopg'")

    monkeypatch.setattr(module.sa, "create_engine", no_driver)
    with pytest.raises(
        FollowupDatabaseError, match=r"its driver is not installed \(No module named 'psycopg'\)"
    ):
        open_followup(f"postgresql+psycopg://ana:{PASSWORD}@nowhere.example/x", "demo")


def test_a_url_without_sqlalchemy_says_to_install_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        followup.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sqlalchemy" else real(name, *a),
    )
    with pytest.raises(
        FollowupDatabaseError, match=r"needs SQLAlchemy: pip install 'desa-explorer\[db\]'"
    ) as info:
        open_followup(f"postgresql+psycopg://ana:{PASSWORD}@db.example/lists", "demo")
    assert PASSWORD not in str(info.value) and "ana:***@db.example" in str(info.value)


def test_the_page_works_with_an_unusable_url(survey_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESA_DATA_DIR", str(survey_dir.parent))
    monkeypatch.setenv("DESA_SURVEY", survey_dir.name)
    monkeypatch.setenv("DESA_FOLLOWUP_DB", f"postgresql+nosuchdriver://ana:{PASSWORD}@db.example/lists")
    page = build_app()
    parts = [part for obj in page.main for part in obj.select()]
    classes = {c for part in parts for c in part.css_classes}
    assert "followup-unavailable" in classes and "star-card" in classes and "label-bar" not in classes
    texts = [str(p.object) for p in parts if "followup-unavailable" in p.css_classes]
    assert texts and all("DESA\\_FOLLOWUP\\_DB" in t or "DESA_FOLLOWUP_DB" in t for t in texts), texts
    assert not any(PASSWORD in t for t in texts)


def test_the_setting_passes_a_url_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"mysql+pymysql://ana:{PASSWORD}@db.example/lists?charset=utf8mb4"
    monkeypatch.setenv("DESA_FOLLOWUP_DB", url)
    assert followup_database(tmp_path) == url
    monkeypatch.setenv("DESA_FOLLOWUP_DB", str(tmp_path / "lists.sqlite"))
    assert followup_database(tmp_path) == (tmp_path / "lists.sqlite").resolve()
    monkeypatch.delenv("DESA_FOLLOWUP_DB")
    assert followup_database(tmp_path) == tmp_path / "followup" / "followup.sqlite"


def test_a_file_and_its_url_hold_the_same_lists(tmp_path: Path) -> None:
    module = sql()
    path = tmp_path / "followup.sqlite"
    by_file = FollowupList(path, "demo")
    by_file.put("ana", [1, 2], ["a", "b"], label="candidate", note="first")
    by_url = open_followup(f"sqlite:///{path}", "demo")
    assert isinstance(by_url, module.SqlFollowupList) and by_url.location == f"sqlite:///{path}"
    by_url.put("ana", [2], ["b"], label="rejected")
    by_url.remove("ana", [1])
    assert by_file.labels("ana") == {2: "rejected"} and by_file.entries("ana")["note"].tolist() == ["first"]
    assert list(by_file.history("ana")["action"]) == ["put", "put", "put", "remove"]
    assert by_url.engine is open_followup(f"sqlite:///{path}", "demo").engine  # one pool per URL


def test_the_password_is_hidden_wherever_the_url_is_shown() -> None:
    module = sql()
    url = f"postgresql+psycopg://ana:{PASSWORD}@db.example:5432/lists"
    assert module.hidden(url) == "postgresql+psycopg://ana:***@db.example:5432/lists"
    assert module.hidden(f"postgresql://ana:{PASSWORD}@h:port/x") == "postgresql://ana:***@h:port/x"
    error = module.database_error(url, f"the server said: bad password {PASSWORD}")
    assert PASSWORD not in str(error) and "bad password ***" in str(error)
