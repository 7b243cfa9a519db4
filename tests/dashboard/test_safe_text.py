"""Text from users and files shown in Markdown panes renders as that text: no HTML, links or markup."""

from __future__ import annotations

import html
import re

import panel as pn
import pytest

from dashboard.safe_text import code_markdown, escape_markdown

HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=1</script>",
    '"><svg onload=window.__pwned=1>',
    "<a id=pwned href=https://example.org>click</a>",
    "see https://example.org or www.example.org",
    "**bold** _em_ `code` [link](https://example.org) ![img](x) $x^2$ :smile: a|b ~~gone~~ [^1]",
    "&amp; &lt;b&gt; \\ \\\\ &#x3C;img&#x3E;",
    "# heading",
    "- item",
    "1. item",
]


def rendered(markdown: str, pane: type[pn.pane.Markdown] = pn.pane.Markdown) -> str:
    """The HTML Panel sends to the browser for ``markdown`` (the model's text, unescaped)."""
    return html.unescape(pane(markdown).get_root().text)


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("pane", [pn.pane.Markdown, pn.pane.Alert])
def test_escaped_text_renders_as_the_text_itself(text: str, pane: type[pn.pane.Markdown]) -> None:
    out = rendered(escape_markdown(text), pane)
    tags = set(re.findall(r"<\s*([a-zA-Z][\w-]*)", out))
    assert tags <= {"p", "div"}, f"markup made it through: {out}"
    assert html.unescape(re.sub(r"<[^>]+>", "", out)).strip() == text


def test_unescaped_text_would_inject() -> None:
    """The check above can fail: the same text unescaped becomes an element."""
    assert "<img" in rendered(HOSTILE[0])


def test_code_shows_a_path_literally() -> None:
    out = rendered("Survey: " + code_markdown("/data/a_b*c`d`<x>/"))
    assert "<code>/data/a_b*c`d`&lt;x&gt;/</code>" in out
