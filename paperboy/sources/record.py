"""The common shape every importer yields, and what it yields besides papers.

Importers are generators of ``Item``: a ``PaperRecord`` for each good record, a ``Rejection``
for each malformed one (with its place, so a person can find it), and a ``Checkpoint`` where a
resumable harvester may safely resume.  The ingest pipeline commits a checkpoint in the same
transaction as the records before it, so a crash never skips or repeats work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class PaperRecord:
    """One paper as one source describes it; fields the source lacks stay empty."""

    title: str
    #: arXiv id without version where there is one, else any source-unique string, else None
    #: (then the store matches by DOI or normalized title).
    id: str | None = None
    #: Version this record describes (arXiv ``vN``), when the source says.
    version: int | None = None
    #: Versions the source knows about: ``{"version": int, "created": str | None}``.
    versions: list[dict[str, Any]] = field(default_factory=list)
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    #: Each author's affiliations, parallel to ``authors``; empty when no author has any.
    affiliations: list[list[str]] = field(default_factory=list)
    #: First entry is the primary category.
    categories: list[str] = field(default_factory=list)
    comment: str | None = None
    journal_ref: str | None = None
    #: The (first) DOI, case kept; ``finish`` splits a field holding several into ``dois``.
    doi: str | None = None
    #: Every DOI the source gives, in order (the first is ``doi``).
    dois: list[str] = field(default_factory=list)
    license: str | None = None
    abs_url: str | None = None
    pdf_url: str | None = None
    code_url: str | None = None
    #: The paper's project page (Hugging Face's ``projectPage``, or announced in the comment).
    project_url: str | None = None
    #: ISO 8601 (date or datetime) of the first version.
    published: str | None = None
    #: ISO 8601 of the latest update.
    updated: str | None = None
    #: YYYY-MM-DD of the arXiv listing the paper first appeared in.
    announced: str | None = None
    #: Votes, where the source has them (Hugging Face).
    upvotes: int | None = None
    #: What Hugging Face's Daily Papers say beyond the paper: ``daily_at`` (submittedOnDailyAt),
    #: ``daily_by`` (the submitter: user, fullname, avatarUrl), ``thumbnail``, ``ai_summary``.
    hf: dict[str, Any] | None = None
    #: Which importer produced it: jsonl, kaggle, arxiv, oai, rss, hf.
    source: str = ""
    #: Earlier sources carried in the record itself (a paperboy export), kept on re-import.
    sources: list[str] = field(default_factory=list)
    #: Where it came from, for messages: ``file:line`` or ``url#entry``.
    place: str = ""


@dataclass(slots=True, frozen=True)
class Rejection:
    """A malformed record: where it is and why it was skipped."""

    place: str
    reason: str


@dataclass(slots=True, frozen=True)
class Checkpoint:
    """A point where a harvest may resume; ``state`` is stored under ``key`` atomically with the records before it."""

    key: str
    state: dict[str, Any]


Item = PaperRecord | Rejection | Checkpoint
Items = Iterator[Item]


class SourceError(Exception):
    """A whole source cannot be read (wrong path, unknown format, server gone): one line for the user."""
