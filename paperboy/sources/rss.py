"""The daily arXiv listing from rss.arxiv.org, in either format it serves (RSS 2.0 or Atom).

Why this importer: the listing is the only source that states the real announcement day and
whether a paper is new, a cross-list or a replacement.  New papers and cross-lists carry the
listing day as ``announced``; replacements are not first announcements, so they carry it as
``updated`` and leave ``announced`` empty (the store keeps the earliest announcement anyway).
Weekend and holiday listings are empty and yield nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from lxml import etree

from paperboy.config import Settings
from paperboy.sources.base import check_readable, finish
from paperboy.sources.http import BadBody, HttpClient, xml_root
from paperboy.sources.names import split_author_string
from paperboy.sources.normalize import clean_ws, iso_date, parse_arxiv_id
from paperboy.sources.record import Items, PaperRecord, Rejection, SourceError

SOURCE = "rss"
ATOM = "http://www.w3.org/2005/Atom"
NS = {"atom": ATOM, "arxiv": "http://arxiv.org/schemas/atom", "dc": "http://purl.org/dc/elements/1.1/"}
#: Announce types that are a paper's first appearance in a listing.
FIRST_LISTING = frozenset({"new", "cross"})
REPLACEMENTS = frozenset({"replace", "replace-cross"})

_HEADER_RE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*([\w-]+)\s*", re.IGNORECASE)
_ABSTRACT_RE = re.compile(r"^\s*Abstract:\s*", re.IGNORECASE)


class _Item(NamedTuple):
    """What one RSS item or Atom entry says, before interpretation."""

    ident: str | None
    link: str | None
    title: str | None
    description: str | None
    creators: list[str]
    categories: list[str]
    announce_type: str | None
    license: str | None
    day: str | None
    #: ``arxiv:DOI`` (possibly several, space-separated) and ``arxiv:journal_reference``.
    doi: str | None
    journal_ref: str | None


def _root(body: bytes) -> etree._Element:
    """The document's root if it is RSS or Atom; ``BadBody`` otherwise, so a fetch is retried."""
    return xml_root(body, "rss", f"{{{ATOM}}}feed")


def _texts(parent: etree._Element, path: str) -> list[str]:
    return [el.text.strip() for el in parent.findall(path, NS) if el.text and el.text.strip()]


def _arxiv_text(parent: etree._Element, *names: str) -> str | None:
    """The first of arXiv's extension elements present (``arxiv:DOI``; the API spells it ``doi``)."""
    for name in names:
        value = parent.findtext(f"arxiv:{name}", namespaces=NS)
        if value and value.strip():
            return value
    return None


def _rss_item(item: etree._Element) -> _Item:
    return _Item(
        ident=item.findtext("guid"),
        link=item.findtext("link"),
        title=item.findtext("title"),
        description=item.findtext("description"),
        creators=_texts(item, "dc:creator"),
        categories=_texts(item, "category"),
        announce_type=item.findtext("arxiv:announce_type", namespaces=NS),
        license=item.findtext("dc:rights", namespaces=NS),
        day=iso_date(item.findtext("pubDate")),
        doi=_arxiv_text(item, "DOI", "doi"),
        journal_ref=_arxiv_text(item, "journal_reference", "journal_ref"),
    )


def _atom_entry(entry: etree._Element) -> _Item:
    links = [el.get("href") for el in entry.findall("atom:link", NS) if el.get("rel", "alternate") == "alternate"]
    return _Item(
        ident=entry.findtext("atom:id", namespaces=NS),
        link=links[0] if links else None,
        title=entry.findtext("atom:title", namespaces=NS),
        description=entry.findtext("atom:summary", namespaces=NS) or entry.findtext("atom:content", namespaces=NS),
        creators=_texts(entry, "dc:creator") or _texts(entry, "atom:author/atom:name"),
        categories=[c.get("term", "").strip() for c in entry.findall("atom:category", NS) if c.get("term")],
        announce_type=entry.findtext("arxiv:announce_type", namespaces=NS),
        license=entry.findtext("atom:rights", namespaces=NS) or entry.findtext("dc:rights", namespaces=NS),
        day=iso_date(entry.findtext("atom:published", namespaces=NS) or entry.findtext("atom:updated", namespaces=NS)),
        doi=_arxiv_text(entry, "DOI", "doi"),
        journal_ref=_arxiv_text(entry, "journal_reference", "journal_ref"),
    )


