"""Hugging Face Daily Papers: saved search-result pages, the API's JSON, and the live API.

Why this source: it is the community's daily pick of papers, with upvotes and code links that
arXiv does not have.  Three ways in:

* ``read_page``: a results page saved as text (``../shared/seeds``).  It has only titles and
  abstracts, so its records carry no id and the store matches them to arXiv papers by
  normalized title.  The page's date has no year, so it is not used.
* ``read_json``: a saved answer of ``GET /api/daily_papers`` (items), or of ``/api/papers/search``
  and ``/api/papers/{id}`` (papers in the flat shape), a list or one object.
* ``fetch_daily``: the daily list fetched live (rate-limited, retried, every page), for one day
  or the latest.

A record's ``published`` is the paper's arXiv v1 time (``paper.publishedAt``), its ``announced``
the listing day estimated from it; when it went on Hugging Face's list, who put it there, the
thumbnail and the AI summary are kept in ``hf``.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

import orjson

from paperboy.config import Settings
from paperboy.sources.base import GZIP_MAGIC, FieldError, check_readable, finish, read_lines
from paperboy.sources.http import BadBody, HttpClient
from paperboy.sources.normalize import (
    clean_ws,
    estimate_announce_date,
    iso_date,
    iso_datetime,
    parse_arxiv_id,
    parse_datetime,
)
from paperboy.sources.record import Items, PaperRecord, Rejection, SourceError

SOURCE = "hf"

#: Lines of the page's header, compared case-insensitively after white space is collapsed.
HEADER_LINES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "subscribe",
        "daily papers",
        "byak and the research community",
        "trending papers",
        "search",
    }
)
#: The header ends with the day of the list: "Mar 13", "March 13", "Mar 13, 2024".
_DATE_RE = re.compile(
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?",
    re.IGNORECASE,
)
#: The header is a handful of short lines; a date further down is part of the papers.
MAX_HEADER_PARAGRAPHS = 12
#: Longest paragraph still taken for a title (real titles stay under 200 characters); anything
#: longer can only be (part of) an abstract.
MAX_TITLE = 300
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _Paragraph(NamedTuple):
    """Consecutive non-blank lines of a page, joined by single spaces."""

    line: int
    text: str
    #: Some line of it was not valid UTF-8.
    bad: bool


def _paragraphs(path: str | Path) -> tuple[list[_Paragraph], list[Rejection]]:
    """The page's paragraphs, and a rejection if the file is cut off (gzip)."""
    paragraphs: list[_Paragraph] = []
    problems: list[Rejection] = []
    start, parts, bad = 0, [], False
    for item in read_lines(path):
        if isinstance(item, Rejection):
            problems.append(item)
            break
        lineno, raw = item
        if lineno == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text, bad = raw.decode("utf-8", errors="replace"), True
        text = text.strip()
        if text:
            if not parts:
                start = lineno
            parts.append(text)
        elif parts:
            paragraphs.append(_Paragraph(start, " ".join(parts), bad))
            parts, bad = [], False
    if parts:
        paragraphs.append(_Paragraph(start, " ".join(parts), bad))
    return paragraphs, problems


def _header_end(paragraphs: list[_Paragraph]) -> int:
    """Index of the first paper paragraph.

    The header ends at the date line.  Without one, the known header lines at the top are
    skipped.  A long paragraph before any date means the papers have begun.
    """
    for index, para in enumerate(paragraphs[:MAX_HEADER_PARAGRAPHS]):
        if _DATE_RE.fullmatch(para.text):
            return index + 1
        if len(para.text) > MAX_TITLE:
            break
    index = 0
    while index < len(paragraphs) and clean_ws(paragraphs[index].text).casefold() in HEADER_LINES:
        index += 1
    return index


def _title_like(para: _Paragraph) -> bool:
    """Short and not ending a sentence: titles do not end with a full stop, abstracts do."""
    return len(para.text) <= MAX_TITLE and not para.text.endswith(".")


def _page_record(title: _Paragraph, abstract: _Paragraph, place: str) -> PaperRecord | Rejection:
    if title.bad or abstract.bad:
        return Rejection(place, "not valid UTF-8")
    return finish(PaperRecord(title=title.text, abstract=abstract.text, source=SOURCE, place=place))


