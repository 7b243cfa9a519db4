"""Parts of a served page built after it has loaded, when the server has nothing more urgent to do.

A new session's page costs the server 2–4 s of CPU at 10^6 stars, almost all of it Bokeh and
HoloViews making models (``benchmarks/bench_session.py --profile``), on the one event loop that
also serves every other session's selections and clicks. Built at once, a page held all of them
up for those seconds (``benchmarks/RESULTS.md`` §5). Here the page is sent with light
placeholders, and each heavy part (a view, the side panel, the table, the templates) replaces its
placeholder in a callback of its own once the browser has the page.

Which part runs when is decided by one queue per server process (``PageQueue``), not by each
page: a part was once queued on the loop as soon as the one before it finished, so with three
pages building, a click's reply, which passes through the loop's queue several times (the
websocket message, the document lock, Panel's and HoloViews' callbacks, the patch sent back),
waited behind a part of every page each time: 2–5 s at the 95th percentile in ``make soak`` (a
``py-spy`` record of the server put half its time in page parts). Now:

* a part starts only when nothing else waits on the loop (its ready queue is empty): a click
  waits for at most the one part already running (~0.3 s), whatever the number of pages building;
* pages are built oldest first, one part at a time, so each finishes as early as it can (three
  pages arriving together are ready after one, two and three pages' work, not all after three);
  but the parts a user needs to start (the views, ``first=True``) of every waiting page come
  before the other parts (star card, table, templates) of any page: an older page's table does
  not keep a newer page's views waiting;
* a page never waits more than ``MAX_WAIT_S`` for an idle moment: under a stream of clicks its
  parts still arrive.

Outside a server session (tests, notebooks, the server's warm-up) every part is built at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import panel as pn
from panel.io.state import set_curdoc

from dashboard.safe_text import escape_markdown

log = logging.getLogger(__name__)

#: How often the queue looks again while the loop is busy or a part is on its way [s].
POLL_S = 0.01
#: The longest a page waits for an idle loop before its next part runs anyway [s].
MAX_WAIT_S = 2.0


def loop_busy() -> bool:
    """Whether other callbacks wait in the running asyncio loop's ready queue now.

    ``_ready`` is CPython's ``BaseEventLoop`` queue (the loop Tornado, and so Bokeh and Panel, run
    on); a loop without one counts as idle, which only makes parts run in arrival order.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return bool(getattr(loop, "_ready", None))


def _call_later(delay: float, callback: Callable[[], None]) -> None:
    asyncio.get_running_loop().call_later(delay, callback)


