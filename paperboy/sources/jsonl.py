"""JSON-lines importer: the sample corpus's shape, a generic shape, and paperboy's own export.

Accepted keys (one object per line, gzip or plain, UTF-8):

* corpus shape (``../shared/data``): ``id, title, abstract, authors[], categories[], comment,
  announce_date``;
* generic shape, for any corpus: ``id, title, abstract, authors (list or "A, B"), categories
  (list or "cs.LG cs.AI"), date, url``; an arXiv URL or ``arXiv:`` id becomes the paper id;
* paperboy's export adds ``version, versions, affiliations, journal_ref, doi, dois, license,
  abs_url, pdf_url, code_url, project_url, published, updated, upvotes, hf, sources``, so an
  export re-imports without loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from paperboy.sources.base import FieldError, finish, opt_str, read_lines, str_list
from paperboy.sources.normalize import iso_date, parse_arxiv_id
from paperboy.sources.record import Items, PaperRecord, Rejection, SourceError

SOURCE = "jsonl"


def _categories(data: dict[str, Any]) -> list[str]:
    value = data.get("categories")
    if isinstance(value, str):  # generic shape allows "cs.LG cs.AI" or "cs.LG, cs.AI"
        return value.replace(",", " ").split()
    return str_list(data, "categories")


def _versions(data: dict[str, Any]) -> list[dict[str, Any]]:
    value = data.get("versions")
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError("field 'versions' must be a list")
    out = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            out.append({"version": item, "created": None})
        elif isinstance(item, dict) and isinstance(item.get("version"), int):
            created = item.get("created")
            out.append({"version": item["version"], "created": created if isinstance(created, str) else None})
        else:
            raise FieldError("field 'versions' must hold {version, created} objects")
    return out


def _affiliations(data: dict[str, Any]) -> list[list[str]]:
    value = data.get("affiliations")
    if value is None:
        return []
    if type(value) is not list or not all(type(v) is list and all(type(a) is str for a in v) for v in value):
        raise FieldError("field 'affiliations' must be a list of lists of strings (one per author)")
    return value


def _hf(data: dict[str, Any]) -> dict[str, Any] | None:
    value = data.get("hf")
    if value is None or type(value) is dict:
        return value or None
    raise FieldError("field 'hf' must be an object")


def _int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"field {key!r} must be an integer")
    return value


def parse_object(data: Any, place: str) -> PaperRecord | Rejection:
    """Turn one decoded JSON value into a record, or say why it is not one."""
    if not isinstance(data, dict):
        return Rejection(place, f"expected a JSON object, got {type(data).__name__}")
    try:
        title = data.get("title")
        if title is None or (isinstance(title, str) and not title.strip()):
            return Rejection(place, "missing title")
        if not isinstance(title, str):
            raise FieldError(f"field 'title' must be a string, not {type(title).__name__}")
        raw_id = data.get("id")
        if raw_id is not None and not isinstance(raw_id, (str, int)):
            raise FieldError("field 'id' must be a string")
        ident = str(raw_id) if raw_id is not None else None
        url = opt_str(data, "url")
        abs_url = opt_str(data, "abs_url")
        if url:
            if (ident is None or not parse_arxiv_id(ident)) and parse_arxiv_id(url):
                ident = url if ident is None else ident
            abs_url = abs_url or url
        date = opt_str(data, "date")
        announced = opt_str(data, "announce_date") or opt_str(data, "announced")
        published = opt_str(data, "published") or date
        record = PaperRecord(
            title=title,
            id=ident,
            version=_int(data, "version"),
            versions=_versions(data),
            abstract=opt_str(data, "abstract") or opt_str(data, "summary") or "",
            authors=str_list(data, "authors"),
            affiliations=_affiliations(data),
            categories=_categories(data),
            comment=opt_str(data, "comment"),
            journal_ref=opt_str(data, "journal_ref"),
            doi=opt_str(data, "doi"),
            dois=str_list(data, "dois"),
            license=opt_str(data, "license"),
            abs_url=abs_url,
            pdf_url=opt_str(data, "pdf_url"),
            code_url=opt_str(data, "code_url"),
            project_url=opt_str(data, "project_url"),
            published=published,
            updated=opt_str(data, "updated"),
            announced=iso_date(announced) if announced else (iso_date(date) if date else None),
            upvotes=_int(data, "upvotes"),
            hf=_hf(data),
            source=SOURCE,
            sources=str_list(data, "sources"),
            place=place,
        )
    except FieldError as exc:
        return Rejection(place, str(exc))
    if announced and record.announced is None:
        return Rejection(place, f"field 'announce_date' is not a date: {announced!r}")
    return finish(record)


def read(path: str | Path) -> Items:
    """Stream records from a JSON-lines file (plain or gzip)."""
    name = str(path)
    first = True
    for item in read_lines(path):
        if isinstance(item, Rejection):
            yield item
            continue
        lineno, line = item
        if not line.strip():
            continue
        if first:
            first = False
            if not line.lstrip(b"\xef\xbb\xbf \t").startswith((b"{", b"[")):
                raise SourceError(f"{name}: not a JSON-lines file (line {lineno} does not start with '{{')")
        place = f"{name}:{lineno}"
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            reason = "not valid UTF-8" if "utf-8" in str(exc).lower() else f"bad JSON ({exc})"
            yield Rejection(place, reason)
            continue
        yield parse_object(data, place)