def read_page(path: str | Path) -> Items:
    """Records (title and abstract) from a saved Daily Papers page.

    After the header, paragraphs alternate title, abstract.  Stray paragraphs are recognised by
    their shape: a title followed by another title-like paragraph and then an abstract-length
    one, or by nothing at all, has no abstract and is rejected (a page cut off after a title);
    a paragraph too long for a title where a title belongs continues the abstract before it
    (an abstract with a blank line inside).
    """
    name = str(path)
    paragraphs, problems = _paragraphs(path)
    first = next((p.text for p in paragraphs), "")
    if first.startswith(("{", "[")):
        raise SourceError(f"{name}: looks like JSON, not a saved page (use a .json name for the API's JSON)")
    body = paragraphs[_header_end(paragraphs) :]
    last: PaperRecord | None = None
    index = 0
    while index < len(body):
        para = body[index]
        if len(para.text) > MAX_TITLE:  # an abstract where a title belongs
            if para.bad:
                yield Rejection(f"{name}:{para.line}", "not valid UTF-8")
            elif last is not None:
                last.abstract = f"{last.abstract}\n\n{para.text}"
            else:
                yield Rejection(f"{name}:{para.line}", "abstract without a title")
            index += 1
            continue
        following = body[index + 1] if index + 1 < len(body) else None
        after = body[index + 2] if index + 2 < len(body) else None
        if following is None or (_title_like(following) and after is not None and len(after.text) > MAX_TITLE):
            if last is not None:
                yield last
                last = None
            yield Rejection(f"{name}:{para.line}", f"no abstract after the title {para.text[:80]!r}")
            index += 1
            continue
        if last is not None:
            yield last
        result = _page_record(para, following, f"{name}:{para.line}")
        last = result if isinstance(result, PaperRecord) else None
        if last is None:
            yield result
        index += 2
    if last is not None:
        yield last
    yield from problems


# -- the API's JSON ---------------------------------------------------------------------
#: Items per request of the live fetch (Hugging Face accepts 1 to 100).
PAGE_LIMIT = 100
#: Pages one fetch asks for at most (a day has never had 5,000 papers).
MAX_PAGES = 50
_HF = "https://huggingface.co"


