"""The candidate queue above the star card: the next unlabelled star most like the user's positives.

"Next candidate" refits the ranking (dashboard/queue.py) on the user's follow-up labels and
focuses the best unlabelled star, so the card below shows it; a label given with the card's
buttons while the queue runs moves straight on to the next one. The queue needs the survey's
embedding (the kNN index of "Find similar") and at least one positive label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn
import param

from dashboard.followup import NEGATIVE_LABELS, POSITIVE_LABELS
from dashboard.queue import rank
from dashboard.views.followup_view import FollowupActions

#: Stars ranked per refit; the view shows the first and counts the rest.
QUEUE_LENGTH = 20


class QueueView(pn.viewable.Viewer):
    """The "Next candidate" button and the queue's state; the card and label buttons sit below it."""

    actions = param.ClassSelector(class_=FollowupActions, doc="The session's follow-up actions.")
    running = param.Boolean(default=False, doc="Whether a label moves on to the next candidate.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        similar = self.actions.state.similar
        index = None if similar is None else similar.index
        # Standardised as the kNN index compares them (desa_core.neighbours).
        self._vectors = None if index is None else (index.vectors_ - index.mean_) / index.scale_
        self._next = pn.widgets.Button(
            label="Next candidate",
            color="primary",
            css_classes=["queue-next"],
            disabled=self._vectors is None,
        )
        self._next.on_click(lambda _event: self.next_candidate())
        self._status = pn.pane.Markdown(self._intro(), css_classes=["queue-status"])
        self.queue: np.ndarray = np.empty(0, dtype=np.int64)
        self.actions.param.watch(self._on_label, "version")

    def _intro(self) -> str:
        if self._vectors is None:
            return "*Candidate queue: needs the survey's embedding (`desa embed`).*"
        return "*Candidate queue: label a few stars candidate or confirmed, then press Next candidate.*"

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows labelled positive (candidate, confirmed) and negative (rejected) in the user's list."""
        labels = self.actions.store.labels(self.actions.owner)
        positives = [row for row, label in labels.items() if label in POSITIVE_LABELS]
        negatives = [row for row, label in labels.items() if label in NEGATIVE_LABELS]
        return np.asarray(positives, dtype=np.int64), np.asarray(negatives, dtype=np.int64)

    def next_candidate(self) -> int | None:
        """Refit on the labels, focus the best unlabelled star; returns its row (None when none)."""
        if self._vectors is None:
            return None
        positives, negatives = self.labelled()
        if positives.size == 0:
            self._status.object = "*Label at least one star **candidate** or **confirmed** first.*"
            return None
        labels = self.actions.store.labels(self.actions.owner)
        others = np.asarray([r for r in labels if r not in set(positives) | set(negatives)], dtype=np.int64)
        # Stars with a custom label are neither positive nor negative, but not queued again.
        seen = np.concatenate([negatives, others])
        rng = np.random.default_rng(len(labels))  # the same labels give the same queue
        self.queue = rank(self._vectors, positives, seen, QUEUE_LENGTH, rng=rng)
        if self.queue.size == 0:
            self._status.object = "*No unlabelled star left.*"
            return None
        self.running = True
        row = int(self.queue[0])
        self._status.object = (
            f"**Queue** (from {positives.size} positive and {negatives.size} rejected labels): candidate "
            f"row {row}; label it below to see the next."
        )
        self.actions.state.focused_row = row
        return row

    def _on_label(self, _event: param.parameterized.Event) -> None:
        focused = self.actions.state.focused_row
        if self.running and self.queue.size and focused == int(self.queue[0]):
            self.next_candidate()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._next, self._status, sizing_mode="stretch_width", css_classes=["queue-view"])
