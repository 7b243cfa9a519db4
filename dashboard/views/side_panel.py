"""The column beside the views: the star card (with its label buttons), the follow-up list, subsets.

Tabs of a fixed height that scroll on their own, so the views stay in sight (issue 18, item 0).
Focusing a star (a click in a view, a table row, a search, the queue) brings the card's tab forward.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import panel as pn
import param

from dashboard.deferred import when_shown
from dashboard.followup import FollowupDatabaseError, open_followup
from dashboard.safe_text import escape_markdown
from dashboard.state import DashboardState
from dashboard.views.followup_view import FollowupActions, FollowupView, LabelBar
from dashboard.views.keys import KeyListener, key_handler
from dashboard.views.queue_view import QueueView
from data.settings import followup_database

#: Width and height of the column, pixels (two views side by side and this fill 1600 x 1000).
SIDE_WIDTH, SIDE_HEIGHT = 455, 860
STAR_TAB = 0


class SidePanel(pn.viewable.Viewer):
    """Tabs: "Star" (``star`` parts: queue, label buttons, card), then the other ``tabs``."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")
    star = param.List(default=[], doc="Parts of the star tab, top to bottom.")
    tabs = param.List(default=[], doc="(title, viewable) of the other tabs.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        tab = pn.Column(*self.star, sizing_mode="stretch_width", scroll=True, height=SIDE_HEIGHT - 50)
        others = [
            (title, pn.Column(view, sizing_mode="stretch_width", scroll=True, height=SIDE_HEIGHT - 50))
            for title, view in self.tabs
        ]
        self._tabs = pn.Tabs(
            ("Star", tab),
            *others,
            dynamic=True,  # a tab's models are made when it is shown: not on every new page
            width=SIDE_WIDTH,
            height=SIDE_HEIGHT,
            css_classes=["side-panel"],
        )
        self.state.param.watch(self._on_focus, "focused_row")

    def _on_focus(self, _event: param.parameterized.Event) -> None:
        self._tabs.active = STAR_TAB

    def __panel__(self) -> pn.viewable.Viewable:
        return self._tabs


def follow_up(state: DashboardState, folder: Path) -> tuple[list[Any], pn.viewable.Viewable]:
    """The star tab's follow-up parts (queue, label buttons, keys) and the follow-up list's tab.

    A database that cannot be opened (a read-only data folder, a bad ``DESA_FOLLOWUP_DB``) leaves
    the explorer working: the parts become one message saying why.
    """
    location = followup_database(folder)
    try:
        actions = FollowupActions(state=state, store=open_followup(location, folder.name))
    except (OSError, sqlite3.Error, FollowupDatabaseError) as exc:
        message = pn.pane.Alert(
            f"The follow-up list is not available: {escape_markdown(exc)}",
            alert_type="warning",
            css_classes=["followup-unavailable"],
        )
        return [message], message.clone()
    queue, labels = QueueView(actions=actions), LabelBar(actions=actions)
    keys = KeyListener()
    keys.on_msg(key_handler(labels.label, queue.next_candidate))
    return [queue, labels, keys], when_shown(lambda: FollowupView(actions=actions, survey_dir=folder))
