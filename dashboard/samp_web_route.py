"""``GET /desa-samp/<token>/<file>``: a table sent over the SAMP Web Profile, for the user's hub.

``desa serve`` loads this module as a ``panel serve --plugins`` module (its ``ROUTES``). The
astronomer's TOPCAT or Aladin fetches the VOTable the page announced (dashboard/samp_web.py) from
here: the URL's token (``TOKEN`` characters, random per session) is the credential, since a SAMP
receiver carries no login cookie; the file lives only while its session does. Names outside the
token/file pattern, or files that are gone, answer 404 without echoing the request.
"""

from __future__ import annotations

import re
from typing import Any

from tornado import web

from data.settings import samp_web_dir

#: A session's token (``secrets.token_urlsafe(24)``) and a file name as the dashboard writes them.
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
FILE = re.compile(r"[A-Za-z0-9._-]{1,120}\.xml")
PATH = "desa-samp"


class SampTableHandler(web.RequestHandler):
    """Serves one VOTable of the SAMP Web Profile folder by token and name."""

    def get(self, token: str, name: str) -> None:
        if not (TOKEN.fullmatch(token) and FILE.fullmatch(name)):
            raise web.HTTPError(404)
        path = samp_web_dir() / token / name
        if not path.is_file():
            raise web.HTTPError(404)
        self.set_header("Content-Type", "application/x-votable+xml")
        self.set_header("Cache-Control", "no-store")
        # A receiver in the page's own browser may fetch it too (the Web Profile's clients).
        self.set_header("Access-Control-Allow-Origin", "*")
        self.write(path.read_bytes())


def routes() -> list[tuple[str, type[web.RequestHandler]]]:
    """The route of the tables (see the module docstring)."""
    return [(rf"/{PATH}/([^/]+)/([^/]+)", SampTableHandler)]


def __getattr__(name: str) -> Any:
    # Panel reads ``module.ROUTES`` once, after importing the plugin (PEP 562 module attribute).
    if name == "ROUTES":
        return routes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
