"""arXiv OAI-PMH harvester (``ListRecords``): incremental and crash-safe.

Two metadata formats: ``arXivRaw`` (the default: every version with its date, so a revised
paper arrives with its version number, and every DOI) and ``arXiv`` (structured author names
with affiliations, but only the first and latest days and no version numbers).

Why OAI-PMH: it is arXiv's way to keep a mirror current.  A harvest asks for every record
changed since a day (``from``) and pages with resumption tokens.  After each page this importer
yields a ``Checkpoint`` holding the next token; the store commits it with the page's records, so
a crash resumes at the first unsaved page.  The last checkpoint drops the token and sets
``from`` to the day the harvest started, which makes the next run incremental.

State (``Checkpoint.state``)::

    {"token": str | None, "from": "YYYY-MM-DD" | None, "until": "YYYY-MM-DD" | None,
     "set": str | None, "started": responseDate of the harvest's first page, "count": records seen,
     "prefix": the metadata format of the list}
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from paperboy.config import Settings
from paperboy.sources.base import finish
from paperboy.sources.http import BadBody, HttpClient, xml_root
from paperboy.sources.names import split_author_string
from paperboy.sources.normalize import (
    clean_ws,
    estimate_announce_date,
    iso_date,
    iso_datetime,
    parse_arxiv_id,
    parse_datetime,
)
from paperboy.sources.record import Checkpoint, Items, PaperRecord, Rejection, SourceError

SOURCE = "oai"
OAI = "http://www.openarchives.org/OAI/2.0/"
ARXIV = "http://arxiv.org/OAI/arXiv/"
ARXIV_RAW = "http://arxiv.org/OAI/arXivRaw/"
NS = {"oai": OAI, "arXiv": ARXIV, "raw": ARXIV_RAW}
#: The metadata formats this harvester reads; the first is the default.
METADATA_PREFIXES = ("arXivRaw", "arXiv")
METADATA_PREFIX = METADATA_PREFIXES[0]
#: How often an expired resumption token may restart the list before the harvest gives up.
MAX_RESTARTS = 3

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ET = ZoneInfo("America/New_York")


class HarvestWarning(UserWarning):
    """Something a harvest recovered from but the user should know (an expired token)."""


def state_key(settings: Settings, set_spec: str | None) -> str:
    """Key of a harvest's saved state: one per endpoint and set."""
    return f"oai:{settings.arxiv_oai_url}:{set_spec or '*'}"


def parse_page(body: bytes) -> etree._Element:
    """A ListRecords answer's root; ``BadBody`` (retried) for a truncated or foreign body."""
    root = xml_root(body, f"{{{OAI}}}OAI-PMH")
    if root.find("oai:error", NS) is None and root.find("oai:ListRecords", NS) is None:
        raise BadBody("OAI-PMH answer has neither <ListRecords> nor <error>")
    return root


def _text(parent: etree._Element, path: str) -> str | None:
    value = parent.findtext(path, namespaces=NS)
    return value if value and value.strip() else None


def _author(element: etree._Element) -> str:
    """``<keyname>``, ``<forenames>``, ``<suffix>`` as "Forenames Keyname Suffix"."""
    parts = (_text(element, f"arXiv:{name}") for name in ("forenames", "keyname", "suffix"))
    return clean_ws(" ".join(part for part in parts if part))


def _affiliations(element: etree._Element) -> list[str]:
    return [clean_ws(a.text) for a in element.findall("arXiv:affiliation", NS) if a.text and a.text.strip()]


def _announced(created: str) -> str:
    """Estimated listing day of a submission known only by its day (taken as before the cut-off)."""
    day = date.fromisoformat(created)
    return estimate_announce_date(datetime(day.year, day.month, day.day, 12, tzinfo=_ET)).isoformat()


