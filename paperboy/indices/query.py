"""The search syntax, parsed by our own code.

Why our own parser: raw user text must never reach an engine's query parser, whose syntax
(``field:value``, ``AND``, ``^2``, ``[a TO b]``…) would turn stray punctuation into errors or
into queries nobody meant.  Here any string parses; what cannot be understood becomes a plain
word or a warning, never an exception.

Syntax (see ``SYNTAX_HELP``)::

    diffusion transformer            ranked by BM25: any word may match, papers with more (and rarer) words first
    "state space model"              a phrase: these words in this order
    -survey   NOT survey   -"a b"    exclude a word or a phrase
    author:lecun  author:"Yann LeCun"   author filter (repeatable: all must be co-authors)
    cat:cs.LG cat:stat.ML   cat:cs    category filter (repeatable: any of them; ``cs`` = every cs.*)
    since:2025-03-01 until:2025-06   announcement-day range, inclusive (YYYY, YYYY-MM or YYYY-MM-DD)
    topic:12  topic:"graph neural networks"   a topic by number, or a key phrase (repeatable: any of them)
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

#: Most words, phrases and filters one query may hold; the rest is dropped (and said so).
MAX_TERMS = 64
#: Longer words are cut: no real word is this long, and the engine drops long tokens anyway.
MAX_WORD = 80
#: Text beyond this many characters is not looked at (10 KB of pasted text still parses).
MAX_CHARS = 20_000

SYNTAX_HELP = """\
words            ranked by BM25 over title, abstract and authors: more of the words (and rarer ones) first
"a phrase"       the words in this order
-word, -"a b"    leave out papers with the word or phrase (NOT word works too)
author:NAME      author:"First Last" or a surname; repeat for co-authors (all must match)
cat:cs.LG        category; repeat for alternatives (any); cat:cs means every cs.* category
since:DATE       announced on or after DATE (YYYY-MM-DD, YYYY-MM or YYYY)
until:DATE       announced on or before DATE (a month or year means its last day)
topic:ID         papers of a topic (its number on /topics), or topic:"a key phrase"; repeat for alternatives"""

_FIELD_ALIASES = {
    "author": "author",
    "au": "author",
    "by": "author",
    "cat": "cat",
    "category": "cat",
    "since": "since",
    "from": "since",
    "after": "since",
    "until": "until",
    "to": "until",
    "before": "until",
    "topic": "topic",
}
_OPERATORS = {"AND", "OR", "&&", "||", "+", "-", "!", "NOT"}
# One token: an optional sign, then a ``field:"quoted value"``, a ``field:value``, a ``"phrase"``
# (an unbalanced quote runs to the end of the text) or a bare word.
_TOKEN_RE = re.compile(
    r"""(?P<sign>[-+!]?)
        (?:
            (?P<field>[A-Za-z]+):(?:"(?P<fquoted>[^"]*)"?|(?P<fvalue>[^\s"]*))
          | "(?P<phrase>[^"]*)"?
          | (?P<word>[^\s"]+)
        )""",
    re.VERBOSE,
)
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_CATEGORY_RE = re.compile(r"^[a-z][a-z0-9\-]*(?:\.[a-z0-9\-]+)?$")


@dataclass
class Query:
    """A parsed search: what to match, what to leave out, and filters.  Never raises to build."""

    terms: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    excluded_phrases: list[str] = field(default_factory=list)
    #: Every one must be an author of the paper (co-authors).
    authors: list[str] = field(default_factory=list)
    #: Any one of them (lower case, e.g. ``cs.lg``; ``cs`` alone means every ``cs.*``).
    categories: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    #: Things the parser ignored or changed, in words a user can read.
    warnings: list[str] = field(default_factory=list)
    #: True when the text held more than ``MAX_TERMS`` items and the rest was dropped.
    truncated: bool = False
    #: ``topic:`` values: topic numbers or key phrases (any of them).
    topics: list[str] = field(default_factory=list)
    #: The papers those stand for, filled in by the search service (None: not looked up yet).
    topic_papers: frozenset[str] | None = None

    @property
    def has_text(self) -> bool:
        """Whether there is anything to rank by (words or phrases), not just filters."""
        return bool(self.terms or self.phrases)

    @property
    def has_filters(self) -> bool:
        """Whether any author, category or date filter is set."""
        return bool(self.authors or self.categories or self.since or self.until or self.topics)

    @property
    def is_empty(self) -> bool:
        """Nothing to search for: no words, phrases, exclusions or filters."""
        return not (self.has_text or self.excluded or self.excluded_phrases or self.has_filters)

    @property
    def terms_for_highlight(self) -> list[str]:
        """Lower-case words of the terms and phrases (not exclusions), once each, for snippets."""
        seen: dict[str, None] = {}
        for text in (*self.terms, *self.phrases):
            for word in _WORD_RE.findall(text.lower()):
                seen.setdefault(word, None)
        return list(seen)

    def describe(self) -> str:
        """The query written back in the search syntax (normalized): for logs and "you searched for"."""
        parts = list(self.terms)
        parts += [f'"{p}"' for p in self.phrases]
        parts += [f"-{w}" for w in self.excluded]
        parts += [f'-"{p}"' for p in self.excluded_phrases]
        parts += [f'author:"{a}"' if " " in a else f"author:{a}" for a in self.authors]
        parts += [f"cat:{c}" for c in self.categories]
        if self.since:
            parts.append(f"since:{self.since.isoformat()}")
        if self.until:
            parts.append(f"until:{self.until.isoformat()}")
        parts += [f'topic:"{t}"' if " " in t else f"topic:{t}" for t in self.topics]
        return " ".join(parts)


def _clean_text(text: str) -> str:
    """NFKC-normalize and turn control and format characters (NUL, ZWJ, RTL marks…) into spaces."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(" " if unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"} else c for c in text)


