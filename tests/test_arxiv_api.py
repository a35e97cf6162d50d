"""The arXiv API importer against a real HTTP server on loopback: paging, ids, errors, retries, rate limit."""

from __future__ import annotations

import threading
import time

import pytest
from support.loopback import Loopback, Reply, Seen, assert_spaced, fixture, fresh_limiter

from paperboy.config import Settings
from paperboy.sources import arxiv_api
from paperboy.sources.record import PaperRecord, Rejection, SourceError

PAGE1 = fixture("api_search_page1.xml")
PAGE2 = fixture("api_search_page2.xml")


def _records(items: list) -> list[PaperRecord]:
    return [item for item in items if isinstance(item, PaperRecord)]


def _api(settings: Settings, srv: Loopback, **overrides: object) -> Settings:
    return settings.with_overrides(arxiv_api_url=srv.url("/api/query"), **overrides)


def test_pages_with_start_and_max_results_until_total(settings):
    with Loopback([Reply(PAGE1), Reply(PAGE2)]) as srv:
        items = list(arxiv_api.read(_api(settings, srv), query="cat:cs.LG", page_size=3))
    queries = [seen.query for seen in srv.requests]
    assert queries == [
        {"search_query": "cat:cs.LG", "start": "0", "max_results": "3"},
        {"search_query": "cat:cs.LG", "start": "3", "max_results": "3"},
    ]
    assert [r.id for r in _records(items)] == ["2501.00001", "2501.00002", "hep-th/9901001", "2501.00004"]
    rejections = [item for item in items if isinstance(item, Rejection)]
    assert rejections == [Rejection(srv.url("/api/query") + "#entry5", "missing id")]
    assert [r.place for r in _records(items)][-1] == srv.url("/api/query") + "#entry4"


def test_entry_fields(settings):
    with Loopback([Reply(PAGE1), Reply(PAGE2)]) as srv:
        first, friday, old, revised = _records(list(arxiv_api.read(_api(settings, srv), query="cat:cs.LG")))
    assert first.title == "Sparse Mixtures of Experts for Long-Context Language Modelling"
    assert first.abstract.startswith("We study sparse mixtures") and first.abstract.endswith("single node.")
    assert first.authors == ["Ada Lovelace", "Alan M. Turing", "Grace Hopper"]
    assert first.categories == ["cs.LG", "cs.AI", "stat.ML"]
    assert first.version == 2
    assert first.versions == [
        {"version": 1, "created": "2025-01-02T18:30:00Z"},
        {"version": 2, "created": "2025-01-10T09:00:00Z"},
    ]
    assert (first.published, first.updated) == ("2025-01-02T18:30:00Z", "2025-01-10T09:00:00Z")
    assert first.doi == "10.1000/XYZ.2025.001"
    assert first.journal_ref == "J. Mach. Learn. Res. 26 (2025) 1-12"
    assert first.comment.startswith("12 pages")
    assert first.code_url == "https://github.com/example/sparse-moe"
    assert first.pdf_url == "http://arxiv.org/pdf/2501.00001v2"
    assert first.source == "arxiv"
    # 13:30 New York time on a Thursday: before the 14:00 cut-off, listed Friday.
    assert first.announced == "2025-01-03"
    # 15:15 on a Friday: after the cut-off, announced Monday evening, listed Tuesday.
    assert friday.announced == "2025-01-07"
    assert friday.version == 1 and friday.versions == [{"version": 1, "created": "2025-01-03T20:15:00Z"}]
    assert old.id == "hep-th/9901001" and old.categories == ["hep-th", "cs.LG"]
    assert revised.categories == ["stat.ML", "cs.LG"]  # primary category first
    assert revised.authors == ["John von Neumann", "Kurt Gödel"]
    assert [v["version"] for v in revised.versions] == [1, 3]


def test_max_results_caps_the_run(settings):
    with Loopback([Reply(PAGE1), Reply(PAGE2)]) as srv:
        items = list(arxiv_api.read(_api(settings, srv), query="cat:cs.LG", max_results=2, page_size=3))
    assert [seen.query["max_results"] for seen in srv.requests] == ["2"]
    assert [r.id for r in _records(items)] == ["2501.00001", "2501.00002"]


def test_an_empty_page_ends_the_query(settings):
    # The first page promises five results, the second has none: stop instead of asking forever.
    with Loopback([Reply(PAGE1), Reply(fixture("api_empty.xml"))]) as srv:
        items = list(arxiv_api.read(_api(settings, srv), query="cat:cs.LG", page_size=3))
    assert len(srv.requests) == 2
    assert len(_records(items)) == 3


def test_no_results(settings):
    with Loopback([Reply(fixture("api_empty.xml"))]) as srv:
        assert list(arxiv_api.read(_api(settings, srv), query="ti:nothingmatchesthis")) == []
    assert len(srv.requests) == 1


def test_id_list(settings):
    with Loopback([Reply(fixture("api_idlist.xml"))]) as srv:
        items = list(arxiv_api.read(_api(settings, srv), id_list=["2501.00002", "2501.00004v3"]))
    assert srv.requests[0].query == {"id_list": "2501.00002,2501.00004v3", "start": "0", "max_results": "2"}
    assert [(r.id, r.version) for r in _records(items)] == [("2501.00002", 1), ("2501.00004", 3)]


