"""The follow-up list on the page: label buttons for the focused star, the list, its exports.

``LabelBar`` (above the star card) labels ``state.focused_row`` with one click per label, with the
note typed beside it; ``FollowupView`` lists the user's stars (notes shown as plain text by
Tabulator's ``plaintext`` formatter, which escapes HTML), adds the live selection, removes the
checked entries and downloads the list as CSV, ECSV, VOTable or FITS with the labels, notes and
the provenance of every export (dashboard/export.py). The list itself lives in SQLite
(dashboard/followup.py); ``state.followup_version`` tells the views that it changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from dashboard.export import ExportError, ExportFolder, default_filename, export_selection
from dashboard.followup import LABELS, FollowupError, FollowupList, export_frame, star_ids, user_name
from dashboard.safe_text import escape_markdown
from dashboard.state import DashboardState
from dashboard.views.export_view import FORMATS

#: Button colours per label.
LABEL_COLORS = {"candidate": "primary", "confirmed": "success", "rejected": "danger"}

#: Tabulator configuration of a table whose rows are clicked. Tabulator's own resize module
#: redraws the whole table, every cell replaced, each time the table scrolls into view; Chrome
#: sends no click when the cell under a press is replaced before the release, so a row clicked as
#: the table scrolled in was lost on a loaded machine. Panel redraws the table itself when its
#: size changes.
CLICKABLE_TABLE = {"autoResize": False}


def current_user() -> str:
    """The logged-in user (``--basic-auth``/OAuth), else the one local user."""
    return user_name(pn.state.user)


class FollowupActions(param.Parameterized):
    """What the label buttons and the list do, without widgets (tests call these).

    ``version`` counts the list's changes made in this session, so views refresh on it.
    """

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")
    store = param.ClassSelector(class_=FollowupList, doc="The survey's follow-up lists (SQLite).")
    user = param.String(default=None, allow_None=True, doc="Whose list; None = the logged-in or local user.")
    version = param.Integer(default=0, doc="Changes made in this session (views watch it).")

    @property
    def owner(self) -> str:
        return self.user or current_user()

    def label_focused(self, label: str, note: str | None = None) -> int:
        """Put the focused star on the list with ``label`` (and ``note``, when given)."""
        row = self.state.focused_row
        if row is None:
            raise FollowupError("no focused star: click a star first")
        n = self.store.put(self.owner, [row], star_ids(self.state.catalog, [row]), label=label, note=note)
        self.version += 1
        return n

    def add_selection(self, label: str = "candidate") -> int:
        """Put every selected star on the list with ``label`` (notes of stars already there kept)."""
        if self.state.mask is None or not self.state.mask.any():
            raise FollowupError("nothing selected: select stars first")
        rows = np.flatnonzero(self.state.mask)
        n = self.store.put(self.owner, rows, star_ids(self.state.catalog, rows), label=label)
        self.version += 1
        return n

    def remove(self, rows: list[int]) -> int:
        """Take ``rows`` off the list."""
        n = self.store.remove(self.owner, rows)
        self.version += 1
        return n

    def entries(self) -> pd.DataFrame:
        """The user's list as stored (``dashboard.followup.COLUMNS``)."""
        return self.store.entries(self.owner)

    def export(self, fmt: str, folder: ExportFolder, survey_dir: Path) -> Path:
        """Write the list as ``fmt`` with its labels, notes and provenance; returns the file."""
        entries = self.entries()
        if entries.empty:
            raise ExportError("the follow-up list is empty: label stars first")
        beyond = int((entries["row"] >= self.state.n_rows).sum())
        if beyond:
            # Rows of another catalogue (a re-ingested survey): never dropped silently.
            raise ExportError(
                f"{beyond} stars of the list point beyond this catalogue's {self.state.n_rows:,} rows "
                f"(was the survey re-ingested?); remove them from the list to export the rest"
            )
        frame = export_frame(self.state.catalog, entries, fmt=fmt)
        frame = frame[[c for c in frame.columns if not str(c).endswith("_path")]]
        path = folder.new_path(default_filename(survey_dir, fmt).replace("desa_", "desa_followup_", 1))
        return export_selection(
            frame,
            path,
            fmt=fmt,
            survey_dir=survey_dir,
            expression=f"follow-up list of {self.owner} ({len(frame)} stars; labels in followup_label)",
            user=self.owner,
            generation=self.state.generation,
        )


