"""Hugging Face's JSON shapes for papers, filled with what a self-hosted instance knows.

Why a module of its own: scripts and ``huggingface_hub`` (``HfApi(endpoint=…)``) read these
answers field by field, so the shapes follow Hugging Face's exactly (``/api/papers/{id}`` is the
flat paper, ``/api/daily_papers`` items nest it under ``paper``), with paperboy's own fields added
beside them.  What each field holds here, and which are always null, is listed in the README.

Made-up identifiers (``_id``, ``discussionId``) are 24 hexadecimal characters like Hugging Face's,
derived from what they stand for, so they are stable across requests, workers and restarts.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from paperboy.sources.normalize import author_key, http_url, parse_datetime

#: Who "submitted" a paper nobody submitted here: the import that brought it (Hugging Face
#: always names somebody; an object keeps scripts that read ``submittedBy.name`` working).
IMPORT_USER = "paperboy"


def object_id(kind: str, value: str) -> str:
    """A stable 24-hex id for a thing (``author``, ``user``, ``discussion``) named ``value``."""
    return hashlib.sha1(f"{kind}:{value}".encode()).hexdigest()[:24]


def hf_time(value: str | None) -> str | None:
    """A stored date or time as Hugging Face writes times: ``2025-09-04T21:26:31.000Z`` (UTC);
    ``None`` for anything unreadable (a JSON-lines import may hold any text there, and clients
    such as ``huggingface_hub`` parse the value)."""
    if not value:
        return None
    if len(value) == 20 and value.endswith("Z") and value[10] == "T":  # the stored form: no parsing
        return value[:-1] + ".000Z"
    moment = parse_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if moment else None


def _link(value: Any) -> str | None:
    """An imported link fit to leave the store: http(s) only, or a path on this site (an avatar)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return http_url("http://localhost" + value) and value
    return http_url(value)


def avatar_url(name: str) -> str:
    """The avatar paperboy draws for a user (Hugging Face's default avatars are relative too)."""
    return f"/avatars/{name}.svg"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Author(_Model):
    """An author as Hugging Face lists one; ``_id`` is the same for the same person on every paper."""

    id: str = Field(alias="_id", description="Stable per person: derived from the normalized name.")
    name: str
    hidden: bool = Field(False, description="Always false: paperboy never hides an author.")
    affiliations: list[str] = Field([], description="paperboy: as the source gave them, never part of the name.")


class DailyUser(_Model):
    """``submittedOnDailyBy``: the user who put the paper on the daily list (``user`` is the name)."""

    id: str = Field(alias="_id")
    avatarUrl: str
    isPro: bool = False
    fullname: str
    user: str
    type: str = "user"


class Submitter(_Model):
    """A daily item's ``submittedBy`` (``name`` is the user name; ``user`` repeats it, which
    ``huggingface_hub``'s ``User`` reads as the username)."""

    id: str = Field(alias="_id")
    avatarUrl: str
    fullname: str
    name: str
    user: str
    type: str = "user"
    isPro: bool = False


class Paper(_Model):
    """A paper in Hugging Face's flat shape (``/api/papers/{id}``), plus paperboy's own fields."""

    id: str
    authors: list[Author]
    publishedAt: str | None = Field(None, description="The arXiv v1 time (else the announcement day), ISO 8601.")
    submittedOnDailyAt: str | None = Field(
        None, description="When it joined the daily list: submitted here, on Hugging Face, or announced."
    )
    title: str
    submittedOnDailyBy: DailyUser
    summary: str
    upvotes: int
    discussionId: str = Field(description="The paper's comment thread here (GET /api/papers/{id}/comments).")
    projectPage: str | None = None
    githubRepo: str | None = None
    ai_summary: str | None = Field(None, description="Hugging Face's, for papers imported from it; else null.")
    ai_keywords: list[str] = Field([], description="Key phrases picked from the paper's own text (TF-IDF).")
    githubStars: int | None = Field(None, description="Always null: paperboy does not ask GitHub.")
    organization: None = Field(None, description="Always null: paperboy has no organizations.")
    isAuthorParticipating: bool = Field(False, description="Always false: no account is linked to an author.")
    numComments: int
    source: str = Field(description="arxiv for arXiv papers, else the first source that gave it.")
    # paperboy's own
    categories: list[str] = []
    arxivUrl: str | None = None
    pdfUrl: str | None = None
    version: int | None = None
    comment: str | None = None
    journalRef: str | None = None
    doi: str | None = None
    dois: list[str] = []
    updatedAt: str | None = Field(None, description="The latest version's time.")
    announcedAt: str | None = Field(None, description="The arXiv listing day the paper first appeared in.")


