"""Reference-manager files: BibTeX, RIS and Zotero's CSV export in, BibTeX out.

Pure parsing, no store: each file becomes ``References`` that carry what can identify a paper
(an arXiv id, found also in eprint fields, URLs, arXiv DOIs and "arXiv:" notes; a DOI; the
title) and where each one is in the file, so a person can find the entries that were not matched
or could not be read.  A file that cannot be read at all raises ``LibraryFileError`` with one
line saying why; never a traceback.  BibTeX goes through bibtexparser (v2), RIS through rispy
(record by record, after our own pass that finds the records and their line numbers, because
rispy silently drops broken records), CSV through the standard library.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from paperboy.sources.normalize import clean_ws, normalize_doi, parse_arxiv_id
from paperboy.sources.record import SourceError

FORMATS = ("bibtex", "ris", "zotero-csv")
#: Fields where an arXiv id may hide only behind an "arXiv:" prefix or an arxiv.org link.
_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|arxiv:\s*|arxiv\s+preprint\s+(?:arxiv:)?\s*|10\.48550/arxiv\.)"
    r"(\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[a-z]{2})?/\d{7})(v\d+)?",
    re.IGNORECASE,
)
_RIS_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")


class LibraryFileError(SourceError):
    """The file cannot be read as the format it claims (or as any we know)."""


@dataclass(frozen=True)
class Reference:
    """One entry of a reference file: what may identify the paper, and where the entry is."""

    place: str
    title: str
    arxiv_id: str | None = None
    doi: str | None = None
    #: The entry's own key (BibTeX citation key, Zotero item key), for messages.
    key: str | None = None


@dataclass
class ParsedFile:
    """A file's references and the entries that could not be read (``(place, reason)``)."""

    format: str
    references: list[Reference] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


# -- finding identifiers --------------------------------------------------------------------------
def arxiv_id_in(*texts: str | None) -> str | None:
    """The first arXiv id in free text: ``arXiv:2501.00001``, arxiv.org links, arXiv DOIs, "arXiv preprint …"."""
    for text in texts:
        if not text:
            continue
        match = _ARXIV_IN_TEXT.search(text)
        if match:
            parsed = parse_arxiv_id(match.group(1))
            if parsed:
                return parsed[0]
    return None


def _eprint_id(eprint: str | None, prefix: str | None) -> str | None:
    """An eprint field's arXiv id (a bare id counts unless another archive is named)."""
    if not eprint:
        return None
    if prefix and prefix.strip().lower() not in ("arxiv", ""):
        return None
    parsed = parse_arxiv_id(eprint.strip())
    return parsed[0] if parsed else arxiv_id_in(eprint)


def _doi(*values: str | None) -> str | None:
    """A normalized DOI from the first value that holds one (arXiv's own DOIs are left to the arXiv id)."""
    for value in values:
        doi = normalize_doi(value)
        if doi:
            return doi
    return None


_BRACES = str.maketrans("", "", "{}")


def plain_title(title: str | None) -> str:
    """A BibTeX-ish title for people to read: braces dropped, white space collapsed."""
    return clean_ws((title or "").translate(_BRACES))


