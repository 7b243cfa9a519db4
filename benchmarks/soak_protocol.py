"""Protocol-level users of the soak: Bokeh's server protocol driving a served page, in a process apart.

A browser costs a CPU core of its own to lay out and paint the page; twenty of them on the
server's machine measure the browsers, not the server (issue 16, item 7). A protocol user is what
the server sees of a browser, for a fraction of its cost. It speaks Bokeh's server protocol on
the page's websocket (``/app/ws``) as bokehjs does:

* opens a session (``ACK``, then ``PULL-DOC-REQ``: the server builds the page as for a browser
  and sends the whole document), announces the document ready as a browser does once the page
  has rendered (Panel then runs the page's on-load work), and waits for a ``SERVER-INFO`` round
  trip, so the ready event has been handled: that is its page time;
* then sends the events a person's browser sends, as ``PATCH-DOC`` messages:

  - **box**: a ``SelectionGeometry`` (final, rectangle) on the UMAP figure, as the box-select
    tool sends at the end of a drag; the reply is the new ``box(…)`` expression in the page's URL
    (a ``ModelChanged`` of the ``search`` of ``dashboard/urlstate.py``'s ``UrlWriter``);
  - **expression**: types an expression into the selection box (a ``ModelChanged`` of its
    ``value``) and clicks *Apply expression* (a ``ButtonClick``); the reply is the URL again;
  - **click**: a ``Tap`` on a star of the UMAP (a position read from the catalogue), as the
    view sends on a click; the reply is the star card's header naming a new star.

Unlike Bokeh's Python client (``bokeh.client``), which decodes the document into Python models
and applies every patch the server sends (1-2 s of CPU per page at 10^6 stars, and the GIL shared
with the browsers' driver), a user here only parses the messages' JSON and finds the few model
ids it needs: what the server does is the same, what the load generator costs is small. All
users share one asyncio event loop in one process (``run_users``), apart from the process that
drives the real browsers, whose timings must not wait for this one's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: How long one reply may take before the action counts as an error (``--timeout``).
DEFAULT_TIMEOUT_S = 120.0
#: The largest message a user accepts (the whole document of a page at 10^6 stars is ~1 MB).
MAX_MESSAGE_BYTES = 1 << 28


@dataclass
class Recorder:
    """Latencies (s) per action and the errors of every protocol user (one event loop: no lock)."""

    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"page": [], "box": [], "expression": [], "click": []}
    )
    errors: list[str] = field(default_factory=list)
    actions: int = 0
    #: (wall-clock time the reply arrived, action, latency) of every sample: the report's timeline.
    timeline: list[tuple[float, str, float]] = field(default_factory=list)

    def add(self, action: str, seconds: float) -> None:
        self.latencies[action].append(seconds)
        self.timeline.append((time.time(), action, seconds))
        self.actions += action != "page"

    def error(self, text: str) -> None:
        self.errors.append(text[:400])

    def as_dict(self) -> dict[str, Any]:
        return {
            "latencies": self.latencies,
            "errors": self.errors,
            "actions": self.actions,
            "timeline": self.timeline,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recorder:
        return cls(
            latencies=data["latencies"],
            errors=data["errors"],
            actions=data["actions"],
            timeline=[tuple(row) for row in data.get("timeline", [])],
        )


@dataclass
class Stars:
    """Positions of a sample of stars on the UMAP (what a person would click on)."""

    x: np.ndarray
    y: np.ndarray

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return float(self.x.min()), float(self.x.max()), float(self.y.min()), float(self.y.max())


def document_models(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every model definition of a serialised Bokeh document, by id (``{"type": "object", …}``)."""
    models: dict[str, dict[str, Any]] = {}
    stack: list[Any] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "object" and "id" in item and "name" in item:
                models[item["id"]] = item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return models


class ServerError(RuntimeError):
    """The server answered a message with ``ERROR``, or closed the session."""


