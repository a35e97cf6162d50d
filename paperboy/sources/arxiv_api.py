"""The arXiv API (``export.arxiv.org/api/query``): a search query or a list of ids, paged.

Why this importer besides OAI-PMH: the API answers ad-hoc questions (one paper, a search) and
is the only arXiv source that states both the version number and the exact v1 and vN times.
Every request goes through the shared arXiv rate limiter and retries (``HttpClient``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from lxml import etree

from paperboy.config import Settings
from paperboy.sources.base import finish
from paperboy.sources.http import HttpClient, xml_root
from paperboy.sources.normalize import clean_ws, estimate_announce_date, iso_datetime, parse_arxiv_id, parse_datetime
from paperboy.sources.record import Items, PaperRecord, Rejection, SourceError

SOURCE = "arxiv"
ATOM = "http://www.w3.org/2005/Atom"
NS = {"atom": ATOM, "opensearch": "http://a9.com/-/spec/opensearch/1.1/", "arxiv": "http://arxiv.org/schemas/atom"}
#: Ids per request in ``fetch_ids``: keeps the URL short and each answer small.
ID_CHUNK = 100
#: The API refuses larger pages.
MAX_PAGE = 2000


def parse_feed(body: bytes) -> etree._Element:
    """The Atom feed's root; ``BadBody`` for anything else (a truncated body, "Rate exceeded."), so it is retried."""
    return xml_root(body, f"{{{ATOM}}}feed")


def _raise_api_error(url: str, entries: list[etree._Element]) -> None:
    """The API reports a bad query as a lone entry titled "Error" whose id is under /api/errors."""
    for entry in entries:
        ident = entry.findtext("atom:id", namespaces=NS) or ""
        if "/api/errors" in ident:
            message = clean_ws(entry.findtext("atom:summary", namespaces=NS)) or ident.partition("#")[2] or "error"
            raise SourceError(f"{url}: arXiv API error: {message}")


def parse_entry(entry: etree._Element, place: str) -> PaperRecord | Rejection:
    """One Atom ``<entry>`` as a record, or a ``Rejection`` saying what is wrong with it."""
    raw_id = (entry.findtext("atom:id", namespaces=NS) or "").strip()
    if not raw_id:
        return Rejection(place, "missing id")
    parsed = parse_arxiv_id(raw_id)
    if parsed is None:
        return Rejection(place, f"not an arXiv id: {raw_id!r}")
    arxiv_id, version = parsed
    published_raw = entry.findtext("atom:published", namespaces=NS)
    published = iso_datetime(published_raw)
    updated = iso_datetime(entry.findtext("atom:updated", namespaces=NS))
    if published_raw and published is None:
        return Rejection(place, f"unreadable published time: {published_raw.strip()!r}")
    versions: list[dict[str, Any]] = []
    if published:
        versions.append({"version": 1, "created": published})
    if version is not None and version > 1:
        versions.append({"version": version, "created": updated})
    submitted = parse_datetime(published)
    primary = entry.find("arxiv:primary_category", NS)
    categories = [primary.get("term", "")] if primary is not None else []
    categories += [cat.get("term", "") for cat in entry.findall("atom:category", NS)]
    pdf_url = None
    for link in entry.findall("atom:link", NS):
        if link.get("title") == "pdf" or link.get("type") == "application/pdf":
            pdf_url = link.get("href") or None
            break
    authors = entry.findall("atom:author", NS)
    affiliations = [
        [a.text for a in author.findall("arxiv:affiliation", NS) if a.text and a.text.strip()] for author in authors
    ]
    record = PaperRecord(
        title=entry.findtext("atom:title", namespaces=NS) or "",
        id=arxiv_id,
        version=version,
        versions=versions,
        abstract=entry.findtext("atom:summary", namespaces=NS) or "",
        authors=[author.findtext("atom:name", "", NS) for author in authors],
        affiliations=affiliations if any(affiliations) else [],
        categories=categories,
        comment=entry.findtext("arxiv:comment", namespaces=NS),
        journal_ref=entry.findtext("arxiv:journal_ref", namespaces=NS),
        doi=entry.findtext("arxiv:doi", namespaces=NS),
        pdf_url=pdf_url,
        published=published,
        updated=updated,
        announced=estimate_announce_date(submitted).isoformat() if submitted else None,
        source=SOURCE,
        place=place,
    )
    return finish(record)


def _search(
    client: HttpClient,
    url: str,
    base_params: dict[str, str],
    limit: int | None,
    page_size: int,
    numbers: Iterator[int],
) -> Iterator[PaperRecord | Rejection]:
    """Page through one query with start/max_results until the total, the limit or an empty page."""
    size = max(1, min(page_size, MAX_PAGE))
    start = 0
    while limit is None or start < limit:
        want = size if limit is None else min(size, limit - start)
        root = client.get(url, params={**base_params, "start": start, "max_results": want}, parse=parse_feed)
        entries = root.findall("atom:entry", NS)
        _raise_api_error(url, entries)
        for entry in entries[:want]:
            yield parse_entry(entry, f"{url}#entry{next(numbers)}")
        start += min(len(entries), want)
        total = (root.findtext("opensearch:totalResults", namespaces=NS) or "").strip()
        # arXiv sometimes answers a short page before the end, so only an empty page or the
        # stated total ends the query.
        if not entries or (total.isdigit() and start >= int(total)):
            return


def _chunks(ids: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for first in range(0, len(ids), size):
        yield ids[first : first + size]


def read(
    settings: Settings,
    *,
    query: str | None = None,
    id_list: Sequence[str] | None = None,
    max_results: int | None = None,
    page_size: int = 200,
) -> Items:
    """Records for a ``search_query``, an ``id_list`` or both (the ids filtered by the query).

    Long id lists are sent ``ID_CHUNK`` at a time; ``max_results`` caps the whole run.
    Entries are numbered across pages, so a rejection's place (``url#entryN``) is findable.
    """
    ids = list(dict.fromkeys(i.strip() for i in id_list or () if i.strip()))
    if not (query and query.strip()) and not ids:
        raise SourceError("arXiv API: give a search query or at least one id")
    url = settings.arxiv_api_url
    numbers = itertools.count(1)
    base: dict[str, str] = {"search_query": query.strip()} if query and query.strip() else {}
    with HttpClient(settings, service="arxiv") as client:
        if not ids:
            yield from _search(client, url, base, max_results, page_size, numbers)
            return
        done = 0
        for chunk in _chunks(ids, ID_CHUNK):
            limit = len(chunk) if max_results is None else min(len(chunk), max_results - done)
            if limit <= 0:
                return
            for item in _search(client, url, {**base, "id_list": ",".join(chunk)}, limit, page_size, numbers):
                done += 1
                yield item


def fetch_ids(settings: Settings, ids: Iterable[str]) -> Items:
    """Records for known arXiv ids (versioned or not), ``ID_CHUNK`` per request."""
    id_list = list(ids)
    if not id_list:
        return
    yield from read(settings, id_list=id_list, page_size=ID_CHUNK)
