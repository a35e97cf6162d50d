"""Author names and DOIs, normalized once for every source.

Why here: one person must get one author key whatever the source says.  arXiv's own strings
carry TeX accents (``P\\'erez``) and affiliations in parentheses (``A. Author (CERN)``), the
Kaggle snapshot puts affiliations after the name parts, and OAI-PMH and the API give them as
elements of their own.  ``finish`` runs every record's names through ``clean_author`` so names
are Unicode and affiliations are stored apart, never inside a name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from pylatexenc.latex2text import LatexNodes2Text

#: Keeps math as written: a name holds none worth converting, and ``$`` must not vanish silently.
_latex = LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=False)
#: A backslash before a letter that is already Unicode (``St\\ütz``) would swallow the rest.
_STRAY_BACKSLASH = re.compile(r"\\(?=[^\x00-\x7f])")
#: ``\\\\`` (a TeX line break) sometimes sticks to a name in arXiv's metadata.
_LINE_BREAK = re.compile(r"\\\\")
_SPACES = re.compile(r"\s+")
_TRAILING_PARENS = re.compile(r"^(?P<name>[^()]*?)\s*\((?P<aff>.*)\)\s*$")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
#: A numbered affiliation key at the end of an author string: "A (1), B (1, 2) ((1) MIT, (2) CERN)".
_KEYED = re.compile(r"\(\s*(\(\s*[\w*]+\s*\).*)\)\s*$", re.DOTALL)
_KEY_ITEM = re.compile(r"\(\s*([\w*]+)\s*\)\s*([^()]*)")


@lru_cache(maxsize=65536)
def tex_to_unicode(text: str) -> str:
    """TeX accents and letters to Unicode (``P\\'erez`` -> Pérez, ``{\\L}ukasz`` -> Łukasz), NFC.

    Text without a backslash or brace is only NFC-normalized; text pylatexenc cannot read is
    kept as it is.
    """
    if "\\" in text or "{" in text:
        source = _STRAY_BACKSLASH.sub("", _LINE_BREAK.sub(" ", text))
        try:
            converted = _latex.latex_to_text(source)
        except Exception:  # pylatexenc on pathological input: the raw name beats losing it
            converted = source
        text = converted if converted.strip() else text
    text = _SPACES.sub(" ", text).strip()
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _split_affiliations(text: str) -> list[str]:
    """The affiliation text inside one pair of parentheses, kept whole.

    Commas separate several affiliations in arXiv's feeds (``(MIT, CERN)``) but also the parts of
    one address (``(Univ. of Bologna, Italy)``), so splitting would guess; whole loses nothing.
    """
    text = _SPACES.sub(" ", text).strip(" ,;")
    return [text] if text else []


def clean_author(name: str) -> tuple[str, list[str]]:
    """A display name in Unicode and the affiliations that were written inside it.

    ``"J. P\\'erez (Univ. of Madrid)"`` -> ``("J. Pérez", ["Univ. of Madrid"])``.
    """
    name = tex_to_unicode(name)
    if not name.endswith(")"):
        return name, []
    match = _TRAILING_PARENS.match(name)
    if match is None or not match.group("name").strip():
        return name, []  # "(something)" alone, or nested parentheses: not an affiliation pattern
    return match.group("name").strip(" ,"), _split_affiliations(match.group("aff"))


def _split_top_level(text: str) -> list[str]:
    """Split on commas and semicolons outside parentheses (an affiliation may hold commas)."""
    parts, current, depth = [], [], 0
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]" and depth:
            depth -= 1
        if char in ",;" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _keyed_affiliations(text: str) -> tuple[str, dict[str, str]]:
    """Take a trailing "((1) MIT, (2) CERN)" key off an author string: (rest, {"1": "MIT", ...})."""
    match = _KEYED.search(text)
    if match is None:
        return text, {}
    keys = {key: value.strip(" ,;") for key, value in _KEY_ITEM.findall(match.group(1))}
    if not keys:
        return text, {}
    return text[: match.start()], keys


def split_author_string(text: str, backfill: bool = True) -> list[tuple[str, list[str]]]:
    """Names and affiliations from an arXiv author string.

    Reads "A, B, and C", "A and B", "A (MIT), B (CERN)" and the numbered form "A (1), B (1 and 2)
    ((1) MIT, (2) CERN)"; a suffix ("John Smith, Jr.") stays with its name.  As in arXiv's own
    parser (the Kaggle snapshot's ``authors_parsed``), an affiliation also applies to the authors
    before it that have none: "A, B and C (Bologna)" puts all three in Bologna.  ``backfill=False``
    for strings written from structured data, where each name carries its own (arXiv's RSS feeds).
    """
    text, keys = _keyed_affiliations(_SPACES.sub(" ", text or "").strip())
    out: list[tuple[str, list[str]]] = []
    waiting = 0  # authors at the end of ``out`` without an affiliation yet
    for part in _split_top_level(text):
        part = part.strip()
        if part.lower().startswith("and "):
            part = part[4:]
        head, paren, tail = part.partition("(")
        pieces = [name.strip() for name in _AND.split(head)]
        if paren:
            pieces[-1] = f"{pieces[-1]} ({tail}"
        for piece in pieces:
            if not piece:
                continue
            if piece.lower() in _SUFFIXES and out:
                name, affs = out[-1]
                out[-1] = (f"{name} {piece}", affs)
                continue
            name, affs = clean_author(piece)
            if not name:
                continue
            if keys and len(affs) == 1:  # "(1 and 2)": references into the key
                refs = [r for r in re.split(r"[\s,]+", affs[0]) if r and r.lower() != "and"]
                if refs and all(r in keys for r in refs):
                    affs = [keys[r] for r in refs]
            if affs and backfill:
                for back in range(len(out) - waiting, len(out)):
                    out[back] = (out[back][0], list(affs))
                waiting = 0
            else:
                waiting += 1
            out.append((name, affs))
    return out


def clean_authors(
    names: Sequence[str], affiliations: Sequence[Sequence[str]] = ()
) -> tuple[list[str], list[list[str]]]:
    """Every name cleaned, with the source's own affiliations and those found in the names united.

    Returns ``(names, affiliations)`` of equal length, or an empty affiliations list when no
    author has any (the common case, stored as ``[]``).
    """
    out_names: list[str] = []
    out_affs: list[list[str]] = []
    for index, raw in enumerate(names):
        if not raw:
            continue
        name, found = clean_author(raw)
        if not name:
            continue
        given = [tex_to_unicode(a) for a in (affiliations[index] if index < len(affiliations) else ()) if a]
        merged = list(dict.fromkeys(a for a in (*given, *found) if a))
        out_names.append(name)
        out_affs.append(merged)
    if not any(out_affs):
        return out_names, []
    return out_names, out_affs


# -- DOIs -------------------------------------------------------------------------------------
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_DOI_SPLIT = re.compile(r"[\s,;]+")


def split_dois(text: str | None) -> list[str]:
    """Every DOI of a ``doi`` field, case kept (DOIs match case-insensitively, but are shown as given).

    arXiv's metadata separates several DOIs with spaces (``10.1103/PhysRevC.76.024606
    10.1103/PhysRevC.76.039902``); URL and ``doi:`` prefixes are stripped, non-DOIs dropped.
    """
    if not text:
        return []
    out: list[str] = []
    seen: set[str] = set()
    for token in _DOI_SPLIT.split(text.strip()):
        doi = _DOI_PREFIX.sub("", token).rstrip(".")
        if doi.startswith("10.") and "/" in doi and doi.lower() not in seen:
            seen.add(doi.lower())
            out.append(doi)
    return out


def doi_key(doi: str | None) -> str | None:
    """The form DOIs are matched in: lower case (the DOI system ignores case)."""
    return doi.lower() if doi else None
