"""The follow-up list: labels and notes persist, writers never clash, exports carry them.

Every store test runs on both back ends: a SQLite file path (the standard library's ``sqlite3``)
and a ``sqlite:///`` URL through SQLAlchemy (dashboard/followup_sql.py), skipped without the ``db``
extra.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from dashboard.export import ExportFolder
from dashboard.followup import (
    MAX_ADD,
    MAX_NOTE,
    FollowupError,
    FollowupList,
    check_label,
    clean_note,
    export_frame,
    open_followup,
    star_ids,
)
from dashboard.state import DashboardState
from dashboard.views.followup_view import FollowupActions

NO_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is None
#: The two back ends: a file path (stdlib sqlite3) and a SQLAlchemy URL.
BACKENDS = [
    "path",
    pytest.param(
        "url", marks=pytest.mark.skipif(NO_SQLALCHEMY, reason="SQLAlchemy (extra 'db') is not installed")
    ),
]


def location(path: Path, backend: str) -> Path | str:
    """``path`` as the back end ``backend`` is given it: the path, or a ``sqlite:///`` URL of it."""
    return path if backend == "path" else f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def store(tmp_path: Path, request: pytest.FixtureRequest) -> FollowupList:
    store = open_followup(location(tmp_path / "lists" / "followup.sqlite", request.param), "demo")
    assert type(store).__name__ == {"path": "FollowupList", "url": "SqlFollowupList"}[request.param]
    return store


@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_and_notes_survive_a_new_connection(tmp_path: Path, backend: str) -> None:
    path = location(tmp_path / "followup.sqlite", backend)
    first = open_followup(path, "demo")
    first.put("ana", [3, 7], ["KIC 1", "KIC 2"], label="candidate", note="Li strong")
    first.put("ana", [7], ["KIC 2"], label="confirmed")  # no note given: the note is kept
    reopened = open_followup(path, "demo")  # as after a server restart
    entries = reopened.entries("ana").set_index("row")
    assert entries.loc[3, "label"] == "candidate" and entries.loc[3, "note"] == "Li strong"
    assert entries.loc[7, "label"] == "confirmed" and entries.loc[7, "note"] == "Li strong"
    assert entries.loc[7, "star"] == "KIC 2"
    assert reopened.entries("bob").empty  # per user
    assert open_followup(path, "other").entries("ana").empty  # per survey
    assert list(reopened.history("ana")["action"]) == ["put", "put", "put"]
    assert reopened.remove("ana", [3]) == 1
    assert reopened.labels("ana") == {7: "confirmed"}


