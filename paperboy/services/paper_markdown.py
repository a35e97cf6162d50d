"""A paper as Markdown, for agents (the MCP server's paper resources) and scripts.

Kept in the service layer so every interface can share it (the ``/papers/{id}.md`` page of issue 14
renders the same information in the web layer today; the lead may point it here).  Every value
from a paper is escaped so a title cannot become a link, a heading or HTML; links are http(s) only.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from paperboy.services.digest_mail import readable

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def md(value: str | None) -> str:
    """Text on one line with Markdown's punctuation escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join((value or "").split()))


def _link(label: str, url: str | None) -> str | None:
    if not url or not url.lower().startswith(("https://", "http://")):
        return None
    return f"[{label}](<{url.replace('>', '%3E').replace(' ', '%20')}>)"


def page_url(site: str, paper_id: str) -> str:
    return f"{site}/papers/" + quote(paper_id, safe="/:.-_~")


def paper_markdown(paper: dict[str, Any], similar: list[dict[str, Any]], site: str, note: str | None = None) -> str:
    """Title, authors, links, facts, abstract, the reader's own note (when given) and similar papers."""
    lines = [f"# {md(readable(paper['title']))}", ""]
    if paper.get("authors"):
        lines += [f"**Authors:** {', '.join(md(a) for a in paper['authors'])}", ""]
    links = [
        _link("Paper page", page_url(site, paper["id"])),
        _link("arXiv", paper.get("abs_url")),
        _link("PDF", paper.get("pdf_url")),
        _link("Code", paper.get("code_url")),
    ]
    lines += [f"**Links:** {' · '.join(x for x in links if x)}", ""]
    facts = [f"id {md(paper['id'])}"]
    if paper.get("announced"):
        facts.append(f"announced {paper['announced']}")
    if paper.get("categories"):
        facts.append(", ".join(md(c) for c in paper["categories"]))
    votes = paper.get("upvotes") or 0
    facts.append(f"{votes} upvote{'' if votes == 1 else 's'}")
    lines += ["; ".join(facts), "", "## Abstract", "", md(readable(paper.get("abstract"))) or "(no abstract)", ""]
    if note:
        lines += ["## Your note", "", note.strip(), ""]
    lines += ["## Similar papers", ""]
    if similar:
        lines += [f"- [{md(readable(o['title']))}](<{page_url(site, o['id'])}>) ({md(o['id'])})" for o in similar]
    else:
        lines.append("None found yet (similar papers appear once the papers are embedded).")
    return "\n".join(lines) + "\n"