def parse_record(record: etree._Element, place: str) -> PaperRecord | Rejection | None:
    """One ``<record>`` as a paper, a ``Rejection``, or ``None`` for a deleted record.

    The arXiv format gives the v1 day (``created``) and the latest version's day (``updated``)
    but no version numbers, so ``version`` is 1 only when there is no ``updated`` and unknown
    (``None``) otherwise.
    """
    header = record.find("oai:header", NS)
    if header is None:
        return Rejection(place, "record without <header>")
    if header.get("status") == "deleted":
        return None
    identifier = _text(header, "oai:identifier") or "?"
    raw = record.find("oai:metadata/raw:arXivRaw", NS)
    if raw is not None:
        return _raw_record(raw, identifier, place)
    meta = record.find("oai:metadata/arXiv:arXiv", NS)
    if meta is None:
        return Rejection(place, f"{identifier}: no arXiv or arXivRaw metadata")
    raw_id = _text(meta, "arXiv:id")
    if raw_id is None:
        return Rejection(place, f"{identifier}: missing <id>")
    parsed = parse_arxiv_id(raw_id)
    if parsed is None:
        return Rejection(place, f"not an arXiv id: {raw_id.strip()!r}")
    authors = meta.findall("arXiv:authors/arXiv:author", NS)
    created_raw, updated_raw = _text(meta, "arXiv:created"), _text(meta, "arXiv:updated")
    created, updated = iso_date(created_raw), iso_date(updated_raw)
    if (created_raw and created is None) or (updated_raw and updated is None):
        return Rejection(place, f"{raw_id.strip()}: unreadable date {created_raw or updated_raw!r}")
    result = finish(
        PaperRecord(
            title=_text(meta, "arXiv:title") or "",
            id=parsed[0],
            versions=[{"version": 1, "created": created}] if created else [],
            abstract=_text(meta, "arXiv:abstract") or "",
            authors=[_author(a) for a in authors],
            affiliations=[_affiliations(a) for a in authors] if any(_affiliations(a) for a in authors) else [],
            categories=(_text(meta, "arXiv:categories") or "").split(),
            comment=_text(meta, "arXiv:comments"),
            journal_ref=_text(meta, "arXiv:journal-ref"),
            doi=_text(meta, "arXiv:doi"),
            license=_text(meta, "arXiv:license"),
            published=created,
            updated=updated,
            announced=_announced(created) if created else None,
            source=SOURCE,
            place=place,
        )
    )
    if isinstance(result, PaperRecord) and updated:
        result.version = None  # revised, but to which version the arXiv format does not say
    return result


def _raw_text(parent: etree._Element, name: str) -> str | None:
    value = parent.findtext(f"raw:{name}", namespaces=NS)
    return value if value and value.strip() else None


def _raw_record(meta: etree._Element, identifier: str, place: str) -> PaperRecord | Rejection:
    """An ``arXivRaw`` record: every ``<version version="vN"><date>`` (RFC 2822), the authors as
    one string ("A, B and C (Univ)", split like the Kaggle snapshot's), a ``doi`` that may hold several."""
    raw_id = _raw_text(meta, "id")
    if raw_id is None:
        return Rejection(place, f"{identifier}: missing <id>")
    parsed = parse_arxiv_id(raw_id)
    if parsed is None:
        return Rejection(place, f"not an arXiv id: {raw_id.strip()!r}")
    versions: list[dict[str, Any]] = []
    for element in meta.findall("raw:version", NS):
        label = (element.get("version") or "").strip()
        if label[:1] not in ("v", "V") or not label[1:].isdigit():
            return Rejection(place, f"{raw_id.strip()}: bad version label {label!r}")
        date_raw = element.findtext("raw:date", namespaces=NS)
        created = iso_datetime(date_raw)
        if date_raw and date_raw.strip() and created is None:
            return Rejection(place, f"{raw_id.strip()}: unreadable date {date_raw.strip()!r}")
        versions.append({"version": int(label[1:]), "created": created})
    versions.sort(key=lambda v: v["version"])
    pairs = split_author_string(_raw_text(meta, "authors") or "")
    affiliations = [affs for _, affs in pairs]
    first = versions[0]["created"] if versions else None
    latest = versions[-1]["created"] if versions else None
    submitted = parse_datetime(first)
    return finish(
        PaperRecord(
            title=_raw_text(meta, "title") or "",
            id=parsed[0],
            version=versions[-1]["version"] if versions else parsed[1],
            versions=versions,
            abstract=_raw_text(meta, "abstract") or "",
            authors=[name for name, _ in pairs],
            affiliations=affiliations if any(affiliations) else [],
            categories=(_raw_text(meta, "categories") or "").split(),
            comment=_raw_text(meta, "comments"),
            journal_ref=_raw_text(meta, "journal-ref"),
            doi=_raw_text(meta, "doi"),
            license=_raw_text(meta, "license"),
            published=first,
            updated=latest if len(versions) > 1 else None,
            announced=estimate_announce_date(submitted).isoformat() if submitted else None,
            source=SOURCE,
            place=place,
        )
    )


def _check_day(name: str, value: str | None) -> str | None:
    if value is not None and not _DAY_RE.match(value.strip()):
        raise SourceError(f"OAI-PMH: --{name} must be a day (YYYY-MM-DD), not {value!r}")
    return value.strip() if value else None