class PageQueue:
    """The pages of one server process with parts still to build, oldest first.

    ``busy`` tells whether other work waits on the loop, ``call_later(delay, fn)`` schedules the
    queue's next look and ``clock`` measures waits (all three replaceable for tests).
    """

    def __init__(
        self,
        busy: Callable[[], bool] = loop_busy,
        call_later: Callable[[float, Callable[[], None]], None] = _call_later,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pages: deque[DeferredParts] = deque()
        self._busy, self._call_later, self._clock = busy, call_later, clock
        self._armed = False

    def __len__(self) -> int:
        return len(self._pages)

    def add(self, page: DeferredParts) -> None:
        """Queue a loaded page's parts behind the pages already waiting."""
        page.ready_since = self._clock()
        self._pages.append(page)
        self._arm(0.0)

    def _arm(self, delay: float) -> None:
        if not self._armed:
            self._armed = True
            self._call_later(delay, self._tick)

    def _tick(self) -> None:
        self._armed = False
        if any(page.finished for page in self._pages):
            self._pages = deque(page for page in self._pages if not page.finished)
        if not self._pages:
            return
        if not any(page.in_flight for page in self._pages):
            page = self._next_page()
            waited = self._clock() - page.ready_since
            if waited >= MAX_WAIT_S or not self._busy():
                try:
                    page.hand_next(on_built=self._clock)
                except Exception:  # a session torn down under us: its page is dropped, the others go on
                    log.exception("handing a page part to its session failed; the page is dropped")
                    self._pages.remove(page)
        self._arm(POLL_S)

    def _next_page(self) -> DeferredParts:
        """The oldest page whose next part is one of the first parts, else the oldest page."""
        for page in self._pages:
            if not page.finished and page.next_is_first:
                return page
        return next(page for page in self._pages if not page.finished)


#: What ``part_models`` uses of Bokeh's ``DocumentModelManager`` (bokeh < 3.10, pyproject.toml).
_MANAGER_FIELDS = ("_push_freeze", "_freeze_count", "_models", "_models_by_name", "_new_models")


@contextlib.contextmanager
def part_models(doc: Any, box: pn.viewable.Viewable) -> Iterator[None]:
    """Like ``doc.models.freeze()`` around a change inside ``box``, but then walks ``box`` alone.

    Leaving Bokeh's ``freeze`` walks every model of the document to find the new ones (50–90 ms
    for a page at 10^6 stars) and a page arrives in seven parts: 16 % of a part's CPU in
    ``make soak``. The models a part makes hang below its placeholder ``box``, so only that
    subtree is walked; they are attached to the document and announced as new, exactly what
    Bokeh's walk does for them. What the walk would detach (the placeholder it replaces) stays
    known to the document until the next full walk: the page's last part makes one (``_step``).
    Bokeh's manager without the expected fields gets its own ``freeze``.
    """
    manager = doc.models
    if not all(hasattr(manager, name) for name in _MANAGER_FIELDS):
        with manager.freeze():
            yield
        return
    manager._push_freeze()
    try:
        yield
    finally:
        manager._freeze_count -= 1
        if manager._freeze_count == 0:
            _attach_new(doc, box)


def _attach_new(doc: Any, box: pn.viewable.Viewable) -> None:
    """Attach the models below ``box``'s model in ``doc`` that the document does not know yet."""
    manager = doc.models
    known = manager._models
    reachable: set[Any] = set()
    for model, _parent in list(getattr(box, "_models", {}).values()):
        if model.document is doc:
            reachable |= model.references()
    for model in reachable:
        if model.id not in known:
            model._attach_document(doc)
            manager._new_models.add(model)
            known[model.id] = model
            if model.name is not None:
                manager._models_by_name.add_value(model.name, model)


def when_shown(make: Callable[[], Any]) -> pn.viewable.Viewable:
    """``make()``'s view, made the first time it is rendered: for a hidden tab of dynamic ``Tabs``.

    A tab the user may never open (another pair of columns, the follow-up list, the subsets)
    then costs a new page nothing, neither its Python objects nor its Bokeh models.
    """
    return pn.param.ParamFunction(make, lazy=True)


#: This process's queue (a server process serves all its sessions on one loop).
PAGES = PageQueue()


class DeferredParts:
    """The parts of one session's page still to build, in the order they were asked for."""

    def __init__(self, doc: Any = None, queue: PageQueue | None = None) -> None:
        self._doc = pn.state.curdoc if doc is None else doc
        self._pages = PAGES if queue is None else queue
        self._queue: list[tuple[pn.Column, Callable[[], Any], str, bool]] = []
        self.timings: list[tuple[str, float]] = []
        #: A part has been handed to the session's loop and has not run yet.
        self.in_flight = False
        #: When this page last became able to take its next part (``PageQueue``'s clock).
        self.ready_since = 0.0

    @property
    def active(self) -> bool:
        """Whether parts wait for the page to load (a served session), or are built at once."""
        return self._doc is not None and self._doc.session_context is not None

    @property
    def gone(self) -> bool:
        """Whether the page's session has ended (its parts will never be needed)."""
        context = self._doc.session_context
        return context is None or bool(getattr(context, "destroyed", False))

    @property
    def finished(self) -> bool:
        """Nothing left to build here: every part built, or the session gone."""
        return self.gone or (not self._queue and not self.in_flight)

    def part(self, make: Callable[[], Any], label: str, *, first: bool = False, **holder: Any) -> Any:
        """``make()`` now, or a placeholder that ``make()``'s part replaces after the page has loaded.

        ``first``: a part the page is not usable without (a view); ``PageQueue`` builds these of
        every waiting page before the other parts of any page. ``holder``: layout options of the
        placeholder's column (e.g. ``min_height``, ``sizing_mode``), so the page does not jump
        when the part arrives.
        """
        if not self.active:
            return make()
        box = pn.Column(
            pn.pane.Markdown(f"*Loading {escape_markdown(label)}…*", css_classes=["deferred-placeholder"]),
            **holder,
        )
        self._queue.append((box, make, label, first))
        return box

    def start(self) -> None:
        """Queue the waiting parts once the browser has the page (``PageQueue`` builds them)."""
        if self.active and self._queue:
            pn.state.onload(lambda: self._pages.add(self))

    @property
    def next_is_first(self) -> bool:
        """Whether the next part to build is one of the page's first parts."""
        return bool(self._queue) and self._queue[0][3]

    @property
    def pending(self) -> int:
        """How many parts are still to build."""
        return len(self._queue)

    def hand_next(self, on_built: Callable[[], float] = time.monotonic) -> None:
        """Hand the next part to the session (a callback under its document lock).

        When it has run, ``ready_since`` is ``on_built()``: the page waits for the loop from then.
        """
        self.in_flight = True

        def run() -> None:
            try:
                self._step()
            finally:
                self.in_flight = False
                self.ready_since = on_built()

        self._doc.add_next_tick_callback(run)

    def _step(self) -> None:
        box, make, label, _first = self._queue.pop(0)
        doc = self._doc
        start = time.process_time()
        # The page's last part re-walks the whole document, as Bokeh does after any change; the
        # parts before it add only their own new models (``part_models``).
        models = doc.models.freeze() if not self._queue else part_models(doc, box)
        try:
            with set_curdoc(doc), models:
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
