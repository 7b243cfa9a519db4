"""Protocol-level users of the soak: Bokeh's websocket client driving a served page's model.

A browser costs a CPU core of its own to lay out and paint the page; twenty of them on the
server's machine measure the browsers, not the server (issue 16, item 7). A protocol user is what
the server sees of a browser, for a fraction of its cost: ``bokeh.client.pull_session`` opens a
session of the served ``/app`` (the server builds the page as for a browser), announces the
document ready as a browser does when the page has loaded (the page's on-load work runs then),
and then sends the events a person's browser sends:

* **box**: a ``SelectionGeometry`` (final, rectangle) on the UMAP figure, as the box-select tool
  sends at the end of a drag; the reply is the new ``box(…)`` expression in the page's URL;
* **expression**: types an expression into the selection box and clicks *Apply expression*
  (a ``ButtonClick``); the reply is that expression in the page's URL;
* **click**: a ``Tap`` on a star of the UMAP (a position read from the catalogue), as the view
  sends on a click; the reply is the star card naming a new star.

A user runs its session's event loop (``run_until_closed``) and acts from document callbacks:
the server's patches are applied as they arrive, a change callback on the model that carries the
reply ends the wait, and the latency is the time from sending the event to that patch (a
``force_roundtrip`` poll would drop patches that arrive while it waits for its own reply). Every
few rounds the user closes the session and opens a new one (a page reload). One thread per user;
the load generator's CPU is measured by ``benchmarks/soak.py``.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bokeh.core.serialization import Serializable, Serializer

#: How long one reply may take before the action counts as an error (``--timeout``).
DEFAULT_TIMEOUT_S = 120.0


def register_models() -> None:
    """Import every model class the served page uses, so the client can decode the document.

    Panel's own models, and the dashboard's components (their model names are made when their
    classes are defined, in the same order as in the server).
    """
    import panel.models

    for module in pkgutil.iter_modules(panel.models.__path__):
        try:
            importlib.import_module(f"panel.models.{module.name}")
        except ImportError:  # an optional dependency's model (e.g. a plotting library) is absent
            continue
    importlib.import_module("dashboard.app")


class UiEvent(Serializable):
    """A UI event as a browser sends it (Bokeh's Python event classes send only their model).

    ``name`` is the Bokeh event name (``selectiongeometry``, ``tap``, ``button_click``,
    ``document_ready``), ``values`` its attributes; the server builds its own event class from them.
    """

    def __init__(self, name: str, model: Any = None, **values: Any) -> None:
        self.name, self.model, self.values = name, model, values

    def to_serializable(self, serializer: Serializer) -> dict[str, Any]:
        values = {key: serializer.encode(value) for key, value in self.values.items()}
        if self.model is not None:
            # A reference to the server's model, as bokehjs sends it (encoding the model itself
            # would send its definition, which the server would take for a second model).
            values = {"model": {"id": self.model.id}, **values}
        return {"type": "event", "name": self.name, "values": values}


@dataclass
class Recorder:
    """Latencies (s) per action and the errors of every protocol user; thread-safe."""

    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"page": [], "box": [], "expression": [], "click": []}
    )
    errors: list[str] = field(default_factory=list)
    actions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, action: str, seconds: float) -> None:
        with self.lock:
            self.latencies[action].append(seconds)
            self.actions += action != "page"

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text[:400])


@dataclass
class Stars:
    """Positions of a sample of stars on the UMAP (what a person would click on)."""

    x: np.ndarray
    y: np.ndarray

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return float(self.x.min()), float(self.x.max()), float(self.y.min()), float(self.y.max())


class Page:
    """One protocol session of the served page: the models a person's actions go through."""

    def __init__(self, url: str) -> None:
        from bokeh.client import pull_session

        self.session = pull_session(url=url)
        doc = self.session.document
        self.doc = doc
        # What the browser sends once the page has rendered: Panel then runs the page's on-load
        # work (the click lookups) and sends later changes straight to the socket.
        doc.callbacks.send_event(UiEvent("document_ready"))
        self.umap = self._one(
            lambda m: type(m).__name__ == "figure" and m.title is not None and m.title.text.startswith("UMAP")
        )
        self.location = self._one(lambda m: type(m).__name__ == "Location")
        self.expression = self._css("selection-expression")
        self.apply = self._css("apply-expression")
        self.card = self._css("star-card-header")

    def _one(self, test: Callable[[Any], bool]) -> Any:
        found = [m for m in self.doc.models if test(m)]
        if not found:
            raise LookupError("the served page lacks a model this soak drives")
        return found[0]

    def _css(self, name: str) -> Any:
        return self._one(lambda m: name in (getattr(m, "css_classes", None) or []))

    def bounds(self, stars: Stars | None) -> tuple[float, float, float, float]:
        """(x min, x max, y min, y max) of the stars, else of the UMAP figure's axes."""
        if stars is not None:
            return stars.bounds
        x, y = self.umap.x_range, self.umap.y_range
        return float(x.start), float(x.end), float(y.start), float(y.end)

    # --- the actions: each sends its events and names the model change that is its reply ------
    def box(self, stars: Stars | None, rng: random.Random) -> str:
        """Drag a box on the UMAP; the reply is the page's URL (its new ``box(…)`` expression)."""
        x_lo, x_hi, y_lo, y_hi = self.bounds(stars)
        x0 = rng.uniform(x_lo, 0.6 * x_lo + 0.4 * x_hi)
        y0 = rng.uniform(y_lo, 0.6 * y_lo + 0.4 * y_hi)
        x1 = x0 + rng.uniform(0.15, 0.35) * (x_hi - x_lo)
        y1 = y0 + rng.uniform(0.15, 0.35) * (y_hi - y_lo)
        geometry = {"type": "rect", "x0": x0, "x1": x1, "y0": y0, "y1": y1}
        self.doc.callbacks.send_event(UiEvent("selectiongeometry", self.umap, geometry=geometry, final=True))
        return "url"

    def expression_(self, stars: Stars | None, rng: random.Random) -> str:
        """Type a (new) expression and click *Apply expression*; the reply is the page's URL."""
        x_lo, x_hi, y_lo, y_hi = self.bounds(stars)
        x0 = rng.uniform(x_lo, x_hi)
        self.expression.value = (
            f"box(umap_x, umap_y, {x0:.4f}, {x0 + 0.3 * (x_hi - x_lo):.4f}, {y_lo:.4f}, {y_hi:.4f})"
        )
        self.doc.callbacks.send_event(UiEvent("button_click", self.apply))
        return "url"

    def click(self, stars: Stars, rng: random.Random) -> str:
        """Click a star of the UMAP (a different one each time); the reply is its star card."""
        i = rng.randrange(len(stars.x))
        self.doc.callbacks.send_event(
            UiEvent("tap", self.umap, x=float(stars.x[i]), y=float(stars.y[i]), sx=0.0, sy=0.0)
        )
        return "card"


#: Messages handled per turn of ``run_until_closed``'s loop (bounds the client's await chain).
MESSAGES_PER_TURN = 100


def run_until_closed(session: Any) -> None:
    """Run ``session``'s event loop (its document callbacks and the server's patches) until it closes.

    Bokeh's ``ClientSession._loop_until_closed`` awaits one nested coroutine per message received:
    a session that receives a thousand patches dies of ``RecursionError`` (a soak user gets that
    many in a few minutes at 10^6 stars). Its loop stops whenever its predicate holds, which unwinds
    the chain, so the loop is run in turns of ``MESSAGES_PER_TURN`` messages (Bokeh 3.9's
    ``ClientConnection._loop_until``: private, as ``_loop_until_closed`` itself).
    """
    from bokeh.client.states import DISCONNECTED

    connection = session._connection
    seen = [0]

    def closed() -> bool:
        return isinstance(connection._state, DISCONNECTED)

    def turn_over() -> bool:
        seen[0] += 1
        return closed() or seen[0] % MESSAGES_PER_TURN == 0

    while not closed():
        connection._loop_until(turn_over)


#: (recorded name, Page method) per action, in the order a user repeats them.
ACTIONS = (("box", Page.box), ("expression", Page.expression_), ("click", Page.click))


class User:
    """One protocol user: open the page, wait for the others, then act until ``clock.until``.

    ``clock`` has ``arrived()`` (called once this user's first page is open or failed),
    ``warm`` (a ``threading.Event`` set once every user has arrived) and ``until`` (a
    ``time.monotonic()`` deadline). ``think_s``: the pause before each action, drawn uniformly.
    ``stars``: positions to click on; None: no clicks.
    """

    def __init__(
        self,
        url: str,
        index: int,
        stars: Stars | None,
        rec: Recorder,
        clock: Any,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        think_s: tuple[float, float] = (3.0, 7.0),
        reload_every: int = 10,
        start_delay: float = 0.0,
    ) -> None:
        self.url, self.index, self.stars, self.rec, self.clock = url, index, stars, rec, clock
        self.timeout, self.think_s, self.reload_every, self.start_delay = (
            timeout,
            think_s,
            reload_every,
            start_delay,
        )
        self.rng = random.Random(1000 + index)
        # Without star positions (a server of unknown catalogue) there is nothing sure to click on.
        self.actions = ACTIONS if stars is not None else ACTIONS[:2]
        self.page: Page | None = None
        self._pending: tuple[str, str, float] | None = None  # (action, awaited reply, start)
        self._timer: Any = None
        self._done = 0  # actions on this page

    def run(self) -> None:
        """The thread's body: pages one after the other until the clock runs out."""
        time.sleep(self.start_delay)
        try:
            page = self._open()
        finally:
            self.clock.arrived()
        self.clock.warm.wait()
        try:
            while page is not None:
                self._drive(page)
                if time.monotonic() >= self.clock.until:
                    break
                page = self._open()  # a reload: a new session of the page
        except Exception as exc:  # a user that dies is an error of the run, not a crash of the soak
            self.rec.error(f"protocol {self.index}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")

    def _open(self) -> Page | None:
        start = time.perf_counter()
        try:
            page = Page(self.url)
            page.session.force_roundtrip()  # the server has the ready event and answered
        except Exception as exc:  # a page that does not open is an error of the run
            self.rec.error(f"protocol {self.index}: page: {type(exc).__name__}: {exc}")
            return None
        self.rec.add("page", time.perf_counter() - start)
        return page

    def _drive(self, page: Page) -> None:
        """Act on ``page`` from its event loop until it is closed (reload or end of the run)."""
        self.page, self._pending, self._done = page, None, 0
        page.location.on_change("search", lambda _attr, _old, _new: self._reply("url"))
        page.card.on_change("text", lambda _attr, _old, _new: self._reply("card"))
        page.doc.add_timeout_callback(self._act, self._think_ms())
        run_until_closed(page.session)
        if self._pending is not None:
            self.rec.error(f"protocol {self.index}: the server closed the session during {self._pending[0]}")

    def _think_ms(self) -> int:
        return int(1000 * self.rng.uniform(*self.think_s))

    def _act(self) -> None:
        page = self.page
        rounds = self._done // len(self.actions)
        if self._done % len(self.actions) == 0 and (
            time.monotonic() >= self.clock.until or (rounds and rounds % self.reload_every == 0)
        ):
            page.session.close()  # ends loop_until_closed
            return
        name, send = self.actions[self._done % len(self.actions)]
        start = time.perf_counter()
        self._pending = (name, send(page, self.stars, self.rng), start)
        self._timer = page.doc.add_timeout_callback(self._expired, int(1000 * self.timeout))

    def _reply(self, what: str) -> None:
        if self._pending is None or self._pending[1] != what:
            return  # not the reply of the action in flight (e.g. the URL after a click)
        name, _what, start = self._pending
        self.rec.add(name, time.perf_counter() - start)
        self._next()

    def _expired(self) -> None:
        if self._pending is not None:
            self.rec.error(f"{self._pending[0]}: no reply within {self.timeout:.0f} s")
            self._next()

    def _next(self) -> None:
        page = self.page
        if self._timer is not None:
            with contextlib.suppress(ValueError):  # it has just run
                page.doc.remove_timeout_callback(self._timer)
        self._pending, self._timer = None, None
        self._done += 1
        page.doc.add_timeout_callback(self._act, self._think_ms())