def _str(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise FieldError(f"field '{where}{key}' must be a string, not {type(value).__name__}")


def _names(value: Any, where: str) -> list[str]:
    """Author names from ``[{"name": ...}, ...]`` (plain strings accepted too)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(f"field '{where}authors' must be a list")
    names = []
    for author in value:
        if isinstance(author, str):
            names.append(author)
        elif isinstance(author, dict) and isinstance(author.get("name"), str):
            names.append(author["name"])
        elif not (isinstance(author, dict) and author.get("name") is None):
            raise FieldError(f"field '{where}authors' must hold {{name: string}} objects")
    return names


def _web(url: str | None) -> str | None:
    """An http(s) URL, Hugging Face's relative ones (``/avatars/…``) made absolute; anything else dropped."""
    if not url or not url.strip():
        return None
    url = url.strip()
    if url.startswith("/") and not url.startswith("//"):
        return _HF + url
    return url if url.lower().startswith(("https://", "http://")) else None


def _submitter(value: Any, key: str) -> dict[str, str] | None:
    """Who put the paper on Hugging Face's daily list: ``submittedOnDailyBy`` (``user``) or an item's
    ``submittedBy`` (``name``), as ``{"user", "fullname", "avatarUrl"}``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldError(f"field '{key}' must be an object, not {type(value).__name__}")
    user = value.get("user") if isinstance(value.get("user"), str) else value.get("name")
    if not isinstance(user, str) or not user.strip():
        return None
    fullname = value.get("fullname")
    out = {"user": user.strip(), "fullname": fullname.strip() if isinstance(fullname, str) else user.strip()}
    avatar = _web(value.get("avatarUrl")) if isinstance(value.get("avatarUrl"), str) else None
    if avatar:
        out["avatarUrl"] = avatar
    return out


def _moment(data: dict[str, Any], key: str, where: str) -> str | None:
    raw = _str(data, key, where)
    moment = iso_datetime(raw)
    if raw and moment is None:
        raise FieldError(f"field '{where}{key}' is not a date: {raw!r}")
    return moment


def _item_record(item: Any, place: str) -> PaperRecord | Rejection:
    """One entry of ``/api/daily_papers`` (``{"paper": {…}, …}``), or one paper in the flat shape of
    ``/api/papers/{id}`` and ``/api/papers/search`` (the paper's fields at the top)."""
    if not isinstance(item, dict):
        return Rejection(place, f"expected a JSON object, got {type(item).__name__}")
    nested = "paper" in item
    paper = item.get("paper") if nested else item
    if paper is None:  # a bare item: the top-level fields are all there is
        paper = {}
    elif not isinstance(paper, dict):
        return Rejection(place, f"field 'paper' must be an object, not {type(paper).__name__}")
    where = "paper." if nested else ""
    try:
        raw_id = paper.get("id")
        if raw_id is not None and not isinstance(raw_id, str):
            raise FieldError(f"field '{where}id' must be a string, not {type(raw_id).__name__}")
        parsed = parse_arxiv_id(raw_id)
        if raw_id and parsed is None:
            return Rejection(place, f"not an arXiv id: {raw_id!r}")
        published = _moment(paper, "publishedAt", where)  # the arXiv v1 time
        daily_at = _moment(paper, "submittedOnDailyAt", where)
        listed = _moment(item, "publishedAt", "") if nested else None
        upvotes = paper.get("upvotes")
        if upvotes is not None and (isinstance(upvotes, bool) or not isinstance(upvotes, int)):
            raise FieldError(f"field '{where}upvotes' must be an integer")
        code_url = _str(paper, "githubRepo", where)
        hf_meta = {
            "daily_at": daily_at,
            "daily_by": _submitter(paper.get("submittedOnDailyBy"), f"{where}submittedOnDailyBy")
            or (_submitter(item.get("submittedBy"), "submittedBy") if nested else None),
            "thumbnail": _web(_str(item, "thumbnail", "")),
            "ai_summary": (_str(paper, "ai_summary", where) or "").strip() or None,
        }
        submitted = parse_datetime(published)
        record = PaperRecord(
            title=_str(paper, "title", where) or (_str(item, "title", "") if nested else None) or "",
            id=parsed[0] if parsed else None,
            version=parsed[1] if parsed else None,
            abstract=_str(paper, "summary", where) or (_str(item, "summary", "") if nested else None) or "",
            authors=_names(paper.get("authors"), where),
            code_url=_web(code_url),
            project_url=_web(_str(paper, "projectPage", where)),
            published=published,
            # the arXiv listing day, estimated from v1 as for every source that does not state it;
            # without v1, the day of Hugging Face's list
            announced=(estimate_announce_date(submitted).isoformat() if submitted else None)
            or iso_date(daily_at)
            or iso_date(listed),
            upvotes=upvotes,
            hf={k: v for k, v in hf_meta.items() if v} or None,
            source=SOURCE,
            place=place,
        )
    except FieldError as exc:
        return Rejection(place, str(exc))
    return finish(record)


def parse_daily_papers(data: Any, place: str) -> list[PaperRecord | Rejection]:
    """Records from a decoded answer of ``/api/daily_papers``, ``/api/papers/search`` or
    ``/api/papers/{id}``: a list of items or of flat papers, or one saved object of either shape.

    Each bad item is a ``Rejection``; an error object (``{"error": …}``) or a value that is no
    paper at all fails as a whole with a ``SourceError``.
    """
    if isinstance(data, dict) and "error" in data:
        raise SourceError(f"{place}: the API answered with an error: {str(data['error'])[:200]}")
    if isinstance(data, dict) and ("paper" in data or "id" in data or "title" in data):
        return [_item_record(data, place)]
    if not isinstance(data, list):
        raise SourceError(
            f"{place}: expected a JSON list of daily papers or one paper object, got {type(data).__name__}"
        )
    return [_item_record(item, f"{place}[{index}]") for index, item in enumerate(data)]


def read_json(path: str | Path) -> Items:
    """Records from a saved answer of the API (plain or gzip JSON): a list, or one paper."""
    p = check_readable(path)
    try:
        body = p.read_bytes()
        if body[:2] == GZIP_MAGIC:
            body = gzip.decompress(body)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{p}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{p}: not valid JSON ({exc})") from None
    yield from parse_daily_papers(data, str(p))


def _decode(body: bytes) -> Any:
    """The JSON of a response; a cut-off or non-JSON body is worth a retry."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"not JSON: {exc}") from None


def fetch_daily(settings: Settings, date: str | None = None) -> Items:
    """The Daily Papers list of one day (``YYYY-MM-DD``), or the latest one, from the live API.

    Every page of it: ``p`` counts from 0 with ``limit`` items a page, until a page comes back
    empty, shorter than the longest one so far (the server's own page size), or with nothing
    new (a server that ignores ``p``).  A malformed date fails at once (before any run is
    recorded); the requests are made when the items are first iterated, like every other importer.
    """
    day = date.strip() if date is not None else None
    if day is not None and not _DAY_RE.fullmatch(day):
        raise SourceError(f"Hugging Face daily papers: date must be YYYY-MM-DD, not {date!r}")
    return _fetch(settings, day)


def _fetch(settings: Settings, day: str | None) -> Items:
    url = settings.hf_api_url
    previous: Any = None
    longest = 0
    with HttpClient(settings, service="hf", interval=1.0) as client:
        for page in range(MAX_PAGES):
            params: dict[str, Any] = {"date": day} if day else {}
            params |= {"p": page, "limit": PAGE_LIMIT}
            data = client.get(url, params=params, parse=_decode)
            items = parse_daily_papers(data, f"{url}?{urlencode(params)}")
            if not isinstance(data, list):  # one paper object: that is all there is
                yield from items
                return
            if not data or data == previous:  # the end, or the same page again (``p`` ignored)
                return
            yield from items
            if len(data) < longest:  # shorter than the server's page size: the last page
                return
            longest, previous = max(longest, len(data)), data