class LabelBar(pn.viewable.Viewer):
    """One button per label for the focused star, a custom label and a note."""

    actions = param.ClassSelector(class_=FollowupActions, doc="The session's follow-up actions.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._note = pn.widgets.TextAreaInput(
            placeholder="note (optional, kept with the label)",
            rows=2,
            max_length=2000,
            css_classes=["followup-note"],
            sizing_mode="stretch_width",
        )
        self._custom = pn.widgets.TextInput(
            placeholder="custom label", width=140, css_classes=["custom-label"]
        )
        self._buttons = [
            pn.widgets.Button(
                label=label, color=LABEL_COLORS[label], css_classes=[f"label-{label}"], width=100
            )
            for label in LABELS
        ]
        for button, label in zip(self._buttons, LABELS, strict=True):
            button.on_click(lambda _event, label=label: self.label(label))
        self._custom_button = pn.widgets.Button(label="label", css_classes=["label-custom"], width=70)
        self._custom_button.on_click(lambda _event: self.label(self._custom.value))
        self._message = pn.pane.Alert("", alert_type="info", visible=False, css_classes=["label-message"])
        self.actions.state.param.watch(self._on_focus, "focused_row")
        self._on_focus()

    def label(self, label: str) -> bool:
        """Label the focused star with the typed note; the outcome shows in the message."""
        try:
            self.actions.label_focused(label, self._note.value or None)
        except FollowupError as exc:
            self._message.param.update(object=escape_markdown(exc), alert_type="warning", visible=True)
            return False
        row = self.actions.state.focused_row
        owner = escape_markdown(self.actions.owner)
        text = f"Row {row} labelled **{escape_markdown(label)}** in {owner}'s list."
        self._message.param.update(object=text, alert_type="success", visible=True)
        self._note.value = ""
        return True

    def _on_focus(self, *_events: param.parameterized.Event) -> None:
        disabled = self.actions.state.focused_row is None
        for button in [*self._buttons, self._custom_button]:
            button.disabled = disabled

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(*self._buttons),
            pn.Row(self._custom, self._custom_button),
            self._note,
            self._message,
            css_classes=["label-bar"],
            sizing_mode="stretch_width",
        )


class FollowupView(pn.viewable.Viewer):
    """The user's follow-up list: table, add the selection, remove checked entries, downloads."""

    actions = param.ClassSelector(class_=FollowupActions, doc="The session's follow-up actions.")
    survey_dir = param.Path(default=None, check_exists=False, doc="The survey folder (provenance).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._folder = ExportFolder()
        self._table = pn.widgets.Tabulator(
            self.actions.entries(),
            show_index=False,
            disabled=True,
            selectable="checkbox",
            pagination="local",
            page_size=15,
            # Notes and labels are user text: the plain-text formatter escapes HTML.
            formatters={
                "note": {"type": "plaintext"},
                "label": {"type": "plaintext"},
                "row": NumberFormatter(format="0"),
            },
            hidden_columns=["user", "added_utc"],
            sizing_mode="stretch_width",
            css_classes=["followup-table"],
            configuration=CLICKABLE_TABLE,
        )
        self._table.on_click(self._on_click)
        self._add = pn.widgets.Button(label="Add selection as candidates", css_classes=["followup-add"])
        self._add.on_click(lambda _event: self._run(self.actions.add_selection))
        self._remove = pn.widgets.Button(label="Remove checked", css_classes=["followup-remove"])
        self._remove.on_click(lambda _event: self._run(self.remove_checked))
        # Another session of the same user may have changed the list: read it again on request.
        self._reload = pn.widgets.Button(label="Reload", css_classes=["followup-reload"], width=80)
        self._reload.on_click(lambda _event: self.refresh())
        self._downloads = [
            pn.widgets.FileDownload(
                callback=self._callback(fmt),
                filename=f"followup{'.xml' if fmt == 'votable' else '.' + fmt}",
                label=label,
                embed=False,
                css_classes=[f"followup-export-{fmt}"],
                width=95,
            )
            for fmt, label in FORMATS.items()
        ]
        self._message = pn.pane.Alert("", alert_type="info", visible=False, css_classes=["followup-message"])
        self._title = pn.pane.Markdown("", css_classes=["followup-title"])
        self.actions.param.watch(self.refresh, "version")
        self.refresh()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(lambda _ctx: self._folder.cleanup())

    def refresh(self, *_events: param.parameterized.Event) -> None:
        """Show the list as stored (another session of the same user may have changed it)."""
        entries = self.actions.entries()
        self._table.value = entries
        self._title.object = (
            f"### Follow-up list of {escape_markdown(self.actions.owner)} ({len(entries):,} stars)"
        )

    def remove_checked(self) -> int:
        rows = self._table.value["row"].iloc[self._table.selection].tolist()
        if not rows:
            raise FollowupError("check the entries to remove first")
        return self.actions.remove(rows)

    def _run(self, action: Any) -> bool:
        try:
            n = action()
        except FollowupError as exc:
            self._message.param.update(object=escape_markdown(exc), alert_type="warning", visible=True)
            return False
        self._message.param.update(object=f"{n:,} stars changed.", alert_type="success", visible=True)
        return True

    def _callback(self, fmt: str) -> Any:
        def write() -> str:
            try:
                path = self.actions.export(fmt, self._folder, Path(self.survey_dir))
            except ExportError as exc:
                self._message.param.update(object=escape_markdown(exc), alert_type="warning", visible=True)
                raise
            return str(path)

        return write

    def _on_click(self, event: Any) -> None:
        value = self._table.value
        if 0 <= event.row < len(value) and int(value["row"].iloc[event.row]) < self.actions.state.n_rows:
            self.actions.state.focused_row = int(value["row"].iloc[event.row])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self._title,
            pn.Row(self._add, self._remove, self._reload),
            self._table,
            pn.Row(*self._downloads),
            self._message,
            sizing_mode="stretch_width",
            css_classes=["followup-view"],
        )
