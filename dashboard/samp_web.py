"""SAMP from the browser: the page talks to the astronomer's own hub through the SAMP Web Profile.

``dashboard/samp.py`` broadcasts through the hub of the user running the server, which on an
observatory server is nobody's TOPCAT. Here the browser itself registers with the hub on the
astronomer's machine (the Web Profile: XML-RPC to ``http://localhost:21012/``, IVOA SAMP 1.3
section 5; the hub asks the user to accept the page), broadcasts ``table.load.votable`` with the
URL of the selection's VOTable on this server (``/desa-samp/<token>/<file>``, the token as the
credential: dashboard/samp_web_route.py), and pulls the hub's messages back:
``table.select.rowList`` for a table it sent becomes the selection (``row in [...]``) and
``table.highlight.row`` the focused star. ``coord.pointAt.sky`` goes out for the focused star.

The browser part is a ``JSComponent`` with no imports (nothing is fetched from elsewhere); what
comes back from the hub is data, bounded (``MAX_ROWS``) and checked before use.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param
from panel.custom import JSComponent

from dashboard.export import ExportError, ExportFolder, selection_export
from dashboard.safe_text import escape_markdown
from dashboard.state import DashboardState
from data.query import ExpressionError
from data.settings import samp_web_dir

#: Most rows a ``table.select.rowList`` may select (its expression lists them).
MAX_ROWS = 10_000
#: The Web Profile hub's address (IVOA SAMP 1.3: port 21012 on the user's machine).
HUB_URL = "http://localhost:21012/"

_ESM = r"""
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
function enc(v) {
  if (Array.isArray(v)) return "<value><array><data>" + v.map(enc).join("") + "</data></array></value>";
  if (v !== null && typeof v === "object")
    return "<value><struct>" + Object.entries(v).map(([k, x]) =>
      "<member><name>" + esc(k) + "</name>" + enc(x) + "</member>").join("") + "</struct></value>";
  return "<value><string>" + esc(v) + "</string></value>";
}
function dec(node) {
  const child = Array.from(node.children)[0];
  if (!child) return node.textContent;
  if (child.tagName === "struct") {
    const out = {};
    for (const m of Array.from(child.children)) {
      const name = Array.from(m.children).find((c) => c.tagName === "name");
      const value = Array.from(m.children).find((c) => c.tagName === "value");
      if (name && value) out[name.textContent] = dec(value);
    }
    return out;
  }
  if (child.tagName === "array") {
    const data = Array.from(child.children).find((c) => c.tagName === "data");
    return data ? Array.from(data.children).map(dec) : [];
  }
  return child.textContent;
}
async function call(hub, method, params) {
  const body = "<?xml version='1.0'?><methodCall><methodName>" + method + "</methodName><params>" +
    params.map((p) => "<param>" + enc(p) + "</param>").join("") + "</params></methodCall>";
  const response = await fetch(hub, { method: "POST", headers: { "Content-Type": "text/xml" }, body });
  const doc = new DOMParser().parseFromString(await response.text(), "text/xml");
  const fault = doc.getElementsByTagName("fault")[0];
  if (fault) throw new Error(JSON.stringify(dec(fault.getElementsByTagName("value")[0])));
  const value = doc.querySelector("params > param > value");
  return value ? dec(value) : null;
}
export function render({ model }) {
  let key = null;
  let timer = null;
  const report = (status, detail) => model.send_msg({ status, detail: String(detail ?? "") });
  async function connect() {
    if (key) return key;
    const reg = await call(model.hub, "samp.webhub.register", [{ "samp.name": "DESA explorer" }]);
    key = reg["samp.private-key"];
    await call(model.hub, "samp.webhub.declareMetadata", [key, {
      "samp.name": "DESA explorer", "samp.description.text": "DESA stellar embedding explorer" }]);
    await call(model.hub, "samp.webhub.allowReverseCallbacks", [key, "1"]);
    await call(model.hub, "samp.webhub.declareSubscriptions", [key, {
      "table.select.rowList": {}, "table.highlight.row": {} }]);
    timer = setInterval(pull, 1000);
    return key;
  }
  async function pull() {
    try {
      const callbacks = await call(model.hub, "samp.webhub.pullCallbacks", [key, "0"]);
      for (const cb of callbacks || []) {
        const args = cb["samp.params"] || [];
        const method = cb["samp.methodName"];
        const message = method === "receiveCall" ? args[2] : args[1];
        if (method === "receiveCall")
          await call(model.hub, "samp.webhub.reply",
            [key, args[1], { "samp.status": "samp.ok", "samp.result": {} }]);
        if (message) model.send_msg({ mtype: message["samp.mtype"], params: message["samp.params"] || {} });
      }
    } catch (error) { report("error", error); clearInterval(timer); key = null; }
  }
  model.on("msg:custom", async (msg) => {
    try {
      await connect();
      let params = msg.params;
      if (msg.relative_url)
        params = { ...params, url: new URL(msg.relative_url, window.location.href).href };
      const message = { "samp.mtype": msg.mtype, "samp.params": params };
      await call(model.hub, "samp.webhub.notifyAll", [key, message]);
      report("sent", msg.mtype);
    } catch (error) { report("error", error); }
  });
  model.on("remove", () => {
    if (timer) clearInterval(timer);
    if (key) call(model.hub, "samp.webhub.unregister", [key]).catch(() => {});
  });
  return document.createElement("span");
}
"""


class SampWebClient(JSComponent):
    """The browser's SAMP Web Profile client; Python sends it messages to broadcast."""

    hub = param.String(default=HUB_URL, doc="The Web Profile hub's URL (on the user's machine).")

    _esm = _ESM


