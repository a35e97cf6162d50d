"""Normalization shared by every importer and by the store's matching rules.

Why here: the same paper arrives from six sources with small differences (versions in ids,
LaTeX in titles, accents in names); matching only works when every path normalizes alike.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from paperboy.sources.names import clean_author

_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_ID_RE = re.compile(rf"^(?:arxiv:|oai:arxiv\.org:)?({_NEW_ID}|{_OLD_ID})(?:v(\d+))?$", re.IGNORECASE)
_ID_IN_URL_RE = re.compile(
    rf"arxiv\.org/(?:abs|pdf|html)/({_NEW_ID}|{_OLD_ID})(?:v(\d+))?(?:\.pdf)?(?:[?#/].*)?$",
    re.IGNORECASE,
)


def parse_arxiv_id(value: str | None) -> tuple[str, int | None] | None:
    """Split an arXiv id, ``arXiv:`` form, OAI identifier or abs/pdf URL into (id, version)."""
    if not value:
        return None
    text = value.strip()
    match = _ID_RE.match(text) or _ID_IN_URL_RE.search(text)
    if not match:
        return None
    ident = match.group(1)
    if "/" in ident:  # old style: archive part is lower case, subject class upper case
        archive, number = ident.split("/", 1)
        head, _, sub = archive.partition(".")
        ident = f"{head.lower()}{'.' + sub.upper() if sub else ''}/{number}"
    return ident, int(match.group(2)) if match.group(2) else None


_BARE_ID_RE = re.compile(rf"{_NEW_ID}|[a-z][a-z\-]*(?:\.[A-Z]{{2}})?/\d{{7}}")


def is_arxiv_id(value: str) -> bool:
    """True for a bare arXiv id without version, in canonical case (the store's key for arXiv papers)."""
    return _BARE_ID_RE.fullmatch(value) is not None


def clean_ws(text: str | None) -> str:
    """Collapse runs of white space (arXiv wraps titles and names across lines)."""
    return " ".join(text.split()) if text else ""


def clean_optional(text: str | None) -> str | None:
    """Like ``clean_ws`` but keeps ``None`` for absent or blank fields."""
    cleaned = clean_ws(text)
    return cleaned or None


# LaTeX formatting commands whose argument is the text itself.
_LATEX_WRAPPERS = re.compile(
    r"\\(?:text(?:bf|it|tt|rm|sf|sc|up)?|emph|math(?:rm|bf|it|cal|bb|sf|tt|frak|scr)|"
    r"boldsymbol|bm|operatorname|mbox|hbox|url|href)\s*(?=\{)"
)
_LATEX_ACCENT = re.compile(r"\\[`'^\"~=.uvHckrb]\s*\{?([A-Za-z])\}?")
_LATEX_CMD = re.compile(r"\\([A-Za-z]+)")
_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
#: Braces and dollars only group LaTeX; dropping them keeps "{F}ast" one word.
_LATEX_GROUPING = str.maketrans("", "", "{}$")


def _greek_to_name(char: str) -> str:
    name = unicodedata.name(char, "")
    if name.startswith("GREEK") and "LETTER" in name:
        return " " + name.rsplit(" ", 1)[-1].lower() + " "
    return char


def _fold(text: str) -> str:
    """Lower-case, accents and punctuation removed (Greek letters spelled out)."""
    if not text.isascii():
        text = "".join(_greek_to_name(c) if "\u0370" <= c <= "\u03ff" else c for c in text)
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(_NON_ALNUM.sub(" ", text.casefold()).split())


def title_key(title: str) -> str:
    """Match key for titles: case, punctuation, white space, accents and LaTeX markup removed.

    ``"$\\alpha$-Nets: {F}ast"`` and ``"α-Nets: Fast"`` both become ``"alpha nets fast"``.
    """
    if "\\" in title:
        title = _LATEX_WRAPPERS.sub("", title)
        title = _LATEX_ACCENT.sub(r"\1", title)
        title = _LATEX_CMD.sub(r" \1 ", title)
    return _fold(title.translate(_LATEX_GROUPING))


@lru_cache(maxsize=32768)
def author_key(name: str) -> str:
    """Key that groups one author's spellings: accents, case, dots and ``Last, First`` order ignored.

    TeX accents count as the letters they make and an affiliation in parentheses is no part of
    the name, so ``P\\'erez (MIT)`` and ``Pérez`` are one author (``names.clean_author``).
    """
    text = clean_author(name)[0] if "\\" in name or "{" in name or name.endswith(")") else name.strip()
    if text.count(",") == 1:
        last, first = (part.strip() for part in text.split(","))
        if first and last and not first.lower().startswith(("jr", "sr", "ii", "iii")):
            text = f"{first} {last}"
    return _fold(text)


def normalize_doi(doi: str | None) -> str | None:
    """Lower-case bare DOI (``10.x/y``), with URL or ``doi:`` prefixes stripped: the form DOIs are
    matched in (stored DOIs keep their case: ``names.split_dois``)."""
    if not doi:
        return None
    text = doi.strip().split()[0] if doi.strip() else ""
    text = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", text, flags=re.IGNORECASE)
    return text.lower() if text.startswith("10.") else None


_CODE_URL_RE = re.compile(
    r"https?://(?:www\.)?(?:github\.com|gitlab\.com|bitbucket\.org|codeberg\.org|huggingface\.co)"
    r"/[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+",
    re.IGNORECASE,
)
_NOT_REPOS = {"github.com/orgs", "github.com/topics", "github.com/features", "huggingface.co/papers"}


def find_code_url(*texts: str | None) -> str | None:
    """First code-repository URL in the given texts (comment first, then abstract)."""
    for text in texts:
        if not text or "://" not in text:
            continue
        for match in _CODE_URL_RE.finditer(text):
            url = match.group(0).rstrip(".,;:)}]'\"")
            if url.endswith(".git"):
                url = url[:-4]
            if any(bad in url.lower() for bad in _NOT_REPOS):
                continue
            return url
    return None


_PROJECT_URL_RE = re.compile(
    r"\b(?:project|web)\s*(?:page|site|website|homepage)s?\b[^h]{0,12}(https?://[^\s,;<>\"')\]}]+)", re.IGNORECASE
)


def find_project_url(*texts: str | None) -> str | None:
    """The project page an arXiv comment announces ("Project page: https://…"), Hugging Face's ``projectPage``."""
    for text in texts:
        if text and "://" in text:
            match = _PROJECT_URL_RE.search(text)
            if match:
                return match.group(1).rstrip(".")
    return None


#: Characters no link we keep may hold: white space and controls (browsers drop some of them
#: silently, so ``java\nscript:`` would run) and what would end an attribute or a tag.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\"'<>\\`]")
MAX_URL = 2000


def http_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) link with a host, else ``None``.

    Why: imported links (``abs_url``, ``pdf_url``, ``code_url``, Hugging Face's ``githubRepo``)
    end up in ``<a href>`` and Atom ``<link href>``; a ``javascript:`` or ``data:`` URL there
    runs in the visitor's browser.  Importers keep only what passes, and pages check again.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL or _URL_UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed IPv6 host or port
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


#: The largest count or version a record may carry: what a 32-bit integer column holds on every
#: backend.  Larger numbers are not data but damage or attack (2^63 once aborted whole imports).
MAX_NUMBER = 2**31 - 1


def number_problem(field: str, value: object, low: int) -> str | None:
    """Why an integer field is unusable (out of ``low``..``MAX_NUMBER``), or ``None`` if it is fine."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"field {field!r} must be an integer"
    if not low <= value <= MAX_NUMBER:
        shown = str(value) if len(str(value)) <= 30 else f"{str(value)[:20]}… ({len(str(value))} digits)"
        return f"field {field!r} is out of range: {shown} (must be {low} to {MAX_NUMBER:,})"
    return None


def arxiv_links(arxiv_id: str) -> tuple[str, str]:
    """Abstract-page and PDF URLs of an arXiv paper."""
    return f"https://arxiv.org/abs/{arxiv_id}", f"https://arxiv.org/pdf/{arxiv_id}"


_ET = ZoneInfo("America/New_York")


def estimate_announce_date(submitted: datetime) -> date:
    """The arXiv listing day a submission first appears in, from arXiv's published schedule.

    Submissions received before 14:00 US Eastern on a weekday are announced that evening and
    carry the next weekday's listing date; later ones wait a cycle.  Holidays are ignored, so
    this is an estimate for sources (Kaggle, API, OAI) that do not state the listing day.
    """
    local = submitted.astimezone(_ET) if submitted.tzinfo else submitted.replace(tzinfo=UTC).astimezone(_ET)
    day = local.date()
    if local.weekday() >= 5 or local.hour >= 14:  # weekend or after the cut-off: next cycle
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    day += timedelta(days=1)  # the listing is dated the day after the evening announcement
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def parse_datetime(value: str | None) -> datetime | None:
    """Parse ISO 8601 or RFC 2822 dates as sources write them; ``None`` when unparseable."""
    if not value:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso_date(value: str | None) -> str | None:
    """``YYYY-MM-DD`` of a date or datetime string, or ``None``."""
    parsed = parse_datetime(value)
    return parsed.date().isoformat() if parsed else None


def iso_datetime(value: str | None) -> str | None:
    """Canonical UTC ``YYYY-MM-DDTHH:MM:SSZ`` of a date string, or ``None``."""
    parsed = parse_datetime(value)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None
