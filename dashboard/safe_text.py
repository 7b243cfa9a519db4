"""Text from users and files, made safe to show in a Markdown pane: it then reads as typed.

Panel renders ``pn.pane.Markdown`` and ``pn.pane.Alert`` with markdown-it with raw HTML, links
and emoji enabled, and the browser sets the result as the element's HTML; the star card renders
Markdown into Bokeh ``Div``s the same way. A URL parameter, a typed expression, an error message
quoting either, a file, column or label name copied into such a pane unescaped could add elements
to the page (``<img src=x onerror=...>``), links or formatting. ``escape_markdown`` is applied to
every such string where it joins the Markdown (issue 16).
"""

from __future__ import annotations

import string

#: HTML's special characters, as entities (markdown-it decodes them back to the characters).
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
#: Every other ASCII punctuation character gets a backslash: CommonMark shows it literally then.
_TABLE = str.maketrans({**_ENTITIES, **{c: "\\" + c for c in string.punctuation if c not in _ENTITIES}})


def escape_markdown(text: object) -> str:
    """``str(text)`` as Markdown that renders to exactly that text: no HTML, links or formatting.

    HTML's special characters become entities and other ASCII punctuation is backslash-escaped,
    so nothing in ``text`` can open a tag, a link, emphasis, code, math, a table or a heading.
    Not for use inside a code span (backticks show backslashes as typed); see ``code_markdown``.
    """
    return str(text).translate(_TABLE)


def code_markdown(text: object) -> str:
    """``text`` as inline code (monospace) in Markdown, shown literally whatever it holds."""
    return f"<code>{escape_markdown(text)}</code>"
