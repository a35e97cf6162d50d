"""Pages for scripts and agents, as Hugging Face serves them: ``/papers/{id}.md`` and avatars.

``huggingface_hub``'s ``read_paper(id)`` fetches ``/papers/{id}.md``: a paper page as Markdown
(title, authors, links, abstract, similar papers).  Hugging Face's daily items point at relative
``/avatars/….svg`` images; paperboy draws one per user name, so those links are never dead.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from paperboy.services.community import NotFound
from paperboy.sources.normalize import http_url
from paperboy.web import text
from paperboy.web.render import cached_bytes, paper_url, services, site_url

router = APIRouter(include_in_schema=False)
MARKDOWN = "text/markdown; charset=utf-8"
SIMILAR = 5
#: Markdown's own punctuation, escaped in data so a title cannot become a link, a heading or HTML.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def _md(value: str | None) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join((value or "").split()))


def _link(label: str, url: str | None) -> str | None:
    url = http_url(url)  # only http(s): javascript: and data: links never become links
    if not url:
        return None
    return f"[{label}](<{url.replace('>', '%3E').replace(' ', '%20')}>)"


def paper_markdown(paper: dict[str, Any], similar: list[dict[str, Any]], site: str) -> str:
    """A paper page as Markdown: what Hugging Face's ``/papers/{id}.md`` holds when it has no full text."""
    lines = [f"# {_md(text.readable(paper['title']))}", ""]
    affiliations = paper.get("affiliations") or []
    authors = []
    for i, name in enumerate(paper["authors"]):
        own = affiliations[i] if i < len(affiliations) else []
        authors.append(_md(name) + (f" ({_md('; '.join(own))})" if own else ""))
    if authors:
        lines += [f"**Authors:** {', '.join(authors)}", ""]
    links = [
        _link("Paper page", f"{site}{paper_url(paper['id'])}"),
        _link("arXiv", paper.get("abs_url")),
        _link("PDF", paper.get("pdf_url")),
        _link("Code", paper.get("code_url")),
        _link("Project page", paper.get("project_url")),
        *(_link(f"DOI {_md(d)}", f"https://doi.org/{d}") for d in paper.get("dois") or []),
    ]
    lines += [f"**Links:** {' · '.join(link for link in links if link)}", ""]
    facts = []
    if paper.get("published"):
        facts.append(f"Published {paper['published'][:10]}")
    if paper.get("announced"):
        facts.append(f"announced {paper['announced']}")
    if paper.get("version"):
        facts.append(f"version {paper['version']}")
    if paper.get("categories"):
        facts.append(", ".join(_md(c) for c in paper["categories"]))
    votes, comments = paper.get("upvotes") or 0, paper.get("num_comments") or 0
    facts.append(f"{votes} upvote{'' if votes == 1 else 's'}, {comments} comment{'' if comments == 1 else 's'}")
    lines += ["; ".join(facts), ""]
    if paper.get("journal_ref"):
        lines += [f"**Journal reference:** {_md(paper['journal_ref'])}", ""]
    if paper.get("comment"):
        lines += [f"**Comment:** {_md(text.readable(paper['comment']))}", ""]
    lines += ["## Abstract", "", _md(text.readable(paper["abstract"])) or "(no abstract)", ""]
    ai_summary = (paper.get("hf") or {}).get("ai_summary")
    if ai_summary:
        lines += ["## AI summary (from Hugging Face)", "", _md(ai_summary), ""]
    lines += ["## Similar papers", ""]
    if similar:
        for other in similar:
            title = _md(text.readable(other["title"]))
            lines.append(f"- [{title}](<{site}{paper_url(other['id'])}.md>) ({_md(other['id'])})")
    else:
        lines.append("None found yet (the similar papers appear once the papers are embedded).")
    return "\n".join(lines) + "\n"


@router.get("/papers/{paper_id:path}.md")
def paper_md(request: Request, paper_id: str) -> Response:
    """One paper as Markdown (``huggingface_hub``'s ``read_paper``)."""
    svc = services(request)

    def build() -> bytes:  # the public page: hidden papers are not found, whoever asks
        try:
            paper = svc.community.visible_paper(paper_id)
        except NotFound as exc:
            raise HTTPException(404, f"no paper {paper_id!r}") from exc
        found = svc.search.similar(paper["id"], SIMILAR)
        similar = svc.store.activity.listed([r.id for r in found])
        return paper_markdown(paper, similar, site_url(request)).encode()

    return cached_bytes(request, "md ", build, MARKDOWN, on_search=True, per_host=True)


_PALETTE = ("#e76f51", "#2a9d8f", "#e9c46a", "#264653", "#8d5a97", "#3a86ff", "#fb8500", "#6a994e")


@router.get("/avatars/{name}.svg")
def avatar(request: Request, name: str) -> Response:
    """A round avatar with the name's first letter, coloured by the name (the same name, the same image)."""
    if len(name) > 100:
        raise HTTPException(404, "no such avatar")
    letter = next((c for c in name if c.isalnum()), "?").upper()
    colour = _PALETTE[hashlib.sha1(name.lower().encode()).digest()[0] % len(_PALETTE)]
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<circle cx="32" cy="32" r="32" fill="{colour}"/>'
        '<text x="32" y="42" font-family="sans-serif" font-size="30" text-anchor="middle" fill="#fff">'
        f"{escape(letter)}</text></svg>"
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