def test_fetch_ids_sends_chunks_of_100_and_numbers_entries_across_them(settings):
    ids = [f"2501.{n:05d}" for n in range(1, 151)]
    with Loopback(lambda seen: Reply(fixture("api_idlist.xml"))) as srv:
        items = list(arxiv_api.fetch_ids(_api(settings, srv), ids))
    sent = [seen.query["id_list"].split(",") for seen in srv.requests]
    assert [len(chunk) for chunk in sent] == [100, 50]
    assert sent[0] + sent[1] == ids
    assert [seen.query["max_results"] for seen in srv.requests] == ["100", "50"]
    assert [r.place.rsplit("#", 1)[1] for r in _records(items)] == ["entry1", "entry2", "entry3", "entry4"]


def test_api_error_entry_is_a_source_error(settings):
    with Loopback([Reply(fixture("api_error.xml"))]) as srv:
        with pytest.raises(SourceError, match="incorrect id format for 1234.123"):
            list(arxiv_api.read(_api(settings, srv), id_list=["1234.123"]))


def test_needs_a_query_or_ids(settings):
    with pytest.raises(SourceError, match="query"):
        list(arxiv_api.read(settings, query="  ", id_list=[]))


def test_429_with_retry_after_then_success(settings):
    # A back-off of 5 s would be used if Retry-After: 0 were ignored.
    busy = Reply(b"Rate exceeded.", status=429, headers={"Retry-After": "0"}, content_type="text/plain")
    with Loopback([busy, Reply(fixture("api_idlist.xml"))]) as srv:
        started = time.monotonic()
        items = list(arxiv_api.read(_api(settings, srv, http_backoff=5.0), id_list=["2501.00002", "2501.00004"]))
    assert time.monotonic() - started < 2.0
    assert len(srv.requests) == 2 and len(_records(items)) == 2


def test_503_then_success(settings):
    with Loopback([Reply(b"busy", status=503, content_type="text/plain"), Reply(fixture("api_idlist.xml"))]) as srv:
        items = list(arxiv_api.read(_api(settings, srv), id_list=["2501.00002", "2501.00004"]))
    assert len(srv.requests) == 2 and len(_records(items)) == 2


def test_time_out_then_success(settings):
    slow = Reply(fixture("api_idlist.xml"), delay=1.0)
    with Loopback([slow, Reply(fixture("api_idlist.xml"))]) as srv:
        items = list(arxiv_api.read(_api(settings, srv, http_timeout=0.3), id_list=["2501.00002", "2501.00004"]))
    assert len(srv.requests) == 2 and len(_records(items)) == 2


@pytest.mark.parametrize(
    "broken",
    [
        # The connection drops before the announced length arrives.
        Reply(fixture("api_idlist.xml")[:700], declared_length=len(fixture("api_idlist.xml"))),
        # A complete HTTP answer whose XML document is cut off.
        Reply(fixture("api_idlist.xml")[:700]),
        # The API's plain-text throttling answer, with status 200.
        Reply(b"Rate exceeded.", content_type="text/plain"),
    ],
    ids=["short-body", "cut-off-xml", "not-xml"],
)
def test_truncated_body_then_success(settings, broken):
    with Loopback([broken, Reply(fixture("api_idlist.xml"))]) as srv:
        items = list(arxiv_api.read(_api(settings, srv), id_list=["2501.00002", "2501.00004"]))
    assert len(srv.requests) == 2
    assert [r.id for r in _records(items)] == ["2501.00002", "2501.00004"]


def test_gives_up_after_http_retries_with_one_line(settings):
    with Loopback(lambda seen: Reply(b"down", status=503, content_type="text/plain")) as srv:
        with pytest.raises(SourceError) as caught:
            list(arxiv_api.read(_api(settings, srv, http_retries=2), query="cat:cs.LG"))
    message = str(caught.value)
    assert "\n" not in message
    assert "gave up after 3 attempts" in message and "HTTP 503" in message
    assert len(srv.requests) == 3


def test_other_4xx_fails_at_once(settings):
    with Loopback(lambda seen: Reply(b"no", status=404, content_type="text/plain")) as srv:
        with pytest.raises(SourceError, match="HTTP 404"):
            list(arxiv_api.read(_api(settings, srv), query="cat:cs.LG"))
    assert len(srv.requests) == 1


def test_rate_limit_holds_across_two_clients(settings):
    def respond(seen: Seen) -> Reply:
        return Reply(PAGE1 if seen.query["start"] == "0" else PAGE2)

    limiter = fresh_limiter()
    with Loopback(respond) as srv:
        limited = _api(settings, srv, arxiv_min_interval=0.2)
        results: list[list] = []

        def run() -> None:
            results.append(list(arxiv_api.read(limited, query="cat:cs.LG", page_size=3)))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert [len(r) for r in results] == [5, 5]
    assert len(srv.requests) == 4
    assert_spaced(srv, limiter, 0.2)


def test_ingest_into_store(settings, store):
    with Loopback([Reply(PAGE1), Reply(PAGE2)]) as srv:
        summary = store.ingest("arxiv", "cat:cs.LG", arxiv_api.read(_api(settings, srv), query="cat:cs.LG"))
    assert (summary.new, summary.rejected) == (4, 1)
    paper = store.get_paper("2501.00001")
    assert paper["version"] == 2 and paper["announced"] == "2025-01-03"
    assert paper["primary_category"] == "cs.LG"
