"""A served page's heavy parts are built after it has loaded, when the server's loop is idle.

``PageQueue`` is driven here by hand: its loop (the ready queue's state, its timers and clock) and
the sessions' next-tick callbacks are recorded, so each test sees exactly which part would run when.
"""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.document import Document

from dashboard import deferred
from dashboard.deferred import DeferredParts, PageQueue


class _Loop:
    """A server process's loop as ``PageQueue`` sees it: busy or not, its timers and its clock."""

    def __init__(self) -> None:
        self.busy = False
        self.now = 0.0
        self.timers: list[Any] = []

    def queue(self) -> PageQueue:
        return PageQueue(
            busy=lambda: self.busy, call_later=lambda _d, f: self.timers.append(f), clock=lambda: self.now
        )

    def tick(self) -> None:
        """The queue's pending look at the pages (one timer)."""
        assert len(self.timers) == 1, "the queue keeps exactly one look pending while pages wait"
        self.timers.pop()()


class _Served(DeferredParts):
    """Parts of a page as a server session builds them; the session's callbacks are recorded."""

    def __init__(self, queue: PageQueue, name: str = "page") -> None:
        doc = Document()
        self.turns: list[Any] = []
        self.ended = False
        self.made: list[str] = []
        doc.add_next_tick_callback = self.turns.append  # type: ignore[method-assign]
        super().__init__(doc, queue=queue)
        self.name = name

    @property
    def active(self) -> bool:
        return True

    @property
    def gone(self) -> bool:
        return self.ended

    def add_parts(self, *labels: str, first: bool = False) -> list[pn.Column]:
        def maker(label: str) -> Any:
            return lambda: self.made.append(label) or pn.pane.Markdown(label)

        return [self.part(maker(label), label, first=first, min_height=100) for label in labels]

    def load(self) -> None:
        """The browser has the page (outside a session Panel runs on-load work at once)."""
        self.start()

    def run_turns(self) -> None:
        while self.turns:
            self.turns.pop(0)()


def test_outside_a_server_every_part_is_built_at_once() -> None:
    parts = DeferredParts(Document())  # no session: tests, notebooks, the server's warm-up
    built = parts.part(lambda: pn.pane.Markdown("the view"), "a view")
    assert isinstance(built, pn.pane.Markdown) and parts.pending == 0


def test_parts_arrive_one_at_a_time_after_the_page_has_loaded() -> None:
    loop = _Loop()
    page = _Served(loop.queue())
    holders = page.add_parts("umap", "cmd", "table")
    assert page.made == [] and page.pending == 3  # the page goes out with placeholders
    assert all("Loading" in h.objects[0].object for h in holders)
    page.load()
    for n in range(1, 4):
        loop.tick()
        assert len(page.turns) == 1  # one part handed to the session
        loop.tick()
        assert len(page.turns) == 1, "no second part while the first has not run"
        page.run_turns()
        assert page.made == ["umap", "cmd", "table"][:n]
        assert holders[n - 1].objects[0].object == page.made[-1]
    loop.tick()
    assert loop.timers == [] and page.pending == 0  # nothing left: the queue stops looking
    assert [label for label, _ in page.timings] == ["umap", "cmd", "table"]


def test_a_busy_loop_serves_other_users_first_but_a_page_waits_at_most_max_wait() -> None:
    loop = _Loop()
    page = _Served(loop.queue())
    page.add_parts("umap", "cmd")
    page.load()
    loop.busy = True  # a click's reply is on its way through the loop
    for _ in range(5):
        loop.now += deferred.POLL_S
        loop.tick()
    assert page.turns == [], "a part started while other work waited"
    loop.busy = False
    loop.tick()
    page.run_turns()
    assert page.made == ["umap"]
    loop.busy = True
    loop.now += deferred.MAX_WAIT_S + deferred.POLL_S  # the loop never idles: the page is not starved
    loop.tick()
    page.run_turns()
    assert page.made == ["umap", "cmd"]