class Connection:
    """One websocket session of Bokeh's server protocol: send messages, dispatch what arrives.

    A message is three text frames (header, metadata, content) and, for each of the header's
    ``num_buffers``, a buffer header and a binary payload; buffers are skipped (they carry
    array data that no user looks at). ``on_patch`` is called with each ``PATCH-DOC``'s events.
    """

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self._ids = (f"u{i}" for i in itertools.count(1))
        self._waiting: dict[str, asyncio.Future] = {}
        self.on_patch: Callable[[list[dict[str, Any]]], None] | None = None
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self._reader: asyncio.Task | None = None

    @classmethod
    async def open(cls, app_url: str, timeout: float) -> tuple[Connection, dict[str, Any]]:
        """Connect to ``app_url``'s websocket, pull the document; (connection, document)."""
        from bokeh.client.util import websocket_url_for_server_url
        from bokeh.util.token import generate_jwt_token, generate_session_id
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        token = generate_jwt_token(generate_session_id())
        request = HTTPRequest(
            websocket_url_for_server_url(app_url), connect_timeout=timeout, request_timeout=timeout
        )
        socket = await websocket_connect(
            request, subprotocols=["bokeh", token], max_message_size=MAX_MESSAGE_BYTES
        )
        conn = cls(socket)
        header, _content = await asyncio.wait_for(conn._read(), timeout)
        if header.get("msgtype") != "ACK":
            raise ServerError(f"the server opened with {header.get('msgtype')!r}, not ACK")
        conn._reader = asyncio.create_task(conn._read_forever())
        reply = await conn.request("PULL-DOC-REQ", {}, timeout)
        return conn, reply["doc"]

    async def _read(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """One whole message (header, content), or None when the socket closed."""
        frames = []
        for _ in range(3):
            frame = await self.socket.read_message()
            if frame is None:
                return None
            frames.append(frame)
        header = json.loads(frames[0])
        for _ in range(2 * int(header.get("num_buffers", 0))):
            if await self.socket.read_message() is None:
                return None
        return header, json.loads(frames[2])

    async def _read_forever(self) -> None:
        try:
            while (message := await self._read()) is not None:
                header, content = message
                kind, reqid = header.get("msgtype"), header.get("reqid")
                waiter = self._waiting.pop(reqid, None) if reqid is not None else None
                if kind == "ERROR":
                    error = ServerError(f"server ERROR: {str(content.get('text', content))[:200]}")
                    if waiter is not None and not waiter.done():
                        waiter.set_exception(error)
                    else:
                        raise error
                elif waiter is not None and not waiter.done():
                    waiter.set_result(content)
                if kind == "PATCH-DOC" and self.on_patch is not None:
                    self.on_patch(content.get("events", []))
        except Exception as exc:  # the reader's end is the session's end, with its reason
            if not self.closed.done():
                self.closed.set_exception(exc)
        finally:
            if not self.closed.done():
                self.closed.set_result(None)
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(ServerError("the server closed the session"))

    def send(self, msgtype: str, content: dict[str, Any]) -> str:
        """Send one message (no buffers); its msgid, which the server's reply names as ``reqid``."""
        msgid = next(self._ids)
        for frame in (json.dumps({"msgid": msgid, "msgtype": msgtype}), "{}", json.dumps(content)):
            self.socket.write_message(frame)
        return msgid

    async def request(self, msgtype: str, content: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a message and wait for the reply that names it."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[self.send(msgtype, content)] = future
        return await asyncio.wait_for(future, timeout)

    def patch(self, *events: dict[str, Any]) -> None:
        """Send document events (``ModelChanged``, UI events) as one ``PATCH-DOC``."""
        self.send("PATCH-DOC", {"events": list(events)})

    async def close(self) -> None:
        self.socket.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 10.0)


def ui_event(name: str, model_id: str | None = None, **values: Any) -> dict[str, Any]:
    """A UI event as bokehjs sends it: a ``MessageSent`` of ``bokeh_event`` naming its model by id."""
    if model_id is not None:
        values = {"model": {"id": model_id}, **values}
    return {
        "kind": "MessageSent",
        "msg_type": "bokeh_event",
        "msg_data": {"type": "event", "name": name, "values": values},
    }


def bokeh_map(mapping: dict[str, Any]) -> dict[str, Any]:
    """A dict as Bokeh's serialiser writes it (``{"type": "map", "entries": …}``)."""
    return {"type": "map", "entries": [[key, value] for key, value in mapping.items()]}


class Page:
    """One protocol session of the served page and the model ids a person's actions go through.

    ``replies`` maps what an action waits for (``"url"``, ``"card"``) to the future its reply
    completes; the connection's patches complete it.
    """

    def __init__(self, conn: Connection, document: dict[str, Any]) -> None:
        self.conn = conn
        self.models = document_models(document)
        self.replies: dict[str, asyncio.Future] = {}
        self.watched: dict[tuple[str, str], str] = {}
        #: The sample star clicked last (its card is on show: clicking it again changes nothing).
        self.last_click: int | None = None
        # The page may send its views after it has loaded: they then arrive in patches.
        self.complete = asyncio.get_running_loop().create_future()
        self._resolve()
        conn.on_patch = self._patched

    def _resolve(self) -> bool:
        """Find the models the actions go through; True (and ``complete`` set) once all are there."""
        models = self.models

        def one(test: Callable[[dict[str, Any]], bool]) -> str:
            for model_id, model in models.items():
                if test(model):
                    return model_id
            raise LookupError("the served page lacks a model this soak drives")

        def attrs(model: dict[str, Any]) -> dict[str, Any]:
            return model.get("attributes", {})

        def resolve(value: Any) -> dict[str, Any]:
            return models.get(value.get("id"), value) if isinstance(value, dict) else {}

        def css(name: str) -> Callable[[dict[str, Any]], bool]:
            return lambda m: name in (attrs(m).get("css_classes") or [])

        def is_umap(model: dict[str, Any]) -> bool:
            title = resolve(attrs(model).get("title"))
            return model["name"] == "Figure" and str(attrs(title).get("text", "")).startswith("UMAP")

        try:
            self.umap = one(is_umap)
            umap = attrs(models[self.umap])
            x_range, y_range = attrs(resolve(umap.get("x_range"))), attrs(resolve(umap.get("y_range")))
            self.axes = (
                float(x_range.get("start", 0.0)),
                float(x_range.get("end", 1.0)),
                float(y_range.get("start", 0.0)),
                float(y_range.get("end", 1.0)),
            )
            # The page's address, as dashboard/urlstate.py's UrlWriter holds it (its data model).
            self.location = one(lambda m: "search" in attrs(m) and not m["name"].endswith(".Location"))
            self.expression = one(css("selection-expression"))
            self.apply = one(css("apply-expression"))
            self.card = one(css("star-card-header"))
        except LookupError:
            return False
        self.watched = {(self.location, "search"): "url", (self.card, "text"): "card"}
        if not self.complete.done():
            self.complete.set_result(None)
        return True

    @classmethod
    async def open(cls, app_url: str, timeout: float = DEFAULT_TIMEOUT_S) -> Page:
        """A new session of the page, announced ready and answered (what a page load is)."""
        conn, document = await Connection.open(app_url, timeout)
        try:
            page = cls(conn, document)
            # What the browser sends once the page has rendered: Panel then runs the on-load work.
            conn.patch(ui_event("document_ready"))
            await asyncio.wait_for(asyncio.shield(page.complete), timeout)
            await conn.request("SERVER-INFO-REQ", {}, timeout)
        except BaseException:
            await conn.close()
            raise
        return page

    def _patched(self, events: list[dict[str, Any]]) -> None:
        if not self.complete.done():
            self.models.update(document_models(events))
            self._resolve()
        for event in events:
            if event.get("kind") != "ModelChanged":
                continue
            what = self.watched.get(((event.get("model") or {}).get("id"), event.get("attr")))
            future = self.replies.get(what) if what else None
            if future is not None and not future.done():
                future.set_result(None)

    def expect(self, what: str) -> asyncio.Future:
        """A future completed by the next ``what`` (``"url"`` or ``"card"``) the server sends."""
        future = asyncio.get_running_loop().create_future()
        self.replies[what] = future
        return future

    def bounds(self, stars: Stars | None) -> tuple[float, float, float, float]:
        """(x min, x max, y min, y max) of the stars, else of the UMAP figure's axes."""
        return stars.bounds if stars is not None else self.axes

    # --- the actions: each sends its events and names the reply it waits for -----------------
    def box(self, stars: Stars | None, rng: random.Random) -> str:
        """Drag a box on the UMAP; the reply is the page's URL (its new ``box(…)`` expression)."""
        x_lo, x_hi, y_lo, y_hi = self.bounds(stars)
        x0 = rng.uniform(x_lo, 0.6 * x_lo + 0.4 * x_hi)
        y0 = rng.uniform(y_lo, 0.6 * y_lo + 0.4 * y_hi)
        x1 = x0 + rng.uniform(0.15, 0.35) * (x_hi - x_lo)
        y1 = y0 + rng.uniform(0.15, 0.35) * (y_hi - y_lo)
        geometry = bokeh_map({"type": "rect", "x0": x0, "x1": x1, "y0": y0, "y1": y1})
        self.conn.patch(ui_event("selectiongeometry", self.umap, geometry=geometry, final=True))
        return "url"

    def expression_(self, stars: Stars | None, rng: random.Random) -> str:
        """Type a (new) expression and click *Apply expression*; the reply is the page's URL."""
        x_lo, x_hi, y_lo, y_hi = self.bounds(stars)
        x0 = rng.uniform(x_lo, x_hi)
        text = f"box(umap_x, umap_y, {x0:.4f}, {x0 + 0.3 * (x_hi - x_lo):.4f}, {y_lo:.4f}, {y_hi:.4f})"
        self.conn.patch(
            {"kind": "ModelChanged", "model": {"id": self.expression}, "attr": "value", "new": text}
        )
        self.conn.patch(ui_event("button_click", self.apply))
        return "url"

    def click(self, stars: Stars, rng: random.Random) -> str:
        """Click a star of the UMAP (a different one each time); the reply is its star card."""
        i = rng.randrange(len(stars.x))
        if i == self.last_click and len(stars.x) > 1:
            # The same star again would send no reply: the soak counted it as an error (user 10
            # of a 10-minute run drew star 1604 twice in a row).
            i = (i + 1 + rng.randrange(len(stars.x) - 1)) % len(stars.x)
        self.last_click = i
        self.conn.patch(ui_event("tap", self.umap, x=float(stars.x[i]), y=float(stars.y[i]), sx=0.0, sy=0.0))
        return "card"


#: (recorded name, Page method) per action, in the order a user repeats them.
ACTIONS = (("box", Page.box), ("expression", Page.expression_), ("click", Page.click))


class User:
    """One protocol user: open the page, wait for the others, then act until ``clock.until``.

    ``clock`` has ``arrived()`` (called once this user's first page is open or failed),
    ``is_warm()`` (every user has arrived) and ``until`` (a ``time.monotonic()`` deadline, the
    same clock in every process). ``think_s``: the pause before each action, drawn uniformly.
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
        # People do not act in step: each user starts at its own point of a round and reloads at
        # its own round (its first reload after 1..reload_every rounds, then every reload_every).
        # Users released together at the barrier would otherwise act and reload as a herd, every
        # page build of a reload wave queued on the server at once.
        self.phase = self.rng.randrange(max(1, reload_every))
        self.first_wait = self.rng.uniform(0.0, think_s[1] * len(self.actions))

    async def run(self) -> None:
        """Pages one after the other until the clock runs out."""
        await asyncio.sleep(self.start_delay)
        try:
            page = await self._open()
        finally:
            self.clock.arrived()
        while not self.clock.is_warm():
            await asyncio.sleep(0.2)
        await asyncio.sleep(self.first_wait)
        rounds = self.reload_every - self.phase  # of the first page
        try:
            while page is not None:
                await self._drive(page, rounds)
                rounds = self.reload_every
                if time.monotonic() >= self.clock.until:
                    break
                page = await self._open()  # a reload: a new session of the page
        except Exception as exc:  # a user that dies is an error of the run, not a crash of the soak
            self.rec.error(f"protocol {self.index}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")

    async def _open(self) -> Page | None:
        start = time.perf_counter()
        try:
            page = await Page.open(self.url, self.timeout)
        except Exception as exc:  # a page that does not open is an error of the run
            self.rec.error(f"protocol {self.index}: page: {type(exc).__name__}: {exc}")
            return None
        self.rec.add("page", time.perf_counter() - start)
        return page

    async def _drive(self, page: Page, rounds: int) -> None:
        """Act on ``page`` for ``rounds`` rounds (then a reload is due) or until the clock runs out."""
        try:
            for done in itertools.count():
                if done % len(self.actions) == 0 and (
                    time.monotonic() >= self.clock.until or done // len(self.actions) >= rounds
                ):
                    return
                await asyncio.sleep(self.rng.uniform(*self.think_s))
                if page.conn.closed.done():
                    self.rec.error(f"protocol {self.index}: the server closed the session")
                    return
                name, send = self.actions[done % len(self.actions)]
                start = time.perf_counter()
                # Listen before sending: the reply may arrive before this coroutine runs again.
                what = "card" if name == "click" else "url"
                reply = page.expect(what)
                send(page, self.stars, self.rng)
                waited = asyncio.ensure_future(asyncio.wait_for(asyncio.shield(reply), self.timeout))
                finished, _ = await asyncio.wait(
                    {waited, page.conn.closed}, return_when=asyncio.FIRST_COMPLETED
                )
                if waited in finished and waited.exception() is None:
                    self.rec.add(name, time.perf_counter() - start)
                elif waited in finished:
                    self.rec.error(f"{name}: no reply within {self.timeout:.0f} s")
                else:
                    waited.cancel()
                    self.rec.error(f"protocol {self.index}: the server closed the session during {name}")
                    return
        finally:
            await page.conn.close()


class SharedClock:
    """The soak's arrival barrier and deadline, shared by the browser process and the users' process.

    Built from a ``multiprocessing`` context's primitives, so it can be handed to a spawned
    process; ``time.monotonic()`` is the same clock in every process of the machine.
    """

    def __init__(self, ctx: Any, users: int, seconds: float) -> None:
        self.users, self.seconds = users, seconds
        self._arrived = ctx.Value("i", 0)
        self._until = ctx.Value("d", float("inf"))
        self._started = ctx.Value("d", float("nan"))
        self.warm = ctx.Event()

    @property
    def until(self) -> float:
        return self._until.value

    @property
    def started(self) -> float | None:
        value = self._started.value
        return None if value != value else value  # NaN: not started

    def is_warm(self) -> bool:
        return self.warm.is_set()

    def arrived(self) -> None:
        with self._arrived.get_lock():
            self._arrived.value += 1
            if self._arrived.value == self.users:
                now = time.monotonic()
                self._started.value, self._until.value = now, now + self.seconds
                self.warm.set()


async def run_users(
    url: str,
    n_users: int,
    stars: Stars | None,
    clock: Any,
    *,
    timeout: float,
    think_s: tuple[float, float],
    reload_every: int,
    first_delay: float,
    ramp_s: float,
) -> Recorder:
    """Run ``n_users`` protocol users on this event loop until the clock runs out."""
    rec = Recorder()
    users = [
        User(
            url,
            i,
            stars,
            rec,
            clock,
            timeout=timeout,
            think_s=think_s,
            reload_every=reload_every,
            start_delay=first_delay + i * ramp_s,
        )
        for i in range(n_users)
    ]
    await asyncio.gather(*(user.run() for user in users))
    return rec


def users_process(queue: Any, url: str, n_users: int, stars: Stars | None, clock: Any, options: dict) -> None:
    """The users' process: run them, then put the recorder's dict (or the failure) on ``queue``."""
    try:
        rec = asyncio.run(run_users(url, n_users, stars, clock, **options))
        queue.put(rec.as_dict())
    except BaseException as exc:  # the parent reports it as an error of the run
        queue.put(
            {"latencies": Recorder().latencies, "errors": [f"protocol users: {exc!r}"[:400]], "actions": 0}
        )
        raise


async def warm_up(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """Open and close one page (the server's first session); seconds."""
    start = time.perf_counter()
    page = await Page.open(url, timeout)
    await page.conn.close()
    return time.perf_counter() - start
