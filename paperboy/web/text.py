"""Turning stored text into readable, safe HTML: LaTeX to Unicode, Markdown comments, previews.

Everything returned as ``Markup`` is built from escaped pieces: abstracts go through
``html.escape`` after LaTeX conversion, comments through markdown-it with raw HTML disabled
(and its default link validation, which refuses ``javascript:`` and ``data:`` links).
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from urllib.parse import quote

from markdown_it import MarkdownIt
from markupsafe import Markup

from paperboy.services.text import readable

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("strikethrough")
_URL = re.compile(r"https?://[^\s<>\"'`]+")


def _link(url: str) -> str:
    """An escaped link for a URL found in text, without the punctuation that ends its sentence."""
    tail = ""
    while url and url[-1] in ".,;:!?)]}":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break  # Wikipedia-style URLs keep their own closing parenthesis
        url, tail = url[:-1], url[-1] + tail
    href = html.escape(url)
    return f'<a href="{href}" rel="nofollow noopener">{href}</a>{html.escape(tail)}'


def paragraphs(text: str | None) -> Markup:
    """A readable text as escaped HTML, its http(s) URLs as links (abstracts often give the code's)."""
    plain = readable(text)
    out, at = [], 0
    for match in _URL.finditer(plain):
        out.append(html.escape(plain[at : match.start()]))
        out.append(_link(match.group()))
        at = match.end()
    out.append(html.escape(plain[at:]))
    return Markup("".join(out))


def render_markdown(source: str) -> Markup:
    """A comment's Markdown as safe HTML (raw HTML in it is shown as text)."""
    return Markup(_markdown.render(source or ""))


@lru_cache(maxsize=100_000)
def _author_link(name: str) -> str:
    return f'<a href="/authors/{quote(name, safe="")}">{html.escape(name)}</a>'


def author_links(authors: list[str], limit: int = 8) -> Markup:
    """Authors as links to their pages, the first ``limit`` of them ("and 12 more" for the rest).

    Built here rather than in a template loop: it is the hottest part of a 50-paper page.
    """
    shown = ", ".join(_author_link(name) for name in authors[:limit])
    if len(authors) > limit:
        shown += f" and {len(authors) - limit} more"
    return Markup(shown)