class PaperItem(_Model):
    """One entry of ``/api/daily_papers`` (Hugging Face's shape).

    ``githubRepo``, ``projectPage``, ``ai_summary``, ``ai_keywords`` and ``source`` are repeated at the top,
    where ``huggingface_hub``'s ``PaperInfo`` reads them from a list item.
    """

    paper: Paper
    publishedAt: str | None
    title: str
    summary: str
    thumbnail: str | None = Field(None, description="Hugging Face's, for papers imported from it; else null.")
    numComments: int
    submittedBy: Submitter
    organization: None = None
    isAuthorParticipating: bool = False
    githubRepo: str | None = None
    projectPage: str | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] = []
    source: str = "arxiv"


def _published(paper: dict[str, Any]) -> str | None:
    return hf_time(paper.get("published")) or hf_time(paper.get("announced")) or hf_time(paper.get("first_seen"))


def _submitter(paper: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """Who put the paper on the daily list and when: a user here, else Hugging Face's submitter,
    else the import (at the announcement day)."""
    hf = paper.get("hf") or {}
    local = paper.get("submitted_by")
    if local:
        user = {"user": local, "fullname": local, "avatarUrl": avatar_url(local)}
        return user, hf_time(paper.get("submitted_at"))
    by = hf.get("daily_by")
    if by and by.get("user"):
        user = {"user": by["user"], "fullname": by.get("fullname") or by["user"]}
        user["avatarUrl"] = _link(by.get("avatarUrl")) or avatar_url(by["user"])
        return user, hf_time(hf.get("daily_at")) or hf_time(paper.get("announced"))
    name = IMPORT_USER
    label = "arXiv" if paper.get("is_arxiv", True) else (paper.get("sources") or ["a file"])[0]
    user = {"user": name, "fullname": f"paperboy (imported from {label})", "avatarUrl": avatar_url(name)}
    return user, hf_time(hf.get("daily_at")) or hf_time(paper.get("announced")) or hf_time(paper.get("first_seen"))


def paper_json(paper: dict[str, Any]) -> dict[str, Any]:
    """A listed paper (``Activity.listed``) in the flat shape."""
    by, daily_at = _submitter(paper)
    hf = paper.get("hf") or {}
    affiliations = paper.get("affiliations") or []
    authors = [
        {
            "_id": object_id("author", author_key(name)),
            "name": name,
            "hidden": False,
            "affiliations": affiliations[i] if i < len(affiliations) else [],
        }
        for i, name in enumerate(paper["authors"])
    ]
    sources = paper.get("sources") or []
    return {
        "id": paper["id"],
        "authors": authors,
        "publishedAt": _published(paper),
        "submittedOnDailyAt": daily_at,
        "title": paper["title"],
        "submittedOnDailyBy": {"_id": object_id("user", by["user"].lower()), **by, "isPro": False, "type": "user"},
        "summary": paper["abstract"],
        "upvotes": paper.get("upvotes") or 0,
        "discussionId": object_id("discussion", paper["id"]),
        "projectPage": http_url(paper.get("project_url")),  # only http(s) links leave the store
        "githubRepo": http_url(paper.get("code_url")),
        "ai_summary": hf.get("ai_summary"),
        "ai_keywords": _keywords(paper["id"]),
        "githubStars": None,
        "organization": None,
        "isAuthorParticipating": False,
        "numComments": paper.get("num_comments") or 0,
        "source": "arxiv" if paper.get("is_arxiv", True) else (sources[0] if sources else "paperboy"),
        "categories": paper["categories"],
        "arxivUrl": http_url(paper.get("abs_url")),
        "pdfUrl": http_url(paper.get("pdf_url")),
        "version": paper.get("version"),
        "comment": paper.get("comment"),
        "journalRef": paper.get("journal_ref"),
        "doi": paper.get("doi"),
        "dois": paper.get("dois") or ([paper["doi"]] if paper.get("doi") else []),
        "updatedAt": hf_time(paper.get("updated")),
        "announcedAt": hf_time(paper.get("announced")),
    }


def _keywords(paper_id: str) -> list[str]:
    """A paper's key phrases from the topic views of the app serving this request ([] before any are made)."""
    from paperboy.web.topic_pages import paper_keywords  # topic_pages renders cards with these shapes' links

    return paper_keywords(paper_id)


def item_json(paper: dict[str, Any]) -> dict[str, Any]:
    """A daily-papers entry for a listed paper."""
    flat = paper_json(paper)
    by = flat["submittedOnDailyBy"]
    return {
        "paper": flat,
        "publishedAt": flat["publishedAt"],
        "title": flat["title"],
        "summary": flat["summary"],
        "thumbnail": http_url((paper.get("hf") or {}).get("thumbnail")),
        "numComments": flat["numComments"],
        "submittedBy": {
            "_id": by["_id"],
            "avatarUrl": by["avatarUrl"],
            "fullname": by["fullname"],
            "name": by["user"],
            "user": by["user"],
            "type": "user",
            "isPro": False,
        },
        "organization": None,
        "isAuthorParticipating": False,
        "githubRepo": flat["githubRepo"],
        "projectPage": flat["projectPage"],
        "ai_summary": flat["ai_summary"],
        "ai_keywords": flat["ai_keywords"],
        "source": flat["source"],
    }