def split_authors(creators: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Names and affiliations from ``dc:creator`` values: "A, B, and C", "A and B", one element per
    author, and arXiv's "Name (Affiliation, Other), Name" (each author's own, never shared)."""
    return [pair for value in creators for pair in split_author_string(value, backfill=False)]


def _record(raw: _Item, listing_day: str | None, place: str) -> PaperRecord | Rejection:
    parsed = parse_arxiv_id(raw.ident) or parse_arxiv_id(raw.link)
    if parsed is None:
        return Rejection(place, f"no arXiv id in guid or link ({clean_ws(raw.ident or raw.link) or 'none'})")
    text = raw.description or ""
    header = _HEADER_RE.match(text)
    if header:
        text = text[header.end() :]
    abstract = _ABSTRACT_RE.sub("", text, count=1)
    announce = clean_ws(raw.announce_type or (header.group(1) if header else "")).lower() or None
    day = listing_day or raw.day
    pairs = split_authors(raw.creators)
    affiliations = [affs for _, affs in pairs]
    return finish(
        PaperRecord(
            title=raw.title or "",
            id=parsed[0],
            version=parsed[1],
            abstract=abstract,
            authors=[name for name, _ in pairs],
            affiliations=affiliations if any(affiliations) else [],
            journal_ref=raw.journal_ref,
            doi=raw.doi,
            categories=raw.categories,
            license=raw.license,
            announced=day if announce in FIRST_LISTING else None,
            updated=day if announce in REPLACEMENTS else None,
            source=SOURCE,
            place=place,
        )
    )


def _listing(root: etree._Element, place: str) -> list[PaperRecord | Rejection]:
    """Records of a parsed listing; a "Feed error" listing (unknown category) is a ``SourceError``."""
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise SourceError(f"{place}: RSS document without <channel>")
        title = channel.findtext("title") or ""
        day = iso_date(channel.findtext("pubDate"))
        raws = [_rss_item(item) for item in channel.findall("item")]
    else:
        title = root.findtext("atom:title", namespaces=NS) or ""
        day = iso_date(root.findtext("atom:updated", namespaces=NS))
        raws = [_atom_entry(entry) for entry in root.findall("atom:entry", NS)]
    if title.strip().lower().startswith("feed error"):
        raise SourceError(f"{place}: {clean_ws(title)}")
    return [_record(raw, day, f"{place}#item{n}") for n, raw in enumerate(raws, 1)]


def parse_listing(body: bytes, place: str) -> list[PaperRecord | Rejection]:
    """Records of one listing (RSS 2.0 or Atom); ``place`` prefixes each item's place."""
    try:
        root = _root(body)
    except BadBody as exc:
        raise SourceError(f"{place}: not an RSS or Atom listing ({exc})") from None
    return _listing(root, place)


def read(settings: Settings, categories: Sequence[str]) -> Items:
    """Fetch today's listing for some categories (one request: ``cs.LG+cs.AI``)."""
    cats = [c.strip() for c in categories if c and c.strip()]
    if not cats:
        raise SourceError("arXiv listing: give at least one category")
    url = f"{settings.arxiv_rss_url.rstrip('/')}/{'+'.join(cats)}"
    with HttpClient(settings, service="arxiv") as client:
        records = client.get(url, parse=lambda body: _listing(_root(body), url))
    yield from records


def read_file(path: str | Path) -> Items:
    """Records of a saved listing file."""
    p = check_readable(path)
    try:
        body = p.read_bytes()
    except OSError as exc:
        raise SourceError(f"{p}: cannot read ({exc.strerror or exc})") from None
    yield from parse_listing(body, str(p))
