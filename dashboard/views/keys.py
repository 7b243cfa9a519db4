"""One-key labelling: keys 1, 2, 3 label the focused star; n shows the queue's next candidate.

A small Panel ``JSComponent`` listens to the page's key presses (not while the user types in a
text field) and sends the key to the server, which calls the label buttons' own action; its
script has no imports, so the page still loads nothing from elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from panel.custom import JSComponent

#: Key -> what it does, as shown on the page.
KEYS = {"1": "candidate", "2": "confirmed", "3": "rejected", "n": "next candidate"}


class KeyListener(JSComponent):
    """Sends each key of ``KEYS`` pressed on the page (outside text fields) as ``{"key": key}``.

    Register what it does with ``on_msg(key_handler(...))``.
    """

    _esm = """
    export function render({ model }) {
      const keys = new Set(KEY_LIST);
      const handler = (event) => {
        const target = event.composedPath()[0];
        const tag = target && target.tagName ? target.tagName.toUpperCase() : "";
        if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable) return;
        if (event.ctrlKey || event.metaKey || event.altKey || !keys.has(event.key)) return;
        model.send_msg({ key: event.key });
      };
      document.addEventListener("keydown", handler);
      model.on("remove", () => document.removeEventListener("keydown", handler));
      const hint = document.createElement("span");
      hint.textContent = HINT;
      hint.style.fontSize = "0.85em";
      hint.style.color = "#555";
      return hint;
    }
    """.replace("KEY_LIST", json.dumps(list(KEYS))).replace(
        "HINT", json.dumps(" · ".join(f"{key}: {action}" for key, action in KEYS.items()))
    )


def key_handler(label: Callable[[str], Any], next_candidate: Callable[[], Any]) -> Callable[[Any], None]:
    """A ``KeyListener`` message handler: label with ``label``, or ask ``next_candidate``.

    The message comes from the browser: anything but ``{"key": <one of KEYS>}`` (or an event whose
    ``data`` is that) is ignored.
    """

    def handle(message: Any) -> None:
        data = getattr(message, "data", message)  # Panel hands on_msg callbacks the DataEvent
        key = data.get("key") if isinstance(data, dict) else None
        if key == "n":
            next_candidate()
        elif key in KEYS:
            label(KEYS[key])

    return handle
