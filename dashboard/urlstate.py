"""Shareable links: the selection expression, colour-by, focused star and CMD photometry in the URL.

``?expression=binary_prob%20%3E%200.9&color_by=pred_age_gyr&focused_row=12&cmd=observed``
restores a view, and ``&subset=young:pred_age_gyr%20%3C%200.3`` (repeated) each named subset in
order: the mask is recomputed from the expression (never sent), the colour and the CMD photometry
must be among the state's choices and the row one of the catalogue's; ``cmd`` is written only
when it is not the default (dereddened where the catalogue allows). Nothing in the URL names a
file or folder: the survey comes from the server's settings only, and unknown parameters are
ignored (kept in the URL).

A link is untrusted input: ``restore`` never raises for any query string, caps what it parses
(``MAX_SEARCH`` characters, ``focused_row`` as at most 18 ASCII digits) and quotes bad values in
its problems cut short (``data.query.shorten``); the page escapes the problems before showing them.

Panel's ``Location.sync`` converts values (``"12"`` -> 12, ``"[1]"`` -> a list), which would mangle
expressions, so the query string is read and written here with ``urllib.parse``. That conversion
also raises for some values (``int("²")``) whenever the URL changes, so the session's location is
a ``TextLocation``, which leaves them as text.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import panel as pn
import param
from panel.custom import JSComponent
from panel.io.location import Location

from dashboard.state import DashboardState
from dashboard.subsets import MAX_SUBSETS, SubsetError
from data.query import MAX_LENGTH, ExpressionError, shorten

EXPRESSION, COLOR, FOCUSED, CMD, SUBSET = "expression", "color_by", "focused_row", "cmd", "subset"
KEYS = (EXPRESSION, COLOR, FOCUSED, CMD, SUBSET)
#: Longest query string read: an expression of ``MAX_LENGTH`` characters, every one percent-encoded.
MAX_SEARCH = 3 * MAX_LENGTH + 1_000
#: A row number: ASCII digits only (``str.isdigit`` also accepts "²", which ``int`` rejects).
_ROW = re.compile(r"[0-9]{1,18}")


def _colour_choices(state: DashboardState) -> list[str]:
    objects = state.param.color_by.objects
    return list(objects.values()) if isinstance(objects, dict) else list(objects)


def query_from_state(state: DashboardState) -> dict[str, str | list[str]]:
    """The URL parameters describing ``state`` (a key is left out when it has no value).

    ``subset`` is repeated, one ``name:expression`` per named subset, in order (their colours).
    """
    query: dict[str, str | list[str]] = {COLOR: str(state.color_by)}
    if state.subsets:
        query[SUBSET] = [f"{s.name}:{s.expression}" for s in state.subsets]
    if state.expression:
        query[EXPRESSION] = state.expression
    if state.focused_row is not None:
        query[FOCUSED] = str(int(state.focused_row))
    if state.cmd_photometry != state.param.cmd_photometry.objects[0]:
        query[CMD] = str(state.cmd_photometry)
    return query


def restore(state: DashboardState, search: str) -> list[str]:
    """Apply the parameters of a URL query string (``?a=1&b=2``) to ``state``.

    Returns the problems found (empty when all applied), one readable line each, quoting the
    user's values (plain text: escape it before showing it as Markdown or HTML). A bad parameter
    is skipped, never raised, so a mistyped or hostile link still opens the page.
    """
    if len(search) > MAX_SEARCH:
        return [f"the link's parameters hold {len(search):,} characters, above {MAX_SEARCH:,}; none applied"]
    pairs = urllib.parse.parse_qsl(search.lstrip("?"), keep_blank_values=True)
    params = dict(pairs)
    problems = _restore_subsets(state, [v for k, v in pairs if k == SUBSET])
    colour = params.get(COLOR)
    if colour:
        choices = _colour_choices(state)
        if colour in choices:
            state.color_by = colour
        else:
            problems.append(
                f"color_by={shorten(colour)!r} is not a column to colour by; kept {state.color_by!r}"
            )
    photometry = params.get(CMD)
    if photometry:
        choices = list(state.param.cmd_photometry.objects)
        if photometry in choices:
            state.cmd_photometry = photometry
        else:
            problems.append(
                f"cmd={shorten(photometry)!r} is not available here (one of {choices}); "
                f"kept {state.cmd_photometry!r}"
            )
    row = params.get(FOCUSED)
    if row:
        if _ROW.fullmatch(row) and int(row) < state.n_rows:
            state.focused_row = int(row)
        else:
            problems.append(
                f"focused_row={shorten(row)!r} is not a row of this catalogue (0..{state.n_rows - 1})"
            )
    text = params.get(EXPRESSION)
    if text:
        if len(text) > MAX_LENGTH:
            problems.append(f"expression of {len(text):,} characters; the limit is {MAX_LENGTH:,}")
        else:
            try:
                state.apply_expression(text, mode="replace")
            except ExpressionError as exc:
                problems.append(f"expression in the link not applied: {exc}")
    return problems


def _restore_subsets(state: DashboardState, values: list[str]) -> list[str]:
    """Add the link's named subsets (``name:expression`` each); returns the problems."""
    problems = []
    if len(values) > MAX_SUBSETS:
        problems.append(f"{len(values)} subsets in the link; the first {MAX_SUBSETS} kept")
    for value in values[:MAX_SUBSETS]:
        name, colon, expression = value.partition(":")
        try:
            if not colon:
                raise SubsetError("a subset in a link is written name:expression")
            state.add_subset(name, expression)
        except (SubsetError, ExpressionError) as exc:
            problems.append(f"subset={shorten(value)!r} not restored: {exc}")
    return problems


