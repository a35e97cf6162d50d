"""Hugging Face Daily Papers: saved pages, the API's JSON, the live API over real sockets, and merges."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from conftest import FIXTURES, SHARED
from support.loopback import Loopback, Reply

from paperboy.config import Settings
from paperboy.sources import hf, jsonl, kaggle
from paperboy.sources.record import PaperRecord, Rejection, SourceError

SEEDS = SHARED / "seeds"
ODD_PAGE = FIXTURES / "hf" / "odd_page.txt"
DAILY = FIXTURES / "hf" / "daily_papers.json"
SNAPSHOT = FIXTURES / "kaggle" / "arxiv-metadata-oai-snapshot.json"
CORPUS = FIXTURES / "jsonl" / "corpus.jsonl"

ABSTRACT = "An abstract long enough to look like one. " * 10  # > 300 characters


def _split(items) -> tuple[list[PaperRecord], list[Rejection]]:
    items = list(items)
    records = [i for i in items if isinstance(i, PaperRecord)]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert len(records) + len(rejections) == len(items)
    return records, rejections


def _page(path: Path, *paragraphs: str) -> Path:
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


# -- saved pages -----------------------------------------------------------------------------


@pytest.mark.skipif(not SEEDS.is_dir(), reason="no ../shared/seeds")
def test_the_five_seed_pages_hold_176_papers(store):
    pages = sorted(SEEDS.glob("*.txt"))
    assert len(pages) == 5
    entries = 0
    for page in pages:
        records, rejections = _split(hf.read_page(page))
        assert rejections == []
        assert all(r.id is None and r.announced is None and r.source == "hf" for r in records)
        assert all(r.title and len(r.abstract) > 300 for r in records)
        entries += len(records)
        summary = store.ingest("hf", str(page), hf.read_page(page))
        assert summary.rejected == 0 and summary.seen == len(records)
    assert entries == 204
    assert store.count_papers() == 176
    for page in pages:
        again = store.ingest("hf", str(page), hf.read_page(page))
        assert (again.new, again.updated, again.unchanged) == (0, 0, again.seen)
    assert store.count_papers() == 176


@pytest.mark.skipif(not SEEDS.is_dir(), reason="no ../shared/seeds")
def test_seed_page_places_point_at_the_title_line():
    page = sorted(SEEDS.glob("*.txt"))[0]
    lines = page.read_text(encoding="utf-8").split("\n")
    records, _ = _split(hf.read_page(page))
    assert records[0].place == f"{page}:11"
    for record in records:
        line = int(record.place.rsplit(":", 1)[1])
        assert lines[line - 1] == record.title
        assert lines[line + 1].startswith(record.abstract[:50])


def test_a_page_with_an_odd_header_and_stray_paragraphs():
    records, rejections = _split(hf.read_page(ODD_PAGE))
    assert [r.title for r in records] == [
        r"$\alpha$-Nets: {F}ast Learning with $\tanh$",  # wrapped over two lines, joined
        "Compilers All the Way Down",
        "Short Abstract Paper",
    ]
    assert [r.place for r in records] == [f"{ODD_PAGE}:15", f"{ODD_PAGE}:20", f"{ODD_PAGE}:26"]
    assert records[0].abstract.startswith("A title wrapped over two lines")
    # an abstract with a blank line inside: its second half is glued back on, not taken for a title
    first_half, second_half = records[1].abstract.split("\n\n")
    assert first_half.endswith("glued back on.") and second_half.startswith("And this is that second half")
    assert records[2].abstract == "Short abstract."
    assert [(r.place, r.reason) for r in rejections] == [
        (f"{ODD_PAGE}:30", "no abstract after the title 'A Dangling Title at the End'")
    ]


@pytest.mark.parametrize(
    "header",
    [
        ["new", "Get trending papers in your email inbox!", "Subscribe", "byAK and the research community", "Mar 13"],
        ["Daily Papers", "byAK and the research community"],  # no date: the known lines are skipped
        ["Sep 3rd, 2024"],  # only a date
        [],  # no header at all
    ],
)
def test_header_variants(tmp_path: Path, header: list[str]):
    page = _page(tmp_path / "page.txt", *header, "First Paper", ABSTRACT, "Second Paper", ABSTRACT)
    records, rejections = _split(hf.read_page(page))
    assert rejections == []
    assert [r.title for r in records] == ["First Paper", "Second Paper"]
    assert records[0].place == f"{page}:{2 * len(header) + 1}"
    crlf = tmp_path / "crlf.txt"  # saved on Windows, with a byte-order mark
    crlf.write_bytes(b"\xef\xbb\xbf" + page.read_bytes().replace(b"\n", b"\r\n"))
    again, _ = _split(hf.read_page(crlf))
    assert [(r.title, r.abstract, r.place.rsplit(":", 1)[1]) for r in again] == [
        (r.title, r.abstract, r.place.rsplit(":", 1)[1]) for r in records
    ]


def test_a_title_without_abstract_in_the_middle(tmp_path: Path):
    page = _page(tmp_path / "page.txt", "Mar 13", "Orphan Title", "Real Title", ABSTRACT, "Next", ABSTRACT)
    records, rejections = _split(hf.read_page(page))
    assert [r.title for r in records] == ["Real Title", "Next"]
    assert [r.place for r in rejections] == [f"{page}:3"]


def test_bad_bytes_reject_only_their_entry(tmp_path: Path):
    page = tmp_path / "page.txt"
    page.write_bytes(b"Mar 13\n\nCaf\xe9 Paper\n\n" + ABSTRACT.encode() + b"\n\nGood Paper\n\n" + ABSTRACT.encode())
    records, rejections = _split(hf.read_page(page))
    assert [r.title for r in records] == ["Good Paper"]
    assert [(r.place, r.reason) for r in rejections] == [(f"{page}:3", "not valid UTF-8")]


def test_page_errors_are_one_line_source_errors(tmp_path: Path):
    for target, words in ((tmp_path / "missing.txt", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(SourceError, match=words) as err:
            list(hf.read_page(target))
        assert "\n" not in str(err.value)
    with pytest.raises(SourceError, match="looks like JSON"):
        list(hf.read_page(DAILY))


# -- the API's JSON ----------------------------------------------------------------------------


def test_read_json_maps_the_api_fields():
    items = list(hf.read_json(DAILY))
    records, rejections = _split(items)
    first, second = records
    assert first.id == "2502.01234" and first.source == "hf" and first.place == f"{DAILY}[0]"
    assert first.title == "Analytical Engines for Language Models"
    assert first.abstract == "Engines that compute.\nWith HF summary."
    assert first.authors == ["Ada Lovelace", "Charles Babbage"]
    assert first.published == "2025-02-03T18:59:42Z"
    assert first.announced == "2025-02-04"  # the listing day, estimated from v1 (13:59 US Eastern on a Monday)
    assert first.hf == {
        "daily_at": "2025-02-04T01:23:45Z",
        "daily_by": {"user": "akhaliq", "fullname": "AK", "avatarUrl": "https://example.org/a.png"},
        "thumbnail": "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2502.01234.png",
        "ai_summary": "Short.",
    }
    assert first.upvotes == 42
    assert first.code_url == "https://github.com/ada/engines"
    assert first.abs_url == "https://arxiv.org/abs/2502.01234"
    # title and summary missing from "paper": the item's own are used; code link from the abstract
    assert second.title == "Compilers All the Way Down"
    assert second.abstract.startswith("We compile everything")
    assert (second.upvotes, second.code_url) == (7, "https://github.com/grace/cobol")
    assert [(r.place, r.reason) for r in rejections] == [
        (f"{DAILY}[2]", "expected a JSON object, got str"),
        (f"{DAILY}[3]", "field 'paper.upvotes' must be an integer"),
        (f"{DAILY}[4]", "missing title"),
    ]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"paper": "2502.00001", "title": "T"}, "field 'paper' must be an object, not str"),
        ({"paper": {"id": "not an id", "title": "T"}}, "not an arXiv id: 'not an id'"),
        ({"paper": {"id": 2502.00001, "title": "T"}}, "field 'paper.id' must be a string, not float"),
        ({"paper": {"id": "2502.00001", "title": ["T"]}}, "field 'paper.title' must be a string, not list"),
        ({"paper": {"id": "2502.00001", "title": "T", "authors": "A, B"}}, "field 'paper.authors' must be a list"),
        ({"paper": {"id": "2502.00001", "title": "T", "authors": [{"name": 3}]}}, "{name: string}"),
        ({"paper": {"id": "2502.00001", "title": "T", "publishedAt": "soon"}}, "'paper.publishedAt' is not a date"),
        ({"paper": {"id": "2502.00001", "title": "T"}, "publishedAt": "2025-13-45"}, "'publishedAt' is not a date"),
        ({"paper": {"id": "2502.00001", "title": "T", "upvotes": True}}, "'paper.upvotes' must be an integer"),
    ],
)
def test_bad_items_are_rejected_with_their_index(item: dict, reason: str):
    good = {"paper": {"id": "2502.00002", "title": "Fine"}, "publishedAt": "2025-02-04T00:00:00Z"}
    out = hf.parse_daily_papers([good, item], "api")
    assert isinstance(out[0], PaperRecord) and out[0].title == "Fine"
    assert isinstance(out[1], Rejection) and out[1].place == "api[1]"
    assert reason in out[1].reason


def test_a_bare_item_and_a_versioned_id():
    (record,) = hf.parse_daily_papers([{"paper": {"id": "2502.00003v2"}, "title": "Bare", "summary": "S"}], "api")
    assert isinstance(record, PaperRecord)
    assert (record.id, record.version, record.title, record.abstract) == ("2502.00003", 2, "Bare", "S")
    assert (record.upvotes, record.published, record.announced) == (None, None, None)


def test_json_errors_of_the_whole_file(tmp_path: Path):
    not_json = tmp_path / "daily.json"
    not_json.write_text('[{"paper": ', encoding="utf-8")
    with pytest.raises(SourceError, match="not valid JSON"):
        list(hf.read_json(not_json))
    error = tmp_path / "error.json"
    error.write_text('{"error": "Invalid date"}', encoding="utf-8")
    with pytest.raises(SourceError, match="the API answered with an error: Invalid date"):
        list(hf.read_json(error))
    with pytest.raises(SourceError, match="expected a JSON list"):
        hf.parse_daily_papers({"papers": []}, "api")
    with pytest.raises(SourceError, match="no such file"):
        list(hf.read_json(tmp_path / "missing.json"))


# -- the live API, over a real loopback server --------------------------------------------------


def _json(status: int, body: bytes) -> Reply:
    return Reply(body, status=status, content_type="application/json")


@pytest.fixture
def daily_server(request: pytest.FixtureRequest) -> Iterator[Loopback]:
    with Loopback([_json(status, body) for status, body in request.param]) as server:
        yield server


def _asked(server: Loopback) -> list[tuple[str, dict[str, str]]]:
    return [(seen.path, seen.query) for seen in server.requests]


@pytest.mark.parametrize("daily_server", [[(200, DAILY.read_bytes()), (200, b"[]")]], indirect=True)
def test_fetch_daily_asks_for_the_day(settings: Settings, daily_server: Loopback):
    items = hf.fetch_daily(replace(settings, hf_api_url=daily_server.url("/api/daily_papers")), "2025-02-04")
    records, rejections = _split(items)
    assert _asked(daily_server) == [
        ("/api/daily_papers", {"date": "2025-02-04", "p": "0", "limit": "100"}),
        ("/api/daily_papers", {"date": "2025-02-04", "p": "1", "limit": "100"}),  # empty: the end
    ]
    assert [r.id for r in records] == ["2502.01234", "2502.05678"]
    assert records[0].place == f"{daily_server.url('/api/daily_papers')}?date=2025-02-04&p=0&limit=100[0]"
    assert len(rejections) == 3


@pytest.mark.parametrize(
    "daily_server",
    [[(200, DAILY.read_bytes()[:300]), (503, b"{}"), (200, DAILY.read_bytes()), (200, b"[]")]],
    indirect=True,
)
def test_fetch_daily_retries_a_cut_off_body_and_a_server_error(settings: Settings, daily_server: Loopback):
    records, _ = _split(hf.fetch_daily(replace(settings, hf_api_url=daily_server.url("/api/daily_papers"))))
    assert len(daily_server.requests) == 4
    assert _asked(daily_server)[0] == ("/api/daily_papers", {"p": "0", "limit": "100"})  # no date: the latest
    assert len(records) == 2


@pytest.mark.parametrize("daily_server", [[(404, b'{"error": "not found"}')]], indirect=True)
def test_fetch_daily_failures_are_source_errors(settings: Settings, daily_server: Loopback):
    with pytest.raises(SourceError, match="date must be YYYY-MM-DD"):
        hf.fetch_daily(settings, "13 March")  # at once, before anything is fetched
    with pytest.raises(SourceError, match="HTTP 404"):
        list(hf.fetch_daily(replace(settings, hf_api_url=daily_server.url("/api/daily_papers")), "2025-02-04"))
    assert len(daily_server.requests) == 1  # a 404 is not retried


# -- through the store -----------------------------------------------------------------------------


def test_a_page_record_matches_an_arxiv_paper_by_normalized_title(store, tmp_path: Path):
    store.ingest("jsonl", str(CORPUS), jsonl.read(CORPUS))
    page = _page(
        tmp_path / "page.txt",
        "Mar 13",
        "α-NETS:  fast   learning, with tanh!",  # case, punctuation, white space, LaTeX vs Unicode
        ABSTRACT,
        "A Paper Nobody Has Seen",
        ABSTRACT,
    )
    summary = store.ingest("hf", str(page), hf.read_page(page))
    assert (summary.new, summary.updated + summary.unchanged) == (1, 1)
    assert store.count_papers() == 3
    paper = store.get_paper("2503.11678")
    assert paper["sources"] == ["hf", "jsonl"]
    assert paper["title"] == r"$\alpha$-Nets: {F}ast Learning with $\tanh$"  # the listing outranks HF
    assert paper["abstract"] == "We gain 40\\% speed."
    again = store.ingest("hf", str(page), hf.read_page(page))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)


def test_upvotes_land_in_the_paper(store):
    store.ingest("kaggle", str(SNAPSHOT), kaggle.read(SNAPSHOT))
    summary = store.ingest("hf", str(DAILY), hf.read_json(DAILY))
    assert (summary.new, summary.updated, summary.rejected) == (1, 1, 3)
    paper = store.get_paper("2502.01234")
    assert paper["source_upvotes"] == 42
    assert paper["sources"] == ["hf", "kaggle"]
    assert paper["abstract"] == "Engines that compute."  # the snapshot outranks HF
    assert paper["published"] == "2025-02-01T09:00:00Z"  # earliest wins
    assert store.get_paper("2502.05678")["source_upvotes"] == 7
    again = store.ingest("hf", str(DAILY), hf.read_json(DAILY))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    # a later list with more votes: the count follows
    data = orjson.loads(DAILY.read_bytes())
    data[0]["paper"]["upvotes"] = 50
    later = hf.parse_daily_papers(data, "later")
    assert store.ingest("hf", "later", later).updated == 1
    assert store.get_paper("2502.01234")["source_upvotes"] == 50


def test_a_page_paper_is_rekeyed_when_the_api_gives_its_id(store, tmp_path: Path):
    page = _page(tmp_path / "page.txt", "Mar 13", "Compilers all the way down", ABSTRACT)
    store.ingest("hf", str(page), hf.read_page(page))
    (only,) = list(store.iter_papers())
    assert only["id"].startswith("title:")
    store.ingest("hf", str(DAILY), hf.read_json(DAILY))
    assert store.count_papers() == 2
    paper = store.get_paper("2502.05678")
    assert paper is not None and paper["source_upvotes"] == 7
    assert store.get_paper(only["id"]) is None
