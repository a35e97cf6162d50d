"""Merge rules: how one incoming record combines with the paper row the store already has.

The rules, in order:

* The record describing the later version wins: its non-empty fields replace the row's.  With
  equal (or unknown) versions the more authoritative source wins: arXiv's own metadata (API,
  OAI-PMH, Kaggle snapshot) over listings (RSS, the JSONL corpus) over Hugging Face.  On a tie
  the newer record wins.
* The loser only fills fields that are still empty.
* Some fields always combine: versions seen (union), sources (union), first-published (earliest),
  last-updated (latest), announcement day (earliest: the listing the paper first appeared in).

All functions are pure so the rules are easy to test and to reuse from another backend.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from paperboy.sources.normalize import author_key, is_arxiv_id, title_key
from paperboy.sources.record import PaperRecord

SOURCE_RANK = {"oai": 3, "arxiv": 3, "kaggle": 3, "jsonl": 2, "rss": 2, "hf": 1}
DEFAULT_RANK = 1

#: Fields a winning record replaces (when it has a value) and a losing one only fills.
REPLACEABLE = (
    "title",
    "abstract",
    "authors",
    "categories",
    "comment",
    "journal_ref",
    "doi",
    "license",
    "abs_url",
    "pdf_url",
    "code_url",
    "project_url",
)

#: The columns that make up a paper's content; bookkeeping columns (seq, times) are excluded.
CONTENT = (
    "is_arxiv",
    "version",
    "versions",
    "title",
    "title_key",
    "abstract",
    "authors",
    "affiliations",
    "categories",
    "primary_category",
    "comment",
    "journal_ref",
    "doi",
    "dois",
    "license",
    "abs_url",
    "pdf_url",
    "code_url",
    "project_url",
    "published",
    "updated",
    "announced",
    "source_upvotes",
    "hf",
    "field_rank",
    "sources",
)


def record_hash(record: PaperRecord) -> str:
    """Stable digest of everything a record says, to recognise an identical re-import cheaply."""
    payload = orjson.dumps(
        (
            record.id,
            record.version,
            record.versions,
            record.title,
            record.abstract,
            record.authors,
            record.affiliations,
            record.categories,
            record.comment,
            record.journal_ref,
            record.doi,
            record.dois,
            record.license,
            record.abs_url,
            record.pdf_url,
            record.code_url,
            record.project_url,
            record.published,
            record.updated,
            record.announced,
            record.upvotes,
            record.hf,
            record.sources,
        )
    )
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def rank_of(record: PaperRecord) -> int:
    """Authority of a record: version first, then source."""
    return (record.version or 0) * 16 + SOURCE_RANK.get(record.source, DEFAULT_RANK)


def _merge_versions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_number: dict[int, str | None] = {}
    for item in (*old, *new):
        number = item["version"]
        if by_number.get(number) is None:
            by_number[number] = item.get("created")
    return [{"version": n, "created": by_number[n]} for n in sorted(by_number)]


def all_dois(row: dict[str, Any]) -> list[str]:
    """A row's DOIs, its ``doi`` first (rows stored before DOIs were kept apart have only ``doi``)."""
    out: dict[str, str] = {}
    for doi in (row.get("doi"), *(row.get("dois") or ())):
        if doi and doi.lower() not in out:
            out[doi.lower()] = doi
    return list(out.values())


def _same_people(a: list[str], b: list[str]) -> bool:
    return len(a) == len(b) and all(author_key(x) == author_key(y) for x, y in zip(a, b, strict=True))


def _affiliations(row: dict[str, Any], incoming: dict[str, Any], authors: list[str]) -> list[list[str]]:
    """Affiliations go with the author list they belong to; the other side's fill in when it names
    the same people (an RSS listing has none, the Kaggle snapshot has them)."""
    mine, other = (incoming, row) if authors is incoming["authors"] else (row, incoming)
    if mine.get("affiliations"):
        return mine["affiliations"]
    if other.get("affiliations") and _same_people(authors, other["authors"]):
        return other["affiliations"]
    return []


def _earliest(a: str | None, b: str | None) -> str | None:
    return min(a, b) if a and b else a or b


def _latest(a: str | None, b: str | None) -> str | None:
    return max(a, b) if a and b else a or b


def new_row(record: PaperRecord, paper_id: str | None) -> dict[str, Any]:
    """The content of a paper row made from one record alone (``paper_id`` None: not known yet)."""
    sources = sorted({record.source, *record.sources} - {""})
    versions = record.versions
    if record.version is not None and not any(v["version"] == record.version for v in versions):
        versions = _merge_versions(versions, [{"version": record.version, "created": None}])
    return {
        "id": paper_id,
        "is_arxiv": paper_id is not None and is_arxiv_id(paper_id),
        "version": record.version,
        "versions": versions,
        "title": record.title,
        "title_key": title_key(record.title),
        "abstract": record.abstract,
        "authors": record.authors,
        "affiliations": record.affiliations,
        "categories": record.categories,
        "primary_category": record.categories[0] if record.categories else None,
        "comment": record.comment,
        "journal_ref": record.journal_ref,
        "doi": record.doi,
        "dois": record.dois,
        "license": record.license,
        "abs_url": record.abs_url,
        "pdf_url": record.pdf_url,
        "code_url": record.code_url,
        "project_url": record.project_url,
        "published": record.published,
        "updated": record.updated,
        "announced": record.announced,
        "source_upvotes": record.upvotes,
        "hf": record.hf,
        "field_rank": rank_of(record),
        "sources": sources,
    }


def merge(row: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """The row after an incoming record's row (``new_row``) is merged into it; neither is modified."""
    wins = incoming["field_rank"] >= row["field_rank"]
    out = dict(row)
    for name in REPLACEABLE:
        theirs = incoming[name]
        if theirs and (wins or not row[name]):
            out[name] = theirs
    if out["title"] != row["title"]:
        out["title_key"] = incoming["title_key"]
    out["affiliations"] = _affiliations(row, incoming, out["authors"])
    winner, loser = (incoming, row) if out["doi"] == incoming["doi"] else (row, incoming)
    out["dois"] = all_dois({"doi": out["doi"], "dois": [*all_dois(winner), *all_dois(loser)]})
    out["primary_category"] = out["categories"][0] if out["categories"] else None
    out["field_rank"] = max(row["field_rank"], incoming["field_rank"])
    out["versions"] = _merge_versions(row["versions"], incoming["versions"])
    out["version"] = max((v for v in (row["version"], incoming["version"]) if v is not None), default=None)
    out["published"] = _earliest(row["published"], incoming["published"])
    out["updated"] = _latest(row["updated"], incoming["updated"])
    out["announced"] = _earliest(row["announced"], incoming["announced"])
    if incoming["source_upvotes"] is not None:
        out["source_upvotes"] = incoming["source_upvotes"]
    if incoming.get("hf"):  # only Hugging Face records carry it, and the latest says most
        out["hf"] = {**(row.get("hf") or {}), **incoming["hf"]}
    out["sources"] = sorted(set(row["sources"]) | set(incoming["sources"]))
    return out


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two rows hold the same paper content (bookkeeping ignored)."""
    return all(a[name] == b[name] for name in CONTENT)
