"""The OAI-PMH harvester against a loopback server: tokens, crash-resume, expired tokens, increments."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from support.loopback import Loopback, Reply, Seen, fixture

from paperboy.config import Settings
from paperboy.sources import oai
from paperboy.sources.record import Checkpoint, Item, PaperRecord, Rejection, SourceError

SET = "cs:cs:LG"
TOKEN1, TOKEN2 = "6960524|1001", "6960524|2001"
PAGES = {TOKEN1: "oai_page2.xml", TOKEN2: "oai_page3.xml"}
ALL_IDS = ["2501.00001", "2501.00002", "math/0601001", "2501.00004", "2501.00005", "2501.00006"]


class Harvest:
    """Serves the three fixture pages by resumption token; tokens in ``expire`` fail once (or always)."""

    def __init__(self, expire: Iterable[str] = (), always: bool = False) -> None:
        self.expire = set(expire)
        self.always = always

    def __call__(self, seen: Seen) -> Reply:
        token = seen.query.get("resumptionToken")
        if token is None:
            return Reply(fixture("oai_page1.xml"))
        if token in self.expire or token not in PAGES:
            if not self.always:
                self.expire.discard(token)
            return Reply(fixture("oai_bad_token.xml"))
        return Reply(fixture(PAGES[token]))


def _oai(settings: Settings, srv: Loopback, **overrides: object) -> Settings:
    """Settings for the loopback server; its pages are in the ``arXiv`` metadata format."""
    return settings.with_overrides(arxiv_oai_url=srv.url("/oai"), arxiv_oai_format="arXiv", **overrides)


def _records(items: Iterable[Item]) -> list[PaperRecord]:
    return [item for item in items if isinstance(item, PaperRecord)]


def _crash_at(items: Iterator[Item], kind: type) -> Iterator[Item]:
    """Pass items on, and fail like a killed process at the first item of ``kind``."""
    try:
        for item in items:
            if isinstance(item, kind):
                raise RuntimeError("simulated crash")
            yield item
    finally:
        items.close()


def test_pages_with_resumption_tokens_and_checkpoints(settings):
    with Loopback(Harvest()) as srv:
        items = list(oai.read(_oai(settings, srv), set_spec=SET, from_date="2025-01-01"))
    assert [seen.query for seen in srv.requests] == [
        {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": SET, "from": "2025-01-01"},
        {"verb": "ListRecords", "resumptionToken": TOKEN1},
        {"verb": "ListRecords", "resumptionToken": TOKEN2},
    ]
    key = f"oai:{srv.url('/oai')}:{SET}"
    checkpoints = [(i, item) for i, item in enumerate(items) if isinstance(item, Checkpoint)]
    assert [i for i, _ in checkpoints] == [3, 6, 9]  # after each page's records, and at the end
    assert all(cp.key == key for _, cp in checkpoints)
    first, second, last = (cp.state for _, cp in checkpoints)
    started = "2025-01-07T10:00:00Z"
    assert first == {
        "token": TOKEN1,
        "from": "2025-01-01",
        "until": None,
        "set": SET,
        "started": started,
        "count": 3,
        "prefix": "arXiv",
    }
    assert second == {**first, "token": TOKEN2, "count": 6}
    # The next harvest starts on the day this one started, not on the day its last page came.
    assert last == {
        "token": None,
        "from": "2025-01-07",
        "until": None,
        "set": SET,
        "started": None,
        "count": 0,
        "prefix": "arXiv",
    }
    assert [r.id for r in _records(items)] == ALL_IDS


def test_record_fields(settings):
    with Loopback(Harvest()) as srv:
        items = list(oai.read(_oai(settings, srv), set_spec=SET))
    by_id = {r.id: r for r in _records(items)}
    revised = by_id["2501.00001"]
    assert revised.title == "Sparse Mixtures of Experts for Long-Context Language Modelling"
    assert revised.authors == ["Ada Lovelace", "Martin Luther King Jr", "Alan M. Turing"]
    assert revised.categories == ["cs.LG", "cs.AI", "stat.ML"]
    assert (
        revised.abstract
        == "We study sparse mixtures of experts for long contexts. Routing\nis learned jointly with the experts."
    )
    assert (revised.comment, revised.journal_ref) == (
        "12 pages, 4 figures; code at https://github.com/example/sparse-moe",
        "J. Mach. Learn. Res. 26 (2025) 1-12",
    )
    assert revised.doi == "10.1000/XYZ.2025.001"
    assert revised.license == "http://creativecommons.org/licenses/by/4.0/"
    assert revised.code_url == "https://github.com/example/sparse-moe"
    assert (revised.published, revised.updated) == ("2025-01-02", "2025-01-06")
    assert revised.versions == [{"version": 1, "created": "2025-01-02"}]
    assert revised.version is None  # revised, but the arXiv format does not say to which version
    assert revised.announced == "2025-01-03"  # submitted Thursday, listed Friday
    assert revised.source == "oai" and revised.place == srv.url("/oai") + "#record1"
    single = by_id["2501.00002"]
    assert single.version == 1 and single.updated is None
    assert single.authors == ["ATLAS Collaboration"]
    assert single.announced == "2025-01-06"  # submitted Friday, listed Monday
    assert by_id["math/0601001"].categories == ["math.DS", "cs.LG"]


def test_deleted_records_are_skipped_silently_and_bad_ones_rejected(settings):
    with Loopback(Harvest()) as srv:
        items = list(oai.read(_oai(settings, srv), set_spec=SET))
    assert "2501.00003" not in {r.id for r in _records(items)}
    rejections = [item for item in items if isinstance(item, Rejection)]
    # Record 4 (deleted) still counts for numbering; record 6 has a blank title.
    assert rejections == [Rejection(srv.url("/oai") + "#record6", "missing title")]


def test_crash_then_resume_from_the_saved_token(settings, store):
    with Loopback(Harvest()) as srv:
        cfg = _oai(settings, srv)
        key = oai.state_key(cfg, SET)
        # Crash in the middle of page 2, after 2501.00004 went to the store's open batch.
        with pytest.raises(RuntimeError, match="simulated crash"):
            store.ingest("oai", "cs.LG", _crash_at(oai.read(cfg, set_spec=SET, from_date="2025-01-01"), Rejection))
        saved = store.get_state(key)
        # Page 1 and its checkpoint were committed together; the half-read page 2 was not.
        assert saved["token"] == TOKEN1 and saved["from"] == "2025-01-01"
        assert store.count_papers() == 3
        before = len(srv.requests)
        summary = store.ingest("oai", "cs.LG", oai.read(cfg, set_spec=SET, state=saved))
        resumed = srv.requests[before:]
    assert [seen.query for seen in resumed] == [
        {"verb": "ListRecords", "resumptionToken": TOKEN1},
        {"verb": "ListRecords", "resumptionToken": TOKEN2},
    ]
    assert (summary.new, summary.updated, summary.unchanged, summary.rejected) == (3, 0, 0, 1)
    assert summary.sample_rejections[0].place.endswith("#record6")  # numbering carried over
    assert store.count_papers() == len(ALL_IDS)
    assert [p["id"] for p in store.get_papers(ALL_IDS)] == ALL_IDS
    final = store.get_state(key)
    assert final["token"] is None and final["from"] == "2025-01-07"  # the crashed harvest's start day


def test_expired_token_restarts_from_the_saved_from(settings, store):
    harvest = Harvest()
    with Loopback(harvest) as srv:
        cfg = _oai(settings, srv)
        key = oai.state_key(cfg, SET)
        with pytest.raises(RuntimeError):
            store.ingest("oai", "cs.LG", _crash_at(oai.read(cfg, set_spec=SET, from_date="2025-01-01"), Rejection))
        saved = store.get_state(key)
        assert saved["token"] == TOKEN1
        harvest.expire.add(TOKEN1)  # the crashed harvest's token has expired meanwhile
        before = len(srv.requests)
        with pytest.warns(oai.HarvestWarning, match="expired.*2025-01-01"):
            summary = store.ingest("oai", "cs.LG", oai.read(cfg, set_spec=SET, state=saved))
        again = srv.requests[before:]
    assert [seen.query for seen in again] == [
        {"verb": "ListRecords", "resumptionToken": TOKEN1},
        {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": SET, "from": "2025-01-01"},
        {"verb": "ListRecords", "resumptionToken": TOKEN1},
        {"verb": "ListRecords", "resumptionToken": TOKEN2},
    ]
    # Page 1 was already stored: its records come back unchanged.
    assert (summary.new, summary.updated, summary.unchanged) == (3, 0, 3)
    assert store.count_papers() == len(ALL_IDS)
    assert store.get_state(key)["token"] is None


def test_a_token_that_keeps_expiring_ends_in_a_source_error(settings):
    state = {"token": TOKEN1, "from": "2025-01-01", "until": None, "set": SET, "started": None, "count": 3}
    with Loopback(Harvest(expire=[TOKEN1], always=True)) as srv:
        with pytest.warns(oai.HarvestWarning), pytest.raises(SourceError, match="badResumptionToken"):
            list(oai.read(_oai(settings, srv), set_spec=SET, state=state))
    assert len(srv.requests) == 2 * oai.MAX_RESTARTS + 1


def test_no_records_match_is_a_clean_end(settings):
    with Loopback([Reply(fixture("oai_no_records.xml"))]) as srv:
        items = list(oai.read(_oai(settings, srv), set_spec=SET, from_date="2025-01-09"))
    assert items == [
        Checkpoint(
            oai.state_key(_oai(settings, srv), SET),
            {
                "token": None,
                "from": "2025-01-09",
                "until": None,
                "set": SET,
                "started": None,
                "count": 0,
                "prefix": "arXiv",
            },
        )
    ]


def test_second_harvest_is_incremental(settings, store):
    harvest, quiet = Harvest(), Reply(fixture("oai_no_records.xml"))
    days = {"next": False}
    with Loopback(lambda seen: quiet if days["next"] else harvest(seen)) as srv:
        cfg = _oai(settings, srv)
        key = oai.state_key(cfg, SET)
        first = store.ingest("oai", "cs.LG", oai.read(cfg, set_spec=SET, state=store.get_state(key)))
        assert "from" not in srv.requests[0].query  # nothing saved yet: the whole set
        assert first.new == len(ALL_IDS)
        days["next"] = True
        before = len(srv.requests)
        store.ingest("oai", "cs.LG", oai.read(cfg, set_spec=SET, state=store.get_state(key)))
        assert srv.requests[before].query == {
            "verb": "ListRecords",
            "metadataPrefix": "arXiv",
            "set": SET,
            "from": "2025-01-07",
        }
    assert store.get_state(key)["from"] == "2025-01-09"


def test_explicit_from_starts_a_new_list_instead_of_resuming(settings):
    state = {"token": TOKEN1, "from": "2025-01-01", "until": None, "set": SET, "started": None, "count": 3}
    with Loopback(Harvest()) as srv:
        items = list(oai.read(_oai(settings, srv), set_spec=SET, from_date="2024-12-01", state=state))
    assert srv.requests[0].query["from"] == "2024-12-01"
    assert len(_records(items)) == len(ALL_IDS)


def test_until_is_sent_and_bounds_the_next_from(settings):
    with Loopback(Harvest()) as srv:
        items = list(oai.read(_oai(settings, srv), set_spec=SET, from_date="2025-01-01", until="2025-01-05"))
    assert srv.requests[0].query["until"] == "2025-01-05"
    assert items[-1].state["from"] == "2025-01-05"


def test_other_oai_errors_are_source_errors(settings):
    with Loopback([Reply(fixture("oai_bad_argument.xml"))]) as srv:
        with pytest.raises(SourceError, match="badArgument: Illegal set specification: cs:cs:NOPE"):
            list(oai.read(_oai(settings, srv), set_spec="cs:cs:NOPE"))


def test_bad_day_is_a_source_error(settings):
    with pytest.raises(SourceError, match="YYYY-MM-DD"):
        list(oai.read(settings, from_date="last week"))


def test_cut_off_page_is_retried(settings):
    page = fixture("oai_page3.xml")
    with Loopback([Reply(page[: len(page) // 2]), Reply(page)]) as srv:
        items = list(oai.read(_oai(settings, srv), state={"token": TOKEN2, "set": None, "count": 6}))
    assert len(srv.requests) == 2
    assert [r.id for r in _records(items)] == ["2501.00005", "2501.00006"]


def test_invalid_page_every_time_is_a_source_error(settings):
    page = fixture("oai_page1.xml")
    with Loopback(lambda seen: Reply(page[:-40])) as srv:
        with pytest.raises(SourceError, match="gave up after 2 attempts.*unusable response"):
            list(oai.read(_oai(settings, srv, http_retries=1), set_spec=SET))
    assert len(srv.requests) == 2