def test_concurrent_writers_do_not_overwrite_each_other(store: FollowupList) -> None:
    # Two users and one user from two sessions, all writing at once through their own connections.
    def work(user: str, rows: range, label: str) -> None:
        for row in rows:
            store.put(user, [row], [f"KIC {row}"], label=label, note=f"{user} {row}")

    threads = [
        threading.Thread(target=work, args=("ana", range(0, 40), "candidate")),
        threading.Thread(target=work, args=("ana", range(40, 80), "rejected")),
        threading.Thread(target=work, args=("bob", range(0, 40), "confirmed")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ana, bob = store.labels("ana"), store.labels("bob")
    assert len(ana) == 80 and len(bob) == 40
    assert all(ana[r] == "candidate" for r in range(40)) and all(ana[r] == "rejected" for r in range(40, 80))
    assert set(bob.values()) == {"confirmed"}


def test_user_text_is_bounded_and_cleaned(store: FollowupList) -> None:
    assert clean_note("a\x00b\x1b[31mc\nd") == "ab[31mc\nd"
    with pytest.raises(FollowupError, match="at most"):
        clean_note("x" * (MAX_NOTE + 1))
    for bad in ("<script>alert(1)</script>", "", "x" * 40, "-start"):
        with pytest.raises(FollowupError):
            check_label(bad)
    assert check_label("needs RV") == "needs RV"
    with pytest.raises(FollowupError, match="at most"):
        store.put("ana", range(MAX_ADD + 1), ["s"] * (MAX_ADD + 1), label="candidate")
    assert store.entries("ana").empty


@pytest.mark.parametrize("fmt", ["csv", "ecsv", "votable", "fits"])
def test_export_carries_labels_notes_and_provenance(
    catalog: pd.DataFrame, survey_dir: Path, store: FollowupList, fmt: str
) -> None:
    state = DashboardState(catalog=catalog)
    actions = FollowupActions(state=state, store=store, user="ana")
    state.focused_row = 5
    actions.label_focused("confirmed", '=HYPERLINK("x") ñ <b>bold</b>')
    state.focused_row = 9
    actions.label_focused("rejected")
    folder = ExportFolder()  # kept alive: the folder goes with the object
    path = actions.export(fmt, folder, survey_dir)
    if fmt == "csv":
        table = Table.read(path, format="ascii.csv", comment="#")
        meta = " ".join(table.meta["comments"])
    else:
        table = Table.read(path, format={"ecsv": "ascii.ecsv", "votable": "votable", "fits": "fits"}[fmt])
        meta = path.read_bytes().decode("utf-8", "replace")
    assert list(table["row"]) == [5, 9]
    assert list(table["followup_label"]) == ["confirmed", "rejected"]
    note = str(table["followup_note"][0])
    expected = {
        "csv": '\'=HYPERLINK("x") ñ <b>bold</b>',  # not a spreadsheet formula
        "fits": '=HYPERLINK("x") \\xf1 <b>bold</b>',  # FITS text is ASCII
    }.get(fmt, '=HYPERLINK("x") ñ <b>bold</b>')
    assert note == expected
    assert "follow-up list of ana" in meta and "ana" in str(table["followup_user"][0])
    assert "catalogue_sha256" in meta or "CATSHA" in meta


def test_add_selection_labels_every_selected_star(catalog: pd.DataFrame, store: FollowupList) -> None:
    state = DashboardState(catalog=catalog)
    actions = FollowupActions(state=state, store=store, user="ana")
    with pytest.raises(FollowupError, match="nothing selected"):
        actions.add_selection()
    state.apply_expression("row < 12")
    assert actions.add_selection() == 12
    entries = actions.entries()
    assert list(entries["row"]) == list(range(12)) and set(entries["label"]) == {"candidate"}
    assert list(entries["star"]) == star_ids(catalog, np.arange(12))
    assert actions.version == 1


def test_export_frame_joins_catalogue_rows(catalog: pd.DataFrame) -> None:
    entries = pd.DataFrame(
        {"row": [4, 2], "star": ["a", "b"], "label": ["candidate", "x"], "note": ["", "+1"]}
        | {"user": ["u", "u"], "added_utc": ["t", "t"], "updated_utc": ["t", "t"]}
    )
    frame = export_frame(catalog, entries, fmt="csv")
    assert list(frame["row"]) == [4, 2] and list(frame["followup_note"]) == ["", "'+1"]


def test_an_entry_beyond_the_catalogue_is_reported_not_dropped(
    catalog: pd.DataFrame, store: FollowupList
) -> None:
    from dashboard.export import ExportError

    actions = FollowupActions(state=DashboardState(catalog=catalog), store=store, user="ana")
    store.put("ana", [3, len(catalog) + 5], ["KIC 1", "KIC gone"], label="candidate")
    folder = ExportFolder()
    with pytest.raises(ExportError, match="1 stars of the list point beyond"):
        actions.export("csv", folder, Path("unused"))


def test_the_list_view_removes_checked_entries_and_reloads(
    catalog: pd.DataFrame, store: FollowupList
) -> None:
    from dashboard.views.followup_view import FollowupView

    state = DashboardState(catalog=catalog)
    view = FollowupView(actions=FollowupActions(state=state, store=store, user="ana"), survey_dir=Path("x"))
    store.put("ana", [1, 2, 3], ["a", "b", "c"], label="candidate")  # as another session would
    assert len(view._table.value) == 0
    view.refresh()
    assert list(view._table.value["row"]) == [1, 2, 3] and "(3 stars)" in view._title.object
    assert not view._run(view.remove_checked)  # nothing checked: a message, no change
    view._table.selection = [1]
    assert view._run(view.remove_checked)
    assert list(view._table.value["row"]) == [1, 3] and store.labels("ana") == {
        1: "candidate",
        3: "candidate",
    }