# -- decoding and format detection ------------------------------------------------------------------
def decode(data: bytes | str) -> str:
    """Text of an uploaded file: UTF-8 (with or without BOM), else Windows-1252; binary files refused."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    if b"\x00" in data[:4096]:
        raise LibraryFileError("this is a binary file, not a BibTeX, RIS or CSV text file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def detect_format(text: str, filename: str = "") -> str:
    """``bibtex``, ``ris`` or ``zotero-csv``, from the file name, else from the content."""
    name = filename.lower()
    if name.endswith((".bib", ".bibtex")):
        return "bibtex"
    if name.endswith(".ris"):
        return "ris"
    if name.endswith(".csv"):
        return "zotero-csv"
    head = text.lstrip()[:20000]
    if re.search(r"^\s*@[A-Za-z]+\s*[{(]", head, re.MULTILINE):
        return "bibtex"
    if re.search(r"^TY  -", head, re.MULTILINE):
        return "ris"
    first = head.splitlines()[0] if head else ""
    if "," in first and "title" in first.lower():
        return "zotero-csv"
    raise LibraryFileError(
        "cannot tell what kind of file this is: expected BibTeX (.bib), RIS (.ris) or a Zotero CSV export (.csv)"
    )


def parse_library(data: bytes | str, filename: str = "", fmt: str | None = None) -> ParsedFile:
    """Parse a reference file of the given format (``None`` or ``auto``: detected)."""
    text = decode(data)
    if not text.strip():
        raise LibraryFileError("the file is empty")
    if fmt in (None, "", "auto"):
        fmt = detect_format(text, filename)
    if fmt == "bibtex":
        return parse_bibtex(text)
    if fmt == "ris":
        return parse_ris(text)
    if fmt in ("zotero-csv", "csv"):
        return parse_zotero_csv(text)
    raise LibraryFileError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


# -- BibTeX ------------------------------------------------------------------------------------------
def parse_bibtex(text: str) -> ParsedFile:
    """Entries of a BibTeX file; blocks bibtexparser could not read are listed with their line."""
    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)  # it logs every broken block itself
    try:
        library = bibtexparser.parse_string(text)
    except Exception as exc:  # the parser's own failures, whatever their type
        raise LibraryFileError(f"not a readable BibTeX file: {exc}") from exc
    out = ParsedFile("bibtex")
    for block in library.blocks:
        line = f"line {block.start_line + 1}" if block.start_line is not None else "?"
        entry: Any = block
        duplicate = isinstance(block, DuplicateBlockKeyBlock)
        if duplicate:  # the same key twice still names a paper (its values come unprocessed)
            entry = block.ignore_error_block
        if isinstance(entry, Entry):
            if entry.entry_type.lower() in ("string", "preamble", "comment"):
                continue
            out.references.append(_bib_reference(entry, line, raw=duplicate))
        elif isinstance(block, ParsingFailedBlock):
            error = block.error
            lines = str(getattr(error, "abort_reason", None) or error or "").strip().splitlines()
            reason = f"could not read this entry: {lines[0][:200]}" if lines else "could not read this entry"
            out.problems.append((line, reason))
    if not out.references:
        if out.problems:
            place, reason = out.problems[0]
            raise LibraryFileError(f"no readable BibTeX entry ({place}: {reason})")
        raise LibraryFileError("no BibTeX entries found (entries look like @article{key, title = {…}, …})")
    return out


def _unenclose(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and (value[0], value[-1]) in (("{", "}"), ('"', '"')):
        return value[1:-1]
    return value


def _bib_reference(entry: Any, line: str, raw: bool = False) -> Reference:
    fields = {f.key.lower(): _unenclose(str(f.value)) if raw else str(f.value) for f in entry.fields}
    get = fields.get
    arxiv = (
        _eprint_id(get("eprint"), get("archiveprefix") or get("eprinttype"))
        or _eprint_id(get("arxivid") or get("arxiv"), None)
        or arxiv_id_in(get("url"), get("doi"), get("journal"), get("note"), get("howpublished"), get("number"))
    )
    doi = _doi(get("doi"))
    if doi and doi.startswith("10.48550/"):
        doi = None
    return Reference(
        place=f"{line} ({entry.key})", title=plain_title(get("title")), arxiv_id=arxiv, doi=doi, key=entry.key
    )


# -- RIS ---------------------------------------------------------------------------------------------
def parse_ris(text: str) -> ParsedFile:
    """Records of a RIS file (``TY  -`` … ``ER  -``), each read by rispy, with its starting line."""
    import rispy

    out = ParsedFile("ris")
    records: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        tag = _RIS_TAG.match(line)
        if tag and tag.group(1) == "TY":
            if current is not None:
                out.problems.append((f"line {start}", "record has no end (ER  -) before the next one starts"))
            current, start = [line], number
        elif tag and tag.group(1) == "ER":
            if current is None:
                out.problems.append((f"line {number}", "end of a record (ER  -) without its start (TY  -)"))
                continue
            current.append("ER  - ")
            records.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
        elif line.strip():
            out.problems.append((f"line {number}", "text outside any record (records start with TY  -)"))
    if current is not None:
        out.problems.append((f"line {start}", "the file ends inside this record (no ER  - line)"))
    if not records:
        if start:  # a record began somewhere: say what is wrong with it
            place, reason = next(pr for pr in out.problems if "TY" in pr[1] or "ER" in pr[1])
            raise LibraryFileError(f"no complete RIS record ({place}: {reason})")
        raise LibraryFileError("no RIS records found (a RIS file has lines like 'TY  - JOUR' … 'ER  - ')")
    for start, lines in records:
        place = f"line {start}"
        try:
            parsed = rispy.loads("\n".join(lines) + "\n")
        except Exception as exc:  # rispy's own errors, whatever their type
            out.problems.append((place, f"could not read this record: {exc}"[:200]))
            continue
        if not parsed:
            out.problems.append((place, "could not read this record"))
            continue
        out.references.append(_ris_reference(parsed[0], place))
    return out


def _ris_reference(rec: dict[str, Any], place: str) -> Reference:
    def first(*keys: str) -> str | None:
        for key in keys:
            value = rec.get(key)
            if isinstance(value, list):
                value = value[0] if value else None
            if value:
                return str(value)
        return None

    def joined(*keys: str) -> str:
        parts: list[str] = []
        for key in keys:
            value = rec.get(key)
            if isinstance(value, list):
                parts.extend(str(v) for v in value)
            elif value:
                parts.append(str(value))
        unknown = rec.get("unknown_tag") or {}
        for values in unknown.values():
            parts.extend(str(v) for v in values)
        return " ".join(parts)

    title = first("title", "primary_title", "secondary_title", "translated_title", "short_title") or ""
    doi = _doi(first("doi"))
    arxiv = arxiv_id_in(
        joined("urls", "doi", "notes", "note", "number", "custom1", "custom2", "alternate_title3", "secondary_title")
    )
    if doi and doi.startswith("10.48550/"):
        doi = None
    return Reference(place=place, title=clean_ws(title), arxiv_id=arxiv, doi=doi, key=first("id"))


# -- Zotero CSV --------------------------------------------------------------------------------------
def parse_zotero_csv(text: str) -> ParsedFile:
    """Rows of Zotero's "Export Collection… > CSV" (needs a Title column; DOI, Url, Extra and others help)."""
    out = ParsedFile("zotero-csv")
    csv.field_size_limit(10_000_000)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise LibraryFileError(f"not a readable CSV file: {exc or 'no header row'}") from exc
    columns = {_column(name): i for i, name in enumerate(header)}
    if "title" not in columns:
        shown = ", ".join(h for h in header[:8] if h) or "none"
        raise LibraryFileError(f"not a Zotero CSV export: no Title column (columns found: {shown})")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise LibraryFileError(f"CSV broken at line {reader.line_num}: {exc}") from exc
        place = f"row {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header) and len(row) <= columns["title"]:
            out.problems.append((place, f"only {len(row)} of {len(header)} columns"))
            continue

        def cell(name: str, row: list[str] = row) -> str:
            i = columns.get(name)
            return row[i] if i is not None and i < len(row) else ""

        title = clean_ws(cell("title"))
        arxiv = arxiv_id_in(
            cell("url"),
            cell("doi"),
            cell("extra"),
            cell("report number"),
            cell("number"),
            cell("archive id"),
            cell("publication title"),
            cell("notes"),
            cell("link attachments"),
        )
        doi = _doi(cell("doi"))
        if doi and doi.startswith("10.48550/"):
            doi = None
        if not (title or arxiv or doi):
            out.problems.append((place, "no title, DOI or arXiv id"))
            continue
        out.references.append(Reference(place=place, title=title, arxiv_id=arxiv, doi=doi, key=cell("key") or None))
    if not out.references:
        if out.problems:
            place, reason = out.problems[0]
            raise LibraryFileError(f"no readable row in the CSV file ({place}: {reason})")
        raise LibraryFileError("the CSV file has a header but no rows")
    return out


