"""The Kaggle snapshot importer: field mapping, versions, old-style ids, bad lines, streaming, merges."""

from __future__ import annotations

import gzip
import inspect
import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import orjson
import pytest
from conftest import FIXTURES

from paperboy.sources import jsonl, kaggle
from paperboy.sources.normalize import estimate_announce_date
from paperboy.sources.record import PaperRecord, Rejection, SourceError

SNAPSHOT = FIXTURES / "kaggle" / "arxiv-metadata-oai-snapshot.json"


def _records(items) -> list[PaperRecord]:
    items = list(items)
    assert all(isinstance(i, PaperRecord) for i in items), [i for i in items if not isinstance(i, PaperRecord)]
    return items


def _line(**overrides) -> dict:
    """One snapshot line in the documented shape, with some fields replaced."""
    base = {
        "id": "2502.00001",
        "submitter": "Ada Lovelace",
        "authors": "Ada Lovelace",
        "title": "A Paper",
        "comments": None,
        "journal-ref": None,
        "doi": None,
        "report-no": None,
        "categories": "cs.LG",
        "license": None,
        "abstract": "An abstract.",
        "versions": [{"version": "v1", "created": "Mon, 3 Feb 2025 10:00:00 GMT"}],
        "update_date": "2025-02-04",
        "authors_parsed": [["Lovelace", "Ada", ""]],
    }
    base.update(overrides)
    return base


def _write(path: Path, *lines: dict | str | bytes) -> Path:
    raw = [orjson.dumps(x) if isinstance(x, dict) else x.encode() if isinstance(x, str) else x for x in lines]
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def test_every_field_is_mapped():
    first = _records(kaggle.read(SNAPSHOT))[0]
    assert first.id == "0704.0001" and first.source == "kaggle" and first.place == f"{SNAPSHOT}:1"
    assert first.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    assert first.abstract.startswith("A fully differential calculation") and first.abstract.endswith("colliders.")
    assert first.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]  # from authors_parsed
    assert first.categories == ["hep-ph"]
    assert first.comment == "37 pages, 15 figures; published version"
    assert first.journal_ref == "Phys.Rev.D76:013009,2007"
    assert first.doi == "10.1103/PhysRevD.76.013009"  # case kept
    assert first.license is None  # null stays None
    assert first.version == 2
    assert first.versions == [
        {"version": 1, "created": "2007-04-02T19:18:42Z"},
        {"version": 2, "created": "2007-07-24T20:10:27Z"},
    ]
    assert first.published == "2007-04-02T19:18:42Z"
    assert first.updated == "2007-07-24T20:10:27Z"
    # Monday 15:18 in New York is after the 14:00 cut-off: announced Tuesday evening, listed Wednesday
    assert first.announced == "2007-04-04"
    assert first.abs_url == "https://arxiv.org/abs/0704.0001"
    assert first.pdf_url == "https://arxiv.org/pdf/0704.0001"


def test_old_style_ids_suffixes_and_the_authors_fallback():
    _, old, perelman, newer = _records(kaggle.read(SNAPSHOT))
    assert old.id == "hep-th/9901001" and old.abs_url == "https://arxiv.org/abs/hep-th/9901001"
    assert old.title == "Strings on a Circle"
    assert old.authors == ["J. Roe", "R. Doe Jr", "K. Moe"]  # "First Last Suffix"
    assert old.categories == ["hep-th", "gr-qc"]
    assert (old.version, old.published, old.updated) == (1, "1999-01-01T10:00:00Z", "1999-01-01T10:00:00Z")
    assert old.announced == "1999-01-04"  # a Friday morning submission: listed Monday
    assert perelman.id == "math/0211159"
    assert perelman.authors == ["Grisha Perelman"]  # no authors_parsed: the authors string
    # authors_parsed empty: the string, split on commas and "and"; versions in any order
    assert newer.authors == ["Ada Lovelace", "Charles Babbage", "Alan Turing"]
    assert newer.version == 3
    assert [v["version"] for v in newer.versions] == [1, 2, 3]
    assert newer.published == "2025-02-01T09:00:00Z" and newer.updated == "2025-02-20T12:30:00Z"
    assert newer.categories == ["cs.CL", "cs.LG"]  # primary first, duplicates dropped
    assert newer.license == "http://creativecommons.org/licenses/by/4.0/"
    assert newer.code_url == "https://github.com/ada/engines"


