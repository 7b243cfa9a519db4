"""``GET /liveness`` for monitors: answers without a login and never builds a page.

``desa serve --liveness`` loads this module as a ``panel serve --plugins`` module (its ``ROUTES``)
instead of Panel's own ``--liveness`` handler, which builds a whole app document for
``?endpoint=/app`` (seconds of CPU and the catalogue in memory, for any anonymous caller) and
echoes an unknown endpoint into its error text.

* ``GET /liveness``: ``{"/liveness": true}`` while the server's event loop runs;
* ``GET /liveness?endpoint=/app``: ``{"/app": true}`` when the served survey's current store
  generation has a catalogue file (a ``stat``, nothing read), else HTTP 503;
* any other endpoint: HTTP 400, without repeating what was asked.

The path comes from ``DESA_LIVENESS_ENDPOINT`` (set by ``desa serve --liveness-endpoint``), read
when Panel asks for ``ROUTES``, not at import.
"""

from __future__ import annotations

import os
import re
from typing import Any

from tornado import web

from data.errors import DataError
from data.settings import survey_dir
from data.storage import SurveyStore

ENDPOINT_ENV = "DESA_LIVENESS_ENDPOINT"
APP_ENDPOINT = "/app"


class LivenessHandler(web.RequestHandler):
    """Liveness and a cheap readiness check (see the module docstring)."""

    def get(self) -> None:
        endpoint = self.get_argument("endpoint", default=None)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        if endpoint is None:
            self.write({self.request.path: True})
            return
        if endpoint.strip("/") != APP_ENDPOINT.strip("/"):
            raise web.HTTPError(400, reason="unknown endpoint; the app is /app")
        try:
            ready = SurveyStore(survey_dir()).has_catalog()
        except DataError:
            ready = False
        if not ready:
            raise web.HTTPError(503, reason="no catalogue in the survey's store")
        self.write({APP_ENDPOINT: True})


def routes() -> list[tuple[str, type[web.RequestHandler]]]:
    """The tornado route of the endpoint named by ``DESA_LIVENESS_ENDPOINT`` (default ``liveness``)."""
    path = os.environ.get(ENDPOINT_ENV, "liveness").strip("/") or "liveness"
    return [(f"/{re.escape(path)}", LivenessHandler)]


def __getattr__(name: str) -> Any:
    # Panel reads ``module.ROUTES`` once, after importing the plugin (PEP 562 module attribute).
    if name == "ROUTES":
        return routes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
