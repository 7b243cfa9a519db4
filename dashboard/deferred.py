"""Parts of a served page built after it has loaded, one per turn of the server's event loop.

A new session's page costs the server 2–4 s of CPU at 10^6 stars, almost all of it Bokeh and
HoloViews making models (``benchmarks/bench_session.py --profile``), on the one event loop that
also serves every other session's selections and clicks. Built at once, a page held all of them
up for those seconds: in the soak, with 20 users reloading now and then, the server spent about
half its time in page builds and the selections' p95 was the length of a page build
(``benchmarks/RESULTS.md`` §5). Here the page is sent with light placeholders, and each heavy part
(a view, the side panel, the table, the templates) replaces its placeholder in a callback of its
own once the browser has the page: other sessions' requests are served between two parts, so
they wait for at most one part (~0.5 s), not a page.

Outside a server session (tests, notebooks, the server's warm-up) every part is built at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import panel as pn
from panel.io.state import set_curdoc

from dashboard.safe_text import escape_markdown

log = logging.getLogger(__name__)


class DeferredParts:
    """The parts of one session's page still to build, in the order they were asked for."""

    def __init__(self, doc: Any = None) -> None:
        self._doc = pn.state.curdoc if doc is None else doc
        self._queue: list[tuple[pn.Column, Callable[[], Any], str]] = []
        self.timings: list[tuple[str, float]] = []

    @property
    def active(self) -> bool:
        """Whether parts wait for the page to load (a served session), or are built at once."""
        return self._doc is not None and self._doc.session_context is not None

    def part(self, make: Callable[[], Any], label: str, **holder: Any) -> Any:
        """``make()`` now, or a placeholder that ``make()``'s part replaces after the page has loaded.

        ``holder``: layout options of the placeholder's column (e.g. ``min_height``,
        ``sizing_mode``), so the page does not jump when the part arrives.
        """
        if not self.active:
            return make()
        box = pn.Column(
            pn.pane.Markdown(f"*Loading {escape_markdown(label)}…*", css_classes=["deferred-placeholder"]),
            **holder,
        )
        self._queue.append((box, make, label))
        return box

    def start(self) -> None:
        """Build the waiting parts once the browser has the page, one per event-loop turn."""
        if self.active and self._queue:
            doc = self._doc
            pn.state.onload(lambda: doc.add_next_tick_callback(self._step))

    @property
    def pending(self) -> int:
        """How many parts are still to build."""
        return len(self._queue)

    def _step(self) -> None:
        box, make, label = self._queue.pop(0)
        doc = self._doc
        start = time.process_time()
        try:
            with set_curdoc(doc), doc.models.freeze():
                box.objects = [make()]
        except Exception as exc:  # one part failing must not leave the others unbuilt
            log.exception("building the page part %r failed", label)
            message = f"**{escape_markdown(label)} could not be built**: {escape_markdown(str(exc))}"
            with set_curdoc(doc):
                box.objects = [pn.pane.Alert(message, alert_type="danger")]
        # Its stylesheets already point at this server: Panel reads the page's dist_url when it
        # makes the part's models (set for every session by dashboard.app.local_stylesheets).
        self.timings.append((label, time.process_time() - start))
        log.debug("page part %r built in %.2f s of CPU", label, self.timings[-1][1])
        if self._queue:
            doc.add_next_tick_callback(self._step)
