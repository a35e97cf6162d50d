"""The Kaggle arXiv metadata snapshot (``arxiv-metadata-oai-snapshot.json``), streamed.

Why a separate importer: the snapshot is arXiv's own metadata for every paper (~2.5 M lines,
~4 GB), with version history and parsed author names that no listing has.  It is read line by
line (plain or gzip) so memory stays flat, and the per-line work is kept small: the one date
format the snapshot uses is parsed by hand, since ``email.utils`` would dominate the run time.

One JSON object a line::

    {"id": "0704.0001", "submitter": "...", "authors": "C. Bal\\'azs, E. L. Berger and ...",
     "title": "...", "comments": "...", "journal-ref": null, "doi": "...", "report-no": null,
     "categories": "hep-ph math.CO", "license": null, "abstract": "...",
     "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}, ...],
     "update_date": "2008-11-13", "authors_parsed": [["Balázs", "C.", ""], ...]}
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from paperboy.sources.base import FieldError, finish, opt_str, read_lines
from paperboy.sources.names import split_author_string
from paperboy.sources.normalize import estimate_announce_date, parse_arxiv_id, parse_datetime
from paperboy.sources.record import Items, PaperRecord, Rejection, SourceError

SOURCE = "kaggle"

_MONTHS = {name: number for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_created(text: str) -> datetime | None:
    """UTC time of a ``versions[].created`` value; ``None`` when unreadable.

    The snapshot always writes ``"Mon, 2 Apr 2007 19:18:42 GMT"``: that exact shape is split by
    hand (about 10x faster than RFC 2822 parsing); anything else goes to the general parser.
    """
    parts = text.split(" ")
    if len(parts) == 6 and parts[5] == "GMT":
        month = _MONTHS.get(parts[2])
        clock = parts[4]
        if month and len(clock) == 8 and clock[2] == ":" and clock[5] == ":":
            try:
                return datetime(
                    int(parts[3]), month, int(parts[1]), int(clock[:2]), int(clock[3:5]), int(clock[6:]), tzinfo=UTC
                )
            except ValueError:
                pass
    parsed = parse_datetime(text)
    return parsed.astimezone(UTC) if parsed else None


def _iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (an f-string: ``strftime`` is several times slower)."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


@lru_cache(maxsize=65536)
def _announced(year: int, month: int, day: int, hour: int) -> str:
    """Estimated listing day; US Eastern offsets are whole hours, so the UTC hour decides it exactly."""
    return estimate_announce_date(datetime(year, month, day, hour, tzinfo=UTC)).isoformat()


def _versions(data: dict[str, Any]) -> list[tuple[int, datetime | None, str | None]]:
    """``[(number, created, created as ISO)]`` sorted by number; ``FieldError`` for a malformed list or date."""
    value = data.get("versions")
    if value is None:
        return []
    if type(value) is not list:
        raise FieldError("field 'versions' must be a list")
    out = []
    for item in value:
        if type(item) is not dict:
            raise FieldError("field 'versions' must hold {version, created} objects")
        label = item.get("version")
        if type(label) is not str or label[:1] not in ("v", "V") or not label[1:].isdigit():
            raise FieldError(f"field 'versions' has a bad version label: {label!r}")
        created = item.get("created")
        if created is None:
            out.append((int(label[1:]), None, None))
            continue
        if type(created) is not str:
            raise FieldError("field 'versions[].created' must be a string")
        moment = parse_created(created)
        if moment is None:
            raise FieldError(f"unreadable date in 'versions': {created!r}")
        out.append((int(label[1:]), moment, _iso(moment)))
    if len(out) > 1:
        out.sort(key=lambda pair: pair[0])
    return out


def _authors(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Names as "First Last Suffix" and their affiliations, from ``authors_parsed``, else split from ``authors``.

    An ``authors_parsed`` entry is ``[last, first, suffix, affiliation, ...]``: whatever follows the
    third element is an affiliation (``["Fioravanti", "D.", "", "Bologna Univ. and INFN"]``), kept
    apart from the name.
    """
    parsed = data.get("authors_parsed")
    if parsed:
        bad = "field 'authors_parsed' must be a list of [last, first, suffix, affiliation...] lists"
        if type(parsed) is not list:
            raise FieldError(bad)
        names = []
        affiliations: list[list[str]] | None = None  # made at the first author who has one: most have none
        for entry in parsed:
            if type(entry) is not list:
                raise FieldError(bad)
            try:
                if len(entry) == 3:  # the usual shape; join() also checks that the parts are strings
                    names.append(" ".join((entry[1], entry[0], entry[2])))
                    if affiliations is not None:
                        affiliations.append([])
                    continue
                names.append(" ".join((*entry[1:2], *entry[:1], *entry[2:3])))  # [last, first] or [name]
                extra = [" ".join(a.split()) for a in entry[3:]]  # split() checks the types too
            except (TypeError, AttributeError):
                raise FieldError(bad) from None
            extra = [a for a in extra if a]
            if extra and affiliations is None:
                affiliations = [[] for _ in range(len(names) - 1)]
            if affiliations is not None:
                affiliations.append(extra)
        # white space is collapsed, empty names dropped and TeX converted by ``finish``
        return names, affiliations or []
    text = opt_str(data, "authors")
    if not text:
        return [], []
    pairs = split_author_string(text)
    affiliations = [affs for _, affs in pairs]
    return [name for name, _ in pairs], affiliations if any(affiliations) else []