def _column(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


# -- BibTeX export -------------------------------------------------------------------------------------
_UNESCAPED = re.compile(r"(?<!\\)([&%#])")


def _field(value: str) -> str:
    """A value safe inside ``{…}``: braces balanced (else dropped), LaTeX specials escaped."""
    value = clean_ws(value)
    depth = 0
    for char in value:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        value = value.translate(_BRACES)
    return _UNESCAPED.sub(r"\\\1", value)


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", folded).lower()


_SKIP_WORDS = {"a", "an", "the", "on", "of", "for", "in", "to", "and", "with", "towards", "toward"}


def citation_key(paper: dict[str, Any]) -> str:
    """``lastname2025firstword`` (ASCII), as Google Scholar writes them."""
    authors = paper.get("authors") or []
    last = _ascii_word(authors[0].split(",")[0].split()[-1]) if authors and authors[0].split() else ""
    year = str(paper.get("published") or paper.get("announced") or "")[:4]
    words = [w for w in (_ascii_word(x) for x in plain_title(paper.get("title")).split()) if w]
    word = next((w for w in words if w not in _SKIP_WORDS), words[0] if words else "")
    return (last or "paper") + (year if year.isdigit() else "") + word


def to_bibtex(papers: list[dict[str, Any]]) -> str:
    """BibTeX for stored papers: ``@misc`` with arXiv's eprint fields (``@article`` when a journal is known)."""
    seen: dict[str, int] = {}
    chunks = []
    for paper in papers:
        key = citation_key(paper)
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n:
            key += chr(ord("a") + n - 1) if n <= 26 else str(n)
        fields: list[tuple[str, str]] = [("title", "{" + _field(paper.get("title") or "") + "}")]
        authors = [_field(a).replace(" and ", " {and} ") for a in paper.get("authors") or []]
        if authors:
            fields.append(("author", " and ".join(authors)))
        year = str(paper.get("published") or paper.get("announced") or "")[:4]
        if year.isdigit():
            fields.append(("year", year))
        pid = str(paper.get("id") or "")
        arxiv = parse_arxiv_id(pid) if paper.get("is_arxiv", True) else None
        if arxiv:
            fields += [("eprint", arxiv[0]), ("archivePrefix", "arXiv")]
            primary = (paper.get("categories") or [None])[0]
            if primary:
                fields.append(("primaryClass", _field(primary)))
        if paper.get("journal_ref"):
            fields.append(("journal", _field(paper["journal_ref"])))
        if paper.get("doi"):
            fields.append(("doi", _field(paper["doi"])))
        url = paper.get("abs_url") or (f"https://arxiv.org/abs/{arxiv[0]}" if arxiv else None)
        if url:
            fields.append(("url", _field(url)))
        if paper.get("note"):  # the user's private note (issue 18), when exporting their own library
            fields.append(("note", _field(paper["note"])))
        kind = "article" if paper.get("journal_ref") else "misc"
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        chunks.append(f"@{kind}{{{key},\n{body}\n}}\n")
    return "\n".join(chunks)