def test_the_oldest_page_is_built_first_and_ended_sessions_are_dropped() -> None:
    loop = _Loop()
    queue = loop.queue()
    first, second, closed = _Served(queue, "first"), _Served(queue, "second"), _Served(queue, "closed")
    for page in (closed, first, second):
        page.add_parts("umap", "cmd")
        page.load()
    closed.ended = True  # its tab was closed before its parts were built
    order = []
    for _ in range(10):
        if not loop.timers:
            break
        loop.tick()
        for page in (first, second, closed):
            if page.turns:
                order.append(page.name)
                page.run_turns()
    assert order == ["first", "first", "second", "second"]
    assert closed.made == [] and len(queue) == 0


def test_every_pages_views_come_before_any_pages_other_parts() -> None:
    loop = _Loop()
    queue = loop.queue()
    older, newer = _Served(queue, "older"), _Served(queue, "newer")
    for page in (older, newer):
        page.add_parts("umap", "cmd", first=True)
        page.add_parts("table")
    older.load()
    loop.tick()
    older.run_turns()  # the older page's UMAP is built before the newer page arrives
    newer.load()
    order = []
    for _ in range(20):
        if not loop.timers:
            break
        loop.tick()
        for page in (older, newer):
            if page.turns:
                order.append(f"{page.name} {page._queue[0][2]}")
                page.run_turns()
    assert order == ["older cmd", "newer umap", "newer cmd", "older table", "newer table"]
    assert len(queue) == 0


def test_a_part_that_fails_shows_why_and_the_others_still_arrive() -> None:
    loop = _Loop()
    page = _Served(loop.queue())

    def broken() -> Any:
        raise ValueError("no <b>column</b> umap_x")

    first = page.part(broken, "the UMAP view")
    second = page.part(lambda: pn.pane.Markdown("cmd"), "the CMD")
    page.load()
    while loop.timers:
        loop.tick()
        page.run_turns()
    assert isinstance(first.objects[0], pn.pane.Alert)
    assert "&lt;b&gt;column" in first.objects[0].object and "<b>" not in first.objects[0].object
    assert second.objects[0].object == "cmd"


def test_a_parts_new_models_are_known_to_the_document_as_after_bokehs_own_walk() -> None:
    """``part_models`` walks the part alone; the document then knows what a full walk finds."""
    import holoviews as hv

    loop = _Loop()
    page = _Served(loop.queue())
    doc = page._doc
    holders = [
        page.part(lambda: pn.Column(pn.widgets.Button(label="go"), pn.pane.Markdown("x")), "widgets"),
        page.part(lambda: pn.pane.HoloViews(hv.Curve([1, 3, 2])), "a plot"),
        page.part(lambda: pn.Row(pn.widgets.Select(options=["a", "b"])), "the last part"),
    ]
    pn.Column(*holders).server_doc(doc)
    page.load()

    def reachable() -> set:
        return set().union(*(root.references() for root in doc.roots))

    while loop.timers:
        loop.tick()
        before = set(doc.models)
        page.run_turns()
        new = set(doc.models) - before
        assert reachable() <= set(doc.models), "a model on the page is unknown to its document"
        assert all(model.document is doc for model in new)
        # Announced as new: the next patch sends them whole, not as references.
        assert new <= doc.models._new_models
    assert page.pending == 0 and set(doc.models) == reachable()  # the last part's full walk
    assert any(type(model).__name__ == "Button" for model in doc.models)


def test_a_session_that_cannot_take_a_part_is_dropped_and_the_next_page_goes_on() -> None:
    loop = _Loop()
    queue = loop.queue()
    broken, fine = _Served(queue, "broken"), _Served(queue, "fine")

    def refuse(_callback: Any) -> None:
        raise AttributeError("the document was destroyed")

    broken._doc.add_next_tick_callback = refuse  # type: ignore[method-assign]
    for page in (broken, fine):
        page.add_parts("umap")
        page.load()
    for _ in range(4):
        if loop.timers:
            loop.tick()
        fine.run_turns()
    assert fine.made == ["umap"] and broken.made == []