@pytest.mark.parametrize(
    ("authors", "names"),
    [
        ("A. One, B. Two and C. Three", ["A. One", "B. Two", "C. Three"]),
        ("A. One, B. Two, and C. Three", ["A. One", "B. Two", "C. Three"]),
        ("A. One (CERN, Geneva), B. Two (MIT)", ["A. One", "B. Two"]),
        ("Alexander Andersson and Sandra Anderson", ["Alexander Andersson", "Sandra Anderson"]),
        ("  Single   Name\n ", ["Single Name"]),
    ],
)
def test_authors_string_is_split_when_there_is_no_parsed_list(authors: str, names: list[str]):
    record = kaggle.parse_object(_line(authors=authors, authors_parsed=None), "t:1")
    assert isinstance(record, PaperRecord)
    assert record.authors == names


def test_parsed_authors_of_unusual_length():
    record = kaggle.parse_object(_line(authors_parsed=[["Collaboration", "The ATLAS"], ["Plato"], []]), "t:1")
    assert isinstance(record, PaperRecord)
    assert record.authors == ["The ATLAS Collaboration", "Plato"]


def test_without_versions_the_update_date_is_the_update():
    record = kaggle.parse_object(_line(versions=[]), "t:1")
    assert isinstance(record, PaperRecord)
    assert (record.version, record.versions, record.published, record.announced) == (None, [], None, None)
    assert record.updated == "2025-02-04"


def test_the_fast_date_parser_agrees_with_the_rfc_parser():
    rnd = random.Random(3)
    start = datetime(1991, 8, 1, tzinfo=UTC)
    for _ in range(2000):
        moment = start + timedelta(seconds=rnd.randrange(35 * 365 * 86400))
        text = f"{moment:%a}, {moment.day} {moment:%b %Y %H:%M:%S} GMT"
        assert kaggle.parse_created(text) == parsedate_to_datetime(text) == moment
        # the listing-day estimate, cached by UTC hour, equals the direct computation
        record = kaggle.parse_object(_line(versions=[{"version": "v1", "created": text}]), "t:1")
        assert record.announced == estimate_announce_date(moment).isoformat(), text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mon, 02 Apr 2007 19:18:42 GMT", datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)),  # zero-padded day
        ("Mon, 2 Apr 2007 21:18:42 +0200", datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)),  # other offsets
        ("2007-04-02T19:18:42Z", datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)),
        ("Mon, 31 Feb 2007 19:18:42 GMT", None),
        ("yesterday", None),
    ],
)
def test_other_date_shapes_go_to_the_fallback(text: str, expected: datetime | None):
    assert kaggle.parse_created(text) == expected


def test_bad_lines_are_rejected_with_place_and_reason(tmp_path: Path):
    path = _write(
        tmp_path / "snapshot.json",
        _line(id="2502.00001", title="Good One"),
        '{"id": "2502.00002", "title": ',
        "[1, 2]",
        _line(id=None),
        _line(id=2502.00005),
        _line(id="not-an-id"),
        _line(title=None),
        _line(title=7),
        _line(versions="v1"),
        _line(versions=[{"version": "first", "created": "Mon, 3 Feb 2025 10:00:00 GMT"}]),
        _line(versions=[{"version": "v1", "created": "sometime in 2025"}]),
        _line(authors_parsed="Lovelace, Ada"),
        _line(authors_parsed=[["Lovelace", None, ""]]),
        _line(categories=["cs.LG"]),
        _line(update_date="04/02/2025"),
        b'{"id": "2502.00016", "title": "Caf\xe9"}',
        "",
        _line(id="2502.00018", title="Good Two"),
    )
    items = list(kaggle.read(path))
    records = [i for i in items if isinstance(i, PaperRecord)]
    assert [(r.id, r.place) for r in records] == [("2502.00001", f"{path}:1"), ("2502.00018", f"{path}:18")]
    reasons = {int(i.place.rsplit(":", 1)[1]): i.reason for i in items if isinstance(i, Rejection)}
    assert all(i.place.startswith(f"{path}:") for i in items)
    assert sorted(reasons) == list(range(2, 17))
    expected = {
        2: "bad JSON",
        3: "expected a JSON object, got list",
        4: "missing id",
        5: "field 'id' must be a string, not float",
        6: "not an arXiv id: 'not-an-id'",
        7: "missing title",
        8: "field 'title' must be a string, not int",
        9: "field 'versions' must be a list",
        10: "bad version label: 'first'",
        11: "unreadable date in 'versions': 'sometime in 2025'",
        12: "field 'authors_parsed' must be a list",
        13: "field 'authors_parsed' must be a list",
        14: "field 'categories' must be a string",
        15: "field 'update_date' is not a YYYY-MM-DD day",
        16: "not valid UTF-8",
    }
    for line, words in expected.items():
        assert words in reasons[line], (line, reasons[line])