def parse_object(data: Any, place: str) -> PaperRecord | Rejection:
    """Turn one decoded snapshot line into a record, or say why it is not one."""
    if type(data) is not dict:
        return Rejection(place, f"expected a JSON object, got {type(data).__name__}")
    raw_id = data.get("id")
    if raw_id is None or raw_id == "":
        return Rejection(place, "missing id")
    if type(raw_id) is not str:
        return Rejection(place, f"field 'id' must be a string, not {type(raw_id).__name__}")
    parsed_id = parse_arxiv_id(raw_id)
    if parsed_id is None:
        return Rejection(place, f"not an arXiv id: {raw_id!r}")
    title = data.get("title")
    if title is not None and type(title) is not str:
        return Rejection(place, f"field 'title' must be a string, not {type(title).__name__}")
    try:
        versions = _versions(data)
        categories = opt_str(data, "categories")
        update_date = opt_str(data, "update_date")
        if update_date is not None and not _DAY_RE.fullmatch(update_date):
            raise FieldError(f"field 'update_date' is not a YYYY-MM-DD day: {update_date!r}")
        authors, affiliations = _authors(data)
        first = versions[0][1] if versions else None
        updated = (versions[-1][2] if versions else None) or update_date
        record = PaperRecord(
            title=title or "",
            id=parsed_id[0],
            version=versions[-1][0] if versions else parsed_id[1],
            versions=[{"version": n, "created": iso} for n, _, iso in versions],
            abstract=opt_str(data, "abstract") or "",
            authors=authors,
            affiliations=affiliations,
            categories=categories.split() if categories else [],
            comment=opt_str(data, "comments"),
            journal_ref=opt_str(data, "journal-ref"),
            doi=opt_str(data, "doi"),
            license=opt_str(data, "license"),
            published=versions[0][2] if versions else None,
            updated=updated,
            announced=_announced(first.year, first.month, first.day, first.hour) if first else None,
            source=SOURCE,
            place=place,
        )
    except FieldError as exc:
        return Rejection(place, str(exc))
    return finish(record)


def read(path: str | Path) -> Items:
    """Stream records from the snapshot (plain or gzip), one line at a time."""
    name = str(path)
    first = True
    loads = orjson.loads
    for item in read_lines(path):
        if type(item) is Rejection:
            yield item
            continue
        lineno, line = item  # type: ignore[misc]
        if first:
            if not line.strip():
                continue
            first = False
            line = line.removeprefix(b"\xef\xbb\xbf")
            if not line.lstrip(b" \t").startswith(b"{"):
                raise SourceError(f"{name}: not a Kaggle snapshot (line {lineno} is not a JSON object)")
        place = f"{name}:{lineno}"
        try:
            data = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            reason = "not valid UTF-8" if "utf-8" in str(exc).lower() else f"bad JSON ({exc})"
            yield Rejection(place, reason)
            continue
        yield parse_object(data, place)
