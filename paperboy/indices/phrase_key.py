"""The normalized form of a key phrase, by which ``topic:"…"`` finds papers (no heavy imports: search uses it)."""

from __future__ import annotations

import re
import unicodedata


def normalize_key(phrase: str) -> str:
    """The form a key phrase is searched by: lower case, accents folded, plural ``s`` dropped per word."""
    folded = unicodedata.normalize("NFKD", phrase.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    words = re.findall(r"[\w\-]+", folded)
    out = []
    for word in words:
        if len(word) > 3 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        out.append(word)
    return " ".join(out)[:200]