def test_gzip_and_errors_of_the_whole_file(tmp_path: Path):
    packed = tmp_path / "snapshot.json.gz"
    packed.write_bytes(gzip.compress(SNAPSHOT.read_bytes()))
    assert [r.id for r in _records(kaggle.read(packed))] == [r.id for r in _records(kaggle.read(SNAPSHOT))]
    for target, words in ((tmp_path / "missing.json", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(SourceError, match=words):
            list(kaggle.read(target))
    with pytest.raises(SourceError, match="not a Kaggle snapshot"):
        list(kaggle.read(_write(tmp_path / "notes.txt", "id,title", "1,x")))


def test_streams_with_flat_memory(tmp_path: Path):
    """20k lines (~45 MB) read with a peak under 2 MB (measured: 0.05 MB): only the current line is held."""
    abstract = "word " * 400
    path = tmp_path / "big.json"
    with path.open("wb") as fh:
        for i in range(20_000):
            fh.write(orjson.dumps(_line(id=f"2502.{i:05d}", title=f"Paper {i}", abstract=abstract)) + b"\n")
    assert path.stat().st_size > 40_000_000
    items = kaggle.read(path)
    assert inspect.isgenerator(items)
    tracemalloc.start()
    try:
        count = 0
        for item in items:
            assert isinstance(item, PaperRecord)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 2_000_000, f"peak {peak / 1e6:.1f} MB"


# -- through the store ---------------------------------------------------------------------


def test_importing_the_snapshot_twice_changes_nothing(store):
    first = store.ingest("kaggle", str(SNAPSHOT), kaggle.read(SNAPSHOT))
    assert (first.new, first.updated, first.rejected) == (4, 0, 0)
    before = {p["id"]: p for p in store.iter_papers()}
    again = store.ingest("kaggle", str(SNAPSHOT), kaggle.read(SNAPSHOT))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 4)
    assert {p["id"]: p for p in store.iter_papers()} == before
    assert set(before) == {"0704.0001", "hep-th/9901001", "math/0211159", "2502.01234"}


def test_a_later_version_updates_the_paper_and_both_versions_are_remembered(store, tmp_path: Path):
    v1 = {"version": "v1", "created": "Mon, 3 Feb 2025 10:00:00 GMT"}
    v2 = {"version": "v2", "created": "Mon, 17 Feb 2025 16:30:00 GMT"}
    old = _write(tmp_path / "old.json", _line(title="First Title", comments="9 pages", versions=[v1]))
    new = _write(
        tmp_path / "new.json",
        _line(title="Second Title", comments=None, doi="10.1/X", versions=[v1, v2], update_date="2025-02-18"),
    )
    assert store.ingest("kaggle", "old", kaggle.read(old)).new == 1
    summary = store.ingest("kaggle", "new", kaggle.read(new))
    assert (summary.new, summary.updated) == (0, 1)
    paper = store.get_paper("2502.00001")
    assert paper["title"] == "Second Title" and paper["doi"] == "10.1/X"
    assert paper["comment"] == "9 pages"  # the later record had none: kept
    assert paper["version"] == 2
    assert paper["versions"] == [
        {"version": 1, "created": "2025-02-03T10:00:00Z"},
        {"version": 2, "created": "2025-02-17T16:30:00Z"},
    ]
    assert paper["published"] == "2025-02-03T10:00:00Z" and paper["updated"] == "2025-02-17T16:30:00Z"
    assert paper["announced"] == "2025-02-04"
    # the older snapshot again: nothing regresses
    store.ingest("kaggle", "old", kaggle.read(old))
    assert store.get_paper("2502.00001")["title"] == "Second Title"


def test_a_record_without_id_matches_by_doi(store, tmp_path: Path):
    store.ingest("kaggle", str(SNAPSHOT), kaggle.read(SNAPSHOT))
    other = _write(
        tmp_path / "other.jsonl",
        {"title": "Prompt diphotons, a different wording", "doi": "https://doi.org/10.1103/PhysRevD.76.013009"},
    )
    summary = store.ingest("jsonl", str(other), jsonl.read(other))
    assert (summary.new, summary.updated + summary.unchanged) == (0, 1)
    assert store.count_papers() == 4
    paper = store.get_paper("0704.0001")
    assert paper["sources"] == ["jsonl", "kaggle"]
    assert paper["title"].startswith("Calculation of prompt diphoton")  # the snapshot outranks the file
