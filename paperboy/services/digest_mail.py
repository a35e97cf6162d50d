"""A digest as an email: multipart plain text and HTML, with one-click unsubscribe headers.

The plain text part is complete on its own (text-only clients, screen readers, spam filters that
compare the two).  The HTML uses inline styles only (mail clients drop ``<style>`` and ignore
classes) and escapes every value taken from a paper: Jinja2's autoescaping for text, and links
kept only when they are ``http(s)`` URLs.  Unsubscribing: a visible link in both parts, and the
``List-Unsubscribe`` / ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` headers of RFC 8058,
so mail providers can offer their own unsubscribe button, which POSTs to the same signed URL.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from email.message import EmailMessage
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment

from paperboy.config import Settings
from paperboy.services.digest import Digest
from paperboy.services.mail import new_message
from paperboy.services.subscriptions import Links

#: Characters of abstract shown per paper.
ABSTRACT_CHARS = 300
#: Authors named before "et al.".
AUTHORS_SHOWN = 6
_SPACES = re.compile(r"\s+")
_LATEXISH = re.compile(r"[\\$]")

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

_HTML = _env.from_string(
    """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ subject }}</title></head>
<body style="margin:0;padding:0;background:#f6f6f4;">
<div style="max-width:640px;margin:0 auto;padding:16px;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;\
font-size:15px;line-height:1.45;color:#1f2328;">
<p style="margin:0 0 4px 0;font-size:13px;color:#6b6b6b;">paperboy · {{ heading }}</p>
<h1 style="margin:0 0 16px 0;font-size:22px;color:#1f2328;">{{ count }} new paper{{ 's' if count != 1 }} for you</h1>
{% for section in sections %}
<h2 style="margin:24px 0 8px 0;padding-bottom:4px;border-bottom:2px solid #ff9d00;font-size:17px;color:#1f2328;">\
{{ section.title }}</h2>
{% for paper in section.papers %}
<div style="margin:0 0 18px 0;">
<p style="margin:0;font-size:16px;font-weight:600;">\
<a href="{{ paper.page }}" style="color:#0b57d0;text-decoration:none;">{{ paper.title }}</a></p>
<p style="margin:2px 0;font-size:13px;color:#555;">{{ paper.authors }}\
{% if paper.categories %} · {{ paper.categories }}{% endif %}\
{% if paper.upvotes %} · ▲ {{ paper.upvotes }}{% endif %}</p>
{% if paper.why %}<p style="margin:2px 0;font-size:13px;color:#8a5a00;">{{ paper.why }}</p>{% endif %}
<p style="margin:4px 0;font-size:14px;color:#333;">{{ paper.abstract }}</p>
<p style="margin:2px 0;font-size:13px;"><a href="{{ paper.page }}" style="color:#0b57d0;">paperboy</a>\
{% for label, url in paper.links %} · <a href="{{ url }}" style="color:#0b57d0;">{{ label }}</a>{% endfor %}</p>
</div>
{% endfor %}
{% endfor %}
<hr style="border:none;border-top:1px solid #ddd;margin:24px 0 12px 0;">
<p style="margin:0;font-size:12px;color:#6b6b6b;">You get this {{ frequency }} digest because {{ email }} subscribed \
at <a href="{{ site }}" style="color:#6b6b6b;">{{ site }}</a>.<br>
<a href="{{ manage }}" style="color:#0b57d0;">Change what you receive</a> ·
<a href="{{ unsubscribe }}" style="color:#0b57d0;">Unsubscribe</a></p>
</div>
</body>
</html>
"""
)


@lru_cache(maxsize=50_000)
def readable(text: str | None) -> str:
    """Text on one line, with LaTeX markup turned into Unicode where there is any (cached: costly)."""
    text = _SPACES.sub(" ", text or "").strip()
    if not _LATEXISH.search(text):
        return text
    try:
        from pylatexenc.latex2text import LatexNodes2Text

        converted = LatexNodes2Text(math_mode="text", strict_latex_spaces=False).latex_to_text(text)
    except Exception:  # unparseable markup: the source is still readable
        return text
    return _SPACES.sub(" ", converted).strip() or text


def shorten(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """The first ``limit`` characters, cut at a word, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + " …"


def _web_link(url: Any) -> str | None:
    """A URL fit for an href: http(s) only (no ``javascript:``), no white space."""
    if isinstance(url, str) and url.startswith(("https://", "http://")) and not _SPACES.search(url):
        return url
    return None


def _authors(names: list[str] | None) -> str:
    names = [readable(str(n)) for n in names or ()]
    shown = ", ".join(names[:AUTHORS_SHOWN])
    return shown + (" et al." if len(names) > AUTHORS_SHOWN else "")