def _has_word(text: str) -> bool:
    return any(c.isalnum() for c in text)


def parse_date(value: str | date | None, *, end: bool = False) -> date | None:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as a day: the first one, or the last when ``end``.

    Raises ``ValueError`` for anything else (``parse_query`` turns that into a warning).
    """
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    match = _DATE_RE.match(value.strip())
    if not match:
        raise ValueError(f"not a date: {value!r} (use YYYY-MM-DD, YYYY-MM or YYYY)")
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else (12 if end else 1)
    if match.group(3):
        day = int(match.group(3))
    else:
        day = calendar.monthrange(year, month)[1] if end and 1 <= month <= 12 else 1
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"not a date: {value!r} ({exc})") from None


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)]


class _Builder:
    """Collects items into a Query, enforcing the item cap and recording warnings."""

    def __init__(self) -> None:
        self.query = Query()
        self.count = 0

    def room(self) -> bool:
        if self.count >= MAX_TERMS:
            if not self.query.truncated:
                self.query.truncated = True
                self.query.warnings.append(f"only the first {MAX_TERMS} words and filters were used")
            return False
        self.count += 1
        return True

    def warn(self, message: str) -> None:
        if message not in self.query.warnings and len(self.query.warnings) < 20:
            self.query.warnings.append(message)

    def add_word(self, word: str, negative: bool) -> None:
        word = word.lstrip("+-!")[:MAX_WORD]  # signs inside words mean nothing to the analyzer
        if word in _OPERATORS:
            return
        if not _has_word(word):
            return
        target = self.query.excluded if negative else self.query.terms
        if word not in target and self.room():
            target.append(word)

    def add_phrase(self, text: str, negative: bool) -> None:
        words = " ".join(text.split())[: MAX_WORD * 8]
        if not _has_word(words):
            return
        found = _WORD_RE.findall(words)
        if len(found) == 1:  # a one-word "phrase" is just that word
            self.add_word(found[0], negative)
            return
        target = self.query.excluded_phrases if negative else self.query.phrases
        if words not in target and self.room():
            target.append(words)

    def add_author(self, name: str) -> None:
        name = " ".join(_clean_text(name).replace('"', " ").split())[:200]
        if not _has_word(name):
            self.warn("author: needs a name")
            return
        if name not in self.query.authors and self.room():
            self.query.authors.append(name)

    def add_category(self, value: str) -> None:
        cat = value.strip().lower()
        if not _CATEGORY_RE.match(cat):
            self.warn(f"ignored category {value[:40]!r} (expected e.g. cs.LG)")
            return
        if cat not in self.query.categories and self.room():
            self.query.categories.append(cat)

    def add_topic(self, value: str) -> None:
        text = " ".join(_clean_text(value).replace('"', " ").split())[:200]
        if not _has_word(text):
            self.warn("topic: needs a topic number or a phrase")
            return
        if text not in self.query.topics and self.room():
            self.query.topics.append(text)

    def set_date(self, which: str, value: str | date) -> None:
        try:
            day = parse_date(value, end=which == "until")
        except ValueError as exc:
            self.warn(f"ignored {which}: {exc}")
            return
        setattr(self.query, which, day)


def parse_query(
    text: str | None,
    *,
    author: str | Sequence[str] | None = None,
    categories: str | Sequence[str] | None = None,
    since: str | date | None = None,
    until: str | date | None = None,
) -> Query:
    """Parse search text (and filters given as arguments, merged in) into a ``Query``.

    Never raises: unbalanced quotes, stray operators, control characters and oversized input
    all parse; unusable filter values are dropped and explained in ``Query.warnings``.
    """
    b = _Builder()
    if not isinstance(text, str):
        text = ""
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        b.query.truncated = True
        b.warn(f"only the first {MAX_CHARS} characters were read")
    text = _clean_text(text)

    negate_next = False
    for match in _TOKEN_RE.finditer(text):
        sign = match.group("sign")
        negative = negate_next or sign in {"-", "!"}
        negate_next = False
        name = match.group("field")
        if name is not None:
            kind = _FIELD_ALIASES.get(name.lower())
            value = match.group("fquoted")
            quoted = value is not None
            if value is None:
                value = match.group("fvalue") or ""
            if kind is None:  # not a filter we know ("http://x", "re:thing"): plain words
                if quoted:
                    b.add_word(name, negative)
                    b.add_phrase(value, negative)
                else:
                    b.add_word(f"{name}:{value}", negative)
                continue
            if negative:
                b.warn(f"-{name}: is not supported; the filter was applied as written")
            if not value.strip():
                b.warn(f"{name}: needs a value")
            elif kind == "author":
                b.add_author(value)
            elif kind == "cat":
                b.add_category(value)
            elif kind == "topic":
                b.add_topic(value)
            else:
                b.set_date(kind, value)
            continue
        phrase = match.group("phrase")
        if phrase is not None:
            b.add_phrase(phrase, negative)
            continue
        word = match.group("word") or ""
        if word == "NOT" and not sign:
            negate_next = True
            continue
        if word in _OPERATORS and not sign:
            continue
        b.add_word(word, negative)

    for name in _as_list(author):
        b.add_author(name)
    for cat in _as_list(categories):
        b.add_category(cat)
    if since is not None:
        b.set_date("since", since)
    if until is not None:
        b.set_date("until", until)

    q = b.query
    if q.since and q.until and q.since > q.until:
        b.warn(f"since:{q.since} is after until:{q.until}: nothing can match")
    return q
