"""A served page's heavy parts are built after it has loaded, one per event-loop turn."""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.document import Document

from dashboard.deferred import DeferredParts


class _Served(DeferredParts):
    """Parts of a page as a server session builds them; the event loop's turns are recorded."""

    def __init__(self) -> None:
        doc = Document()
        self.turns: list[Any] = []
        doc.add_next_tick_callback = self.turns.append  # type: ignore[method-assign]
        super().__init__(doc)

    @property
    def active(self) -> bool:
        return True


def test_outside_a_server_every_part_is_built_at_once() -> None:
    parts = DeferredParts(Document())  # no session: tests, notebooks, the server's warm-up
    built = parts.part(lambda: pn.pane.Markdown("the view"), "a view")
    assert isinstance(built, pn.pane.Markdown) and parts.pending == 0


def test_parts_arrive_one_per_turn_after_the_page_has_loaded() -> None:
    parts = _Served()
    made: list[str] = []

    def maker(name: str) -> Any:
        return lambda: made.append(name) or pn.pane.Markdown(name)

    holders = [parts.part(maker(name), name, min_height=100) for name in ("umap", "cmd", "table")]
    assert made == [] and parts.pending == 3  # the page goes out with placeholders
    assert all("Loading" in h.objects[0].object for h in holders)
    parts.start()  # the page has loaded (outside a session Panel runs on-load work at once)
    for n in range(1, 4):
        assert len(parts.turns) == 1  # one part per turn: other sessions are served in between
        parts.turns.pop()()
        assert made == ["umap", "cmd", "table"][:n]
        assert holders[n - 1].objects[0].object == made[-1]
    assert parts.turns == [] and parts.pending == 0
    assert [label for label, _ in parts.timings] == ["umap", "cmd", "table"]


def test_a_part_that_fails_shows_why_and_the_others_still_arrive() -> None:
    parts = _Served()

    def broken() -> Any:
        raise ValueError("no <b>column</b> umap_x")

    first = parts.part(broken, "the UMAP view")
    second = parts.part(lambda: pn.pane.Markdown("cmd"), "the CMD")
    parts.start()
    while parts.turns:
        parts.turns.pop()()
    assert isinstance(first.objects[0], pn.pane.Alert)
    assert "&lt;b&gt;column" in first.objects[0].object and "<b>" not in first.objects[0].object
    assert second.objects[0].object == "cmd"