class _Harvest:
    """One ListRecords list, from its first request or a saved token to its end."""

    def __init__(
        self,
        settings: Settings,
        set_spec: str | None,
        from_date: str | None,
        until: str | None,
        state: dict[str, Any] | None,
        prefix: str | None = None,
    ) -> None:
        self.settings = settings
        self.url = settings.arxiv_oai_url
        self.key = state_key(settings, set_spec)
        self.set_spec = set_spec
        saved = state or {}
        from_date, until = _check_day("from", from_date), _check_day("until", until)
        saved_prefix = saved.get("prefix") or "arXiv"  # states saved before arXivRaw was read
        if prefix is not None and prefix not in METADATA_PREFIXES:
            known = ", ".join(METADATA_PREFIXES)
            raise SourceError(f"OAI-PMH: metadata format must be one of {known}, not {prefix!r}")
        resumable = (
            bool(saved.get("token"))
            and saved.get("set") == set_spec
            and from_date in (None, saved.get("from"))
            and until in (None, saved.get("until"))
            and prefix in (None, saved_prefix)
        )
        self.prefix: str = saved_prefix if resumable else prefix or settings.arxiv_oai_format
        self.token: str | None = saved["token"] if resumable else None
        self.from_date: str | None = saved.get("from") if resumable else from_date or saved.get("from")
        self.until: str | None = saved.get("until") if resumable else until
        self.started: str | None = saved.get("started") if resumable else None
        self.count: int = int(saved.get("count") or 0) if resumable else 0

    def _params(self) -> dict[str, str]:
        if self.token:
            return {"verb": "ListRecords", "resumptionToken": self.token}
        params = {"verb": "ListRecords", "metadataPrefix": self.prefix}
        if self.set_spec:
            params["set"] = self.set_spec
        if self.from_date:
            params["from"] = self.from_date
        if self.until:
            params["until"] = self.until
        return params

    def state(self) -> dict[str, Any]:
        """Where to resume: the next page's token and what the list was asked for."""
        return {
            "token": self.token,
            "from": self.from_date,
            "until": self.until,
            "set": self.set_spec,
            "started": self.started,
            "count": self.count,
            "prefix": self.prefix,
        }

    def final_state(self) -> dict[str, Any]:
        """After a complete list: the next harvest asks for changes since this one started."""
        next_from = self.from_date
        started_day = iso_date(self.started)
        if started_day:
            next_from = min(started_day, self.until) if self.until else started_day
        return {
            "token": None,
            "from": next_from,
            "until": None,
            "set": self.set_spec,
            "started": None,
            "count": 0,
            "prefix": self.prefix,
        }

    def run(self) -> Iterator[PaperRecord | Rejection | Checkpoint]:
        restarts = 0
        with HttpClient(self.settings, service="arxiv") as client:
            while True:
                root = client.get(self.url, params=self._params(), parse=parse_page)
                if self.started is None:
                    self.started = _text(root, "oai:responseDate")
                error = root.find("oai:error", NS)
                if error is not None:
                    code, message = error.get("code", ""), clean_ws(error.text)
                    if code == "noRecordsMatch":
                        break
                    if code == "badResumptionToken" and self.token and restarts < MAX_RESTARTS:
                        restarts += 1
                        warnings.warn(
                            f"{self.url}: resumption token expired ({message or code}); "
                            f"restarting the list from {self.from_date or 'the beginning'}",
                            HarvestWarning,
                            stacklevel=2,
                        )
                        self.token, self.count = None, 0
                        continue
                    raise SourceError(f"{self.url}: OAI-PMH error {code or '?'}: {message or 'no message'}")
                listing = root.find("oai:ListRecords", NS)
                for element in listing.findall("oai:record", NS):
                    self.count += 1
                    item = parse_record(element, f"{self.url}#record{self.count}")
                    if item is not None:
                        yield item
                self.token = _text(listing, "oai:resumptionToken")
                if self.token is None:
                    break
                yield Checkpoint(self.key, self.state())
        yield Checkpoint(self.key, self.final_state())


def read(
    settings: Settings,
    *,
    set_spec: str | None = None,
    from_date: str | None = None,
    until: str | None = None,
    state: dict[str, Any] | None = None,
    metadata_prefix: str | None = None,
) -> Items:
    """Harvest records changed since ``from_date`` (default: the saved state's ``from``).

    ``state`` is what ``Store.get_state(state_key(...))`` returned.  When it holds a token for
    the same set (and ``from_date``/``until`` are not given or equal its own), the harvest
    resumes from that token; an expired token restarts the list from the state's ``from``
    with a ``HarvestWarning``.  Deleted records are skipped; a malformed one is a ``Rejection``.
    ``metadata_prefix`` is ``arXivRaw`` or ``arXiv`` (default: the setting ``arxiv_oai_format``;
    a resumed list keeps the format it was started in).
    """
    yield from _Harvest(settings, set_spec, from_date, until, state, metadata_prefix).run()