class SampWebView(pn.viewable.Viewer):
    """The Send-to-my-TOPCAT button: the selection to the user's own hub; its answers select and focus."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")
    survey_dir = param.Path(default=None, check_exists=False, doc="The survey folder (provenance).")
    max_rows = param.Integer(default=100_000, bounds=(1, None), doc="Largest table sent.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.client = SampWebClient()
        self.client.on_msg(self.receive)
        self._token = secrets.token_urlsafe(24)
        self._folder = samp_web_dir() / self._token
        self._sent: dict[str, np.ndarray] = {}  # table-id -> catalogue rows, in the table's order
        self._send = pn.widgets.Button(
            label="Send to my TOPCAT (SAMP Web Profile)",
            css_classes=["samp-web-send"],
            sizing_mode="stretch_width",
        )
        self._send.on_click(lambda _event: self.send())
        self._point = pn.widgets.Button(label="Point my Aladin at the star", css_classes=["samp-web-point"])
        self._point.on_click(lambda _event: self.point_at())
        self._message = pn.pane.Alert("", alert_type="info", visible=False, css_classes=["samp-web-message"])
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(lambda _ctx: shutil.rmtree(self._folder, ignore_errors=True))

    def _say(self, text: str, kind: str = "info") -> None:
        self._message.param.update(object=text, alert_type=kind, visible=True)

    def send(self) -> bool:
        """Write the selection as a VOTable under this session's token and broadcast its URL."""
        self._folder.mkdir(parents=True, exist_ok=True)
        try:
            path = selection_export(
                self.state, Path(self.survey_dir), "votable", _Folder(self._folder), max_rows=self.max_rows
            )
        except ExportError as exc:
            self._say(escape_markdown(exc), "warning")
            return False
        table_id = f"desa-{path.stem}"
        self._sent = {table_id: np.flatnonzero(self.state.mask)}  # the latest table only
        self.client._send_msg(
            {
                "mtype": "table.load.votable",
                "relative_url": f"desa-samp/{self._token}/{path.name}",
                "params": {"table-id": table_id, "name": path.stem},
            }
        )
        self._say(f"Offering {self.state.n_selected:,} stars to your SAMP hub (accept the page there).")
        return True

    def point_at(self) -> bool:
        """Send ``coord.pointAt.sky`` for the focused star's RA and Dec."""
        row = self.state.focused_row
        catalog = self.state.catalog
        if row is None or not {"ra_deg", "dec_deg"} <= set(catalog.columns):
            self._say("Focus a star with RA and Dec first.", "warning")
            return False
        ra, dec = (float(catalog[c].iloc[row]) for c in ("ra_deg", "dec_deg"))
        self.client._send_msg({"mtype": "coord.pointAt.sky", "params": {"ra": repr(ra), "dec": repr(dec)}})
        return True

    def receive(self, event: Any) -> None:
        """A message from the page: the hub's answer, or a status of the page's client."""
        data = getattr(event, "data", event)
        if not isinstance(data, dict):
            return
        if "status" in data:
            if data["status"] == "error":
                self._say(f"SAMP: {escape_markdown(str(data.get('detail', ''))[:300])}", "warning")
            else:
                self._say(
                    f"Sent to your SAMP hub ({escape_markdown(str(data.get('detail', ''))[:80])}).", "success"
                )
            return
        params = data.get("params") if isinstance(data.get("params"), dict) else {}
        rows = self._sent.get(str(params.get("table-id", "")))
        if rows is None:
            return  # not a table this session sent
        if data.get("mtype") == "table.select.rowList":
            self._select(rows, params.get("row-list"))
        elif data.get("mtype") == "table.highlight.row":
            index = _index(params.get("row"), len(rows))
            if index is not None:
                self.state.focused_row = int(rows[index])

    def _select(self, rows: np.ndarray, row_list: Any) -> None:
        if not isinstance(row_list, list) or len(row_list) > MAX_ROWS:
            self._say(f"SAMP: a row list of at most {MAX_ROWS:,} rows is applied.", "warning")
            return
        picked = sorted({int(rows[i]) for i in (_index(v, len(rows)) for v in row_list) if i is not None})
        try:
            self.state.apply_expression(f"row in [{', '.join(map(str, picked))}]", mode="replace")
        except ExpressionError as exc:
            self._say(escape_markdown(exc), "warning")
            return
        self._say(f"{len(picked):,} stars selected from your SAMP hub.", "success")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._send, self._point, self._message, self.client, sizing_mode="stretch_width")


def _index(value: Any, length: int) -> int | None:
    """``value`` (SAMP sends integers as strings) as a row index below ``length``, else None."""
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    index = int(text)
    return index if index < length else None


class _Folder(ExportFolder):
    """An export folder fixed to this session's token folder (files kept until the session ends)."""

    def __init__(self, path: Path) -> None:  # no temporary folder of its own
        self.path = path

    def new_path(self, filename: str) -> Path:
        for old in self.path.glob("*.xml"):
            old.unlink(missing_ok=True)
        return self.path / filename