def search_with(search: str, query: dict[str, str | list[str]]) -> str:
    """``search`` with this module's keys replaced by ``query`` (other parameters kept)."""
    kept = [(k, v) for k, v in urllib.parse.parse_qsl(search.lstrip("?"), keep_blank_values=True)]
    pairs = [(k, v) for k, v in kept if k not in KEYS]
    for key in KEYS:
        values = query.get(key)
        pairs += [
            (key, v) for v in ([] if values is None else [values] if isinstance(values, str) else values)
        ]
    return "?" + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote) if pairs else ""


class UrlWriter(JSComponent):
    """Puts ``search`` into the browser's address bar, replacing the page's history entry.

    Panel's ``Location`` pushes a new history entry each time its ``search`` changes
    (``history.pushState``), at once, and then sends the new address back to the server. On every
    box selection that held the page's main thread ~50 ms before the selection showed (a Chromium
    trace of eight selections: 0.42 s in ``pushState``, which waits on the browser process), the
    server got one more message, and Back only changed the address bar (Panel restores no state
    from history). Here the entry is replaced, once the page is idle: the address is the link to
    what is on screen, and Back leaves the explorer. ``search`` is made by ``search_with``; the
    script writes only a query string (``?…``) onto the page's own path.
    """

    search = param.String(default="", doc="The query string to show ('' or '?…').")

    _esm = """
    export function render({ model }) {
      let pending = null;
      const write = () => {
        pending = null;
        const search = model.search;
        if ((search !== "" && !search.startsWith("?")) || search === window.location.search) return;
        const url = window.location.pathname + search + window.location.hash;
        window.history.replaceState(window.history.state, "", url);
      };
      // Once the page is idle (within a second): the call waits on the browser process, 25-60 ms
      // after a box selection, which would otherwise hold up showing the selection itself.
      const later = () => {
        if (pending !== null) return;
        pending = window.requestIdleCallback
          ? window.requestIdleCallback(write, { timeout: 1000 })
          : window.setTimeout(write, 200);
      };
      model.on("search", later);
      later();
      return document.createElement("span");
    }
    """

    def __init__(self, **params: Any) -> None:
        params.setdefault("margin", 0)
        params.setdefault("width", 0)
        params.setdefault("height", 0)
        super().__init__(**params)


class UrlSync(param.Parameterized):
    """Keeps a session's URL and its ``DashboardState`` in step.

    On creation the URL (``location``, the session's request) is applied to the state
    (``problems`` lists what was skipped); afterwards every change of selection, colour, focused
    star, CMD photometry or subsets rewrites ``search``, which ``writer`` (a ``UrlWriter`` on the
    page) shows in the address bar.
    """

    problems = param.List(default=[], doc="Parameters of the opening URL that could not be applied.")

    def __init__(self, state: DashboardState, location: Any, **params: Any) -> None:
        super().__init__(**params)
        self._state = state
        self.writer = UrlWriter(search=location.search or "")
        self.problems = restore(state, self.search)
        self._write()
        state.param.watch(self._write, ["terms", "color_by", "focused_row", "cmd_photometry", "subsets"])

    @property
    def search(self) -> str:
        """The query string that restores what is on screen (what ``writer`` shows)."""
        return self.writer.search

    def _write(self, *_events: param.parameterized.Event) -> None:
        search = search_with(self.search, query_from_state(self._state))
        if search != self.search:
            self.writer.search = search


class TextLocation(Location):
    """Panel's ``Location`` whose ``query_params`` are the query string's values as text.

    Panel converts every value that passes ``str.isdigit()`` with ``int()`` (panel.util.parse_query),
    so ``?x=²`` or a run of 5,000 digits raises ValueError in its watcher of ``search``: as the
    session's location is created from the request, and the page then fails to build. Values as
    text never fail; this app reads its parameters itself (``restore``).
    """

    @property
    def query_params(self) -> dict[str, Any]:
        return dict(urllib.parse.parse_qsl(self.search.lstrip("?"), keep_blank_values=True))


def session_location() -> TextLocation | None:
    """The current session's URL, None outside a server session.

    Pass it to ``servable(location=...)`` so Panel syncs this object with the browser (and never
    builds its own from the request).
    """
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return None
    return TextLocation.from_request(doc.session_context.request)
