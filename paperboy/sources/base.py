"""Helpers every importer uses: opening files safely, reading lines, checking field types.

Why here: the rules for bad input (report the place and the reason, skip, go on) must be the
same in every importer, so they are written once.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any

from paperboy.sources.names import clean_authors, split_dois
from paperboy.sources.normalize import (
    arxiv_links,
    clean_optional,
    clean_ws,
    find_code_url,
    find_project_url,
    http_url,
    number_problem,
    parse_arxiv_id,
)
from paperboy.sources.record import PaperRecord, Rejection, SourceError

GZIP_MAGIC = b"\x1f\x8b"


def check_readable(path: str | Path) -> Path:
    """The path as a ``Path`` if it is a readable file; otherwise a one-line ``SourceError``."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file")
    if p.is_dir():
        raise SourceError(f"{p}: is a directory, expected a file")
    if not os.access(p, os.R_OK):
        raise SourceError(f"{p}: permission denied")
    return p


def read_lines(path: str | Path) -> Iterator[tuple[int, bytes] | Rejection]:
    """Yield ``(line_number, raw_line)`` from a plain or gzip file, never loading it whole.

    A truncated or corrupt gzip stream ends the file with one ``Rejection`` naming the last good
    line; everything before it is still yielded.
    """
    p = check_readable(path)
    try:
        with p.open("rb") as probe:
            compressed = probe.read(2) == GZIP_MAGIC
    except OSError as exc:
        raise SourceError(f"{p}: cannot read ({exc.strerror or exc})") from None
    lineno = 0
    try:
        with gzip.open(p, "rb") if compressed else p.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):  # noqa: B007 - lineno used after the loop
                yield lineno, line
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        reason = "truncated gzip stream" if isinstance(exc, EOFError) else f"corrupt gzip stream ({exc})"
        yield Rejection(f"{p}:{lineno + 1}", f"{reason} after line {lineno}; the rest of the file is unreadable")
    except OSError as exc:
        raise SourceError(f"{p}: cannot read ({exc.strerror or exc})") from None


class FieldError(ValueError):
    """A record's field has the wrong type; the message names the field."""


def opt_str(data: dict[str, Any], key: str) -> str | None:
    """A string field that may be missing or null."""
    value = data.get(key)
    if value is None or type(value) is str:
        return value
    raise FieldError(f"field {key!r} must be a string, not {type(value).__name__}")


def str_list(data: dict[str, Any], key: str) -> list[str]:
    """A list of strings (missing or null means empty); a single string is split on commas."""
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if type(value) is not list or not all(type(v) is str for v in value):
        raise FieldError(f"field {key!r} must be a list of strings")
    return value


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False


_TEXTS = tuple(f.name for f in fields(PaperRecord) if f.type in ("str", "str | None"))
_TEXT_LISTS = tuple(f.name for f in fields(PaperRecord) if f.type == "list[str]")
_OTHERS = tuple(f.name for f in fields(PaperRecord) if f.name not in _TEXTS + _TEXT_LISTS)


_texts = attrgetter(*_TEXTS)
_text_lists = attrgetter(*_TEXT_LISTS)


def nul_field(record: PaperRecord) -> str | None:
    """The first field of ``record`` holding a NUL character, or None.

    Every imported record passes here: the common case is one scan of the joined texts.
    """
    joined = "".join(filter(None, _texts(record))) + "".join("".join(v) for v in _text_lists(record))
    if "\x00" in joined:
        return next(name for name in _TEXTS + _TEXT_LISTS if _holds_nul(getattr(record, name)))
    for name in _OTHERS:
        value = getattr(record, name)
        if value and _holds_nul(value):
            return name
    return None


def finish(record: PaperRecord) -> PaperRecord | Rejection:
    """Validate and complete a record the same way for every source.

    Cleans white space, requires a title, rejects numbers out of range (versions, negative or
    huge upvotes), splits a versioned arXiv id, drops links that are not http(s), fills arXiv
    links, finds a code repository in the comment or abstract and a project page in the comment.
    Author names are normalized once, here: TeX accents to Unicode, affiliations in parentheses
    moved to ``affiliations`` (``names.clean_authors``); a ``doi`` field holding several DOIs is split.
    """
    record.title = clean_ws(record.title)
    if not record.title:
        return Rejection(record.place, "missing title")
    if record.id is not None:
        record.id = record.id.strip() or None
    parsed = parse_arxiv_id(record.id) if record.id else None
    if parsed:
        record.id, version = parsed
        if version is not None and record.version is None:
            record.version = version
    problem = number_problem("version", record.version, 1) or number_problem("upvotes", record.upvotes, 0)
    for listed in record.versions:
        problem = problem or number_problem("versions", listed.get("version"), 1)
    if problem:  # a version of 2^63 or -5 upvotes: this record is rejected, the rest imported
        return Rejection(record.place, problem)
    nul = nul_field(record)
    if nul:  # PostgreSQL cannot store it, and no real record holds one: refused on every backend
        return Rejection(record.place, f"{nul} holds a NUL character (U+0000)")
    if record.version is None and record.versions:
        record.version = max(v["version"] for v in record.versions)
    record.abstract = (record.abstract or "").strip()
    names = list(map(clean_ws, record.authors))
    joined = "".join(names)  # one scan for what only TeX or an affiliation holds
    if record.affiliations or "\\" in joined or "{" in joined or ")" in joined:
        record.authors, record.affiliations = clean_authors(names, record.affiliations)
    else:  # the common case, kept cheap: the Kaggle snapshot has 2.7 M papers
        record.authors, record.affiliations = [name for name in names if name], []
    if record.categories:
        record.categories = list(dict.fromkeys(filter(None, map(str.strip, record.categories))))
    record.comment = clean_optional(record.comment)
    record.journal_ref = clean_optional(record.journal_ref)
    record.license = clean_optional(record.license)
    dois = split_dois(record.doi) if record.doi else []
    if record.dois:
        dois = list(dict.fromkeys([*dois, *(d for raw in record.dois for d in split_dois(raw))]))
    record.doi, record.dois = (dois[0] if dois else None), dois
    # Links are kept only when they are http(s): anything else (javascript:, data:) is dropped.
    record.abs_url, record.pdf_url, record.code_url = map(http_url, (record.abs_url, record.pdf_url, record.code_url))
    if parsed:
        abs_url, pdf_url = arxiv_links(record.id)
        record.abs_url = record.abs_url or abs_url
        record.pdf_url = record.pdf_url or pdf_url
    if not record.code_url:
        record.code_url = find_code_url(record.comment, record.abstract)
    record.project_url = http_url(clean_optional(record.project_url)) or find_project_url(record.comment)
    return record
