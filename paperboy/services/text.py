"""Stored text made readable, for pages and mail alike: LaTeX markup to Unicode, previews cut at a word.

One module, so a title reads the same on the site and in a digest (``Scaling {GPT} models`` loses its
braces in both).  Plain text only; escaping for HTML is the caller's job (``web/text.py``,
``services/digest_mail.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from pylatexenc.latex2text import LatexNodes2Text

_latex = LatexNodes2Text(math_mode="text", strict_latex_spaces=False)
_LATEXISH = re.compile(r"[\\$]|\{[^}]*\}")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=50_000)
def readable(text: str | None) -> str:
    """Plain text with LaTeX markup turned into Unicode (``$\\alpha$`` -> α, ``40\\%`` -> 40%).

    pylatexenc costs about 3 ms per abstract, so results are cached; text without LaTeX skips it.
    Conversion never fails: text it cannot parse is shown as it is.
    """
    text = _SPACES.sub(" ", text or "").strip()
    if not _LATEXISH.search(text):
        return text
    try:
        converted = _latex.latex_to_text(text)
    except Exception:  # pylatexenc on pathological input: showing the source beats failing the page
        return text
    return _SPACES.sub(" ", converted).strip() or text


def _source_prefix(text: str, width: int) -> str:
    """Enough of a LaTeX source to fill ``width`` readable characters, never ending inside ``$…$``.

    Converting a whole abstract costs about 10 ms when it holds LaTeX; a preview needs its start.
    """
    cut = min(len(text), width * 2)
    while cut < len(text) and text.count("$", 0, cut) % 2:
        cut = text.find("$", cut)
        cut = len(text) if cut < 0 else cut + 1
    return text[:cut]


def preview(text: str | None, width: int = 300) -> str:
    """The start of a readable text, cut at a word boundary."""
    source = text or ""
    text = readable(_source_prefix(source, width) if _LATEXISH.search(source) else source)
    if len(text) <= width and len(source) > width * 2:
        text = readable(source)  # the prefix rendered short (long commands): convert the whole text
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    return text[: cut if cut > width // 2 else width].rstrip(" ,;:") + "…"