def _item(paper: dict[str, Any], why: str, site: str, section: str) -> dict[str, Any]:
    """A paper as both parts show it."""
    links = [
        (label, url)
        for label, url in (
            ("arXiv", _web_link(paper.get("abs_url"))),
            ("PDF", _web_link(paper.get("pdf_url"))),
            ("code", _web_link(paper.get("code_url"))),
        )
        if url
    ]
    if why:
        why = f"Matches your search “{why}”" if section == "searches" else f"Like “{shorten(readable(why), 90)}”"
    return {
        "title": readable(paper.get("title")),
        "authors": _authors(paper.get("authors")),
        "categories": " ".join(str(c) for c in (paper.get("categories") or ())[:3]),
        "upvotes": int(paper.get("upvotes") or 0),
        "abstract": shorten(readable(paper.get("abstract"))),
        "page": f"{site}/papers/{quote(str(paper['id']), safe='/:.-_~')}",
        "links": links,
        "why": why,
    }


def message_id(settings: Settings, subscriber: dict[str, Any], period: str) -> str:
    """The digest's Message-ID: the same on every attempt, so a resent copy is recognisably the same mail."""
    domain = _domain(settings)
    tag = hashlib.sha256(f"{subscriber['id']}:{subscriber['link_key']}".encode()).hexdigest()[:12]
    return f"<digest.{period}.{subscriber['id']}.{tag}@{domain}>"


def _domain(settings: Settings) -> str:
    return settings.mail_from.rsplit("@", 1)[-1].strip(" >") or "localhost"


def heading(digest: Digest) -> str:
    """What the digest covers, for people."""
    day = digest.day
    if "W" in digest.period:
        return f"week {digest.period.split('-W')[1].lstrip('0')} of {digest.period[:4]}"
    return f"{day:%A}, {day.day} {day:%B %Y}"


def render(digest: Digest, settings: Settings, links: Links, msg_id: str | None = None) -> EmailMessage:
    """The digest as a message ready to send."""
    site = settings.base_url.rstrip("/")
    sections = [
        {
            "title": section.title,
            "papers": [_item(p, section.why.get(p["id"], ""), site, section.name) for p in section.papers],
        }
        for section in digest.sections
    ]
    count = sum(len(s["papers"]) for s in sections)
    weekly = "W" in digest.period
    when = heading(digest)
    subject = f"paperboy{' weekly' if weekly else ''}: {count} new paper{'s' if count != 1 else ''}, {when}"
    context = {
        "subject": subject,
        "heading": when,
        "count": count,
        "sections": sections,
        "frequency": "weekly" if weekly else "daily",
        "email": digest.subscriber["email"],
        "site": site,
        "manage": links.manage,
        "unsubscribe": links.unsubscribe,
    }
    msg = new_message(settings, digest.subscriber["email"], subject, _text(context), _HTML.render(context))
    if msg_id:
        msg.replace_header("Message-ID", msg_id)
    msg["List-Id"] = f"paperboy digest <digest.{_domain(settings)}>"
    msg["List-Unsubscribe"] = f"<{links.unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["Precedence"] = "bulk"
    return msg


def _text(context: dict[str, Any]) -> str:
    """The plain text part: everything the HTML says, readable in a terminal."""
    wrap = textwrap.TextWrapper(width=76, initial_indent="   ", subsequent_indent="   ", break_on_hyphens=False)
    count = context["count"]
    lines = [f"paperboy · {context['heading']}", f"{count} new paper{'s' if count != 1 else ''} for you", ""]
    n = 0
    for section in context["sections"]:
        lines += ["", section["title"].upper(), "=" * len(section["title"]), ""]
        for paper in section["papers"]:
            n += 1
            lines += textwrap.wrap(f"{n}. {paper['title']}", width=76, subsequent_indent="   ")
            meta = paper["authors"] + (f" · {paper['categories']}" if paper["categories"] else "")
            meta += f" · {paper['upvotes']} upvotes" if paper["upvotes"] else ""
            lines += wrap.wrap(meta)
            if paper["why"]:
                lines += wrap.wrap(paper["why"])
            lines += wrap.wrap(paper["abstract"])
            lines.append(f"   {paper['page']}")
            lines += [f"   {label}: {url}" for label, url in paper["links"]]
            lines.append("")
    lines += [
        "-- ",
        f"You get this {context['frequency']} digest because {context['email']} subscribed at {context['site']}.",
        f"Change what you receive: {context['manage']}",
        f"Unsubscribe: {context['unsubscribe']}",
        "",
    ]
    return "\n".join(lines)
