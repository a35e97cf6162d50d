"""The importers against real recorded answers (``../shared/formats``) and arXiv's own formats.

Each test here failed before the fix it names: Kaggle affiliations joined into names, arXiv's
listing extensions (``arxiv:DOI``, ``arxiv:journal_reference``, affiliations, TeX accents) lost,
OAI-PMH without ``arXivRaw``, Hugging Face's flat paper shape imported under a made-up id, one
page of a paged daily list, DOIs lower-cased and a second DOI dropped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from conftest import SHARED
from support.loopback import Loopback, Reply, Seen, fixture

from paperboy.config import Settings
from paperboy.sources import hf, kaggle, oai, rss
from paperboy.sources.normalize import author_key
from paperboy.sources.record import PaperRecord

FORMATS = SHARED / "formats"
pytestmark = pytest.mark.skipif(not FORMATS.is_dir(), reason=f"the real samples are not at {FORMATS}")
KAGGLE = FORMATS / "kaggle" / "snapshot-lines.json"
FLAT = FORMATS / "hf" / "paper-flat.json"
ITEM = FORMATS / "hf" / "daily-papers-item.json"
OAI_ARXIV = FORMATS / "oai" / "listrecords-arxiv-format.xml"


def _records(items) -> list[PaperRecord]:
    return [item for item in items if isinstance(item, PaperRecord)]


# -- 1. Kaggle: affiliations are not names -----------------------------------------------------------
BOLOGNA = ["Bologna Univ. and INFN"]
FIORAVANTI = ["D. Fioravanti", "A. Mariottini", "E. Quattrini", "F. Ravanini"]


def test_kaggle_affiliations_are_split_off_and_stored_apart(store):
    first, second = _records(kaggle.read(KAGGLE))
    assert first.id == "0704.0002" and first.affiliations == []
    assert second.id == "hep-th/9608091"
    assert second.authors == FIORAVANTI  # not "D. Fioravanti Bologna Univ. and INFN"
    assert second.affiliations == [BOLOGNA] * 4
    store.ingest("kaggle", str(KAGGLE), kaggle.read(KAGGLE))
    paper = store.get_paper("hep-th/9608091")
    assert (paper["authors"], paper["affiliations"]) == (FIORAVANTI, [BOLOGNA] * 4)
    assert [p["id"] for p in store.papers_by_author("D. Fioravanti")] == ["hep-th/9608091"]
    assert [p["id"] for p in store.papers_by_author("Fioravanti, D.")] == ["hep-th/9608091"]


def test_kaggle_authors_string_gives_the_same_names_and_affiliations(tmp_path: Path):
    lines = KAGGLE.read_bytes().splitlines()
    data = orjson.loads(lines[1])
    del data["authors_parsed"]  # only the raw string: "D. Fioravanti, …, E. Quattrini and F. Ravanini (Bologna …)"
    path = tmp_path / "snapshot.json"
    path.write_bytes(orjson.dumps(data) + b"\n")
    (record,) = _records(kaggle.read(path))
    assert (record.authors, record.affiliations) == (FIORAVANTI, [BOLOGNA] * 4)


# -- 8. DOIs keep their case; a second one is kept -------------------------------------------------
def test_kaggle_dois_keep_their_case_and_a_second_doi_is_kept(store, tmp_path: Path):
    lines = KAGGLE.read_bytes().splitlines()
    data = orjson.loads(lines[1])
    assert data["doi"] == "10.1016/S0370-2693(96)01409-8"
    (record,) = _records(kaggle.read(_line(tmp_path, data)))
    assert (record.doi, record.dois) == ("10.1016/S0370-2693(96)01409-8", ["10.1016/S0370-2693(96)01409-8"])
    data["doi"] = "10.1016/S0370-2693(96)01409-8 10.1016/S0370-2693(97)00001-X"  # as arXiv writes two
    store.ingest("kaggle", "two", kaggle.read(_line(tmp_path, data)))
    paper = store.get_paper("hep-th/9608091")
    assert paper["doi"] == "10.1016/S0370-2693(96)01409-8"
    assert paper["dois"] == ["10.1016/S0370-2693(96)01409-8", "10.1016/S0370-2693(97)00001-X"]
    # a record without id still finds the paper by its DOI, whatever the case
    from support.web import rec

    store.ingest("jsonl", "doi", [rec(title="Another title", doi="10.1016/s0370-2693(96)01409-8")])
    assert store.count_papers() == 1


def _line(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "line.json"
    path.write_bytes(orjson.dumps(data) + b"\n")
    return path


# -- 3. arXiv's listings: DOI, journal reference, affiliations, TeX accents ----------------------------
# Written after arXiv's own serializer (arXiv/arxiv-feed, feed/serializers/extensions.py): the
# authors go into one dc:creator as "Name (Affiliation, Other), Name", DOIs and journal
# references into arxiv:DOI and arxiv:journal_reference, in both RSS 2.0 and Atom.
_CREATOR = "J. P\\'erez (Univ. of Madrid, CSIC), M. M\\\"uller, Ana Garc\\'{\\i}a"
_RSS = f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
  <channel>
    <title>hep-th updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/hep-th</link>
    <description>hep-th updates on the arXiv.org e-print archive.</description>
    <pubDate>Tue, 14 Jan 2025 00:00:00 -0500</pubDate>
    <item>
      <title>Excited states of the sine-Gordon model</title>
      <link>https://arxiv.org/abs/2501.07011</link>
      <description>arXiv:2501.07011v2 Announce Type: replace
Abstract: We derive a generalization of the Destri - De Vega equation.</description>
      <guid isPermaLink="false">oai:arXiv.org:2501.07011v2</guid>
      <category>hep-th</category>
      <pubDate>Tue, 14 Jan 2025 00:00:00 -0500</pubDate>
      <arxiv:announce_type>replace</arxiv:announce_type>
      <dc:rights>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</dc:rights>
      <arxiv:DOI>10.1016/S0370-2693(96)01409-8 10.1103/PhysRevD.76.013009</arxiv:DOI>
      <arxiv:journal_reference>Phys.Lett.B390:243-251,1997</arxiv:journal_reference>
      <dc:creator>{_CREATOR}</dc:creator>
    </item>
  </channel>
</rss>""".encode()
_ATOM = f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <id>http://rss.arxiv.org/atom/hep-th</id>
  <title>hep-th updates on arXiv.org</title>
  <updated>2025-01-14T00:00:00-05:00</updated>
  <link href="http://rss.arxiv.org/atom/hep-th" rel="self" type="application/atom+xml"/>
  <subtitle>hep-th updates on the arXiv.org e-print archive.</subtitle>
  <entry>
    <id>oai:arXiv.org:2501.07011v2</id>
    <title>Excited states of the sine-Gordon model</title>
    <updated>2025-01-14T00:00:00-05:00</updated>
    <link href="https://arxiv.org/abs/2501.07011" rel="alternate" type="text/html"/>
    <summary>arXiv:2501.07011v2 Announce Type: replace
Abstract: We derive a generalization of the Destri - De Vega equation.</summary>
    <category term="hep-th" scheme="http://arxiv.org/schemas/atom"/>
    <published>2025-01-14T00:00:00-05:00</published>
    <arxiv:announce_type>replace</arxiv:announce_type>
    <rights>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</rights>
    <arxiv:DOI>10.1016/S0370-2693(96)01409-8 10.1103/PhysRevD.76.013009</arxiv:DOI>
    <arxiv:journal_reference>Phys.Lett.B390:243-251,1997</arxiv:journal_reference>
    <dc:creator xmlns:dc="http://purl.org/dc/elements/1.1/">{_CREATOR}</dc:creator>
  </entry>
</feed>""".encode()


@pytest.mark.parametrize("body", [_RSS, _ATOM], ids=["rss", "atom"])
def test_listing_extensions_affiliations_and_accents(body: bytes):
    (record,) = _records(rss.parse_listing(body, "listing"))
    assert record.id == "2501.07011" and record.version == 2
    assert record.journal_ref == "Phys.Lett.B390:243-251,1997"
    assert record.doi == "10.1016/S0370-2693(96)01409-8"
    assert record.dois == ["10.1016/S0370-2693(96)01409-8", "10.1103/PhysRevD.76.013009"]
    assert record.authors == ["J. Pérez", "M. Müller", "Ana García"]
    assert record.affiliations == [["Univ. of Madrid, CSIC"], [], []]


def test_one_person_has_one_author_key_whatever_the_source(store, tmp_path: Path):
    """The listing says ``J. P\\'erez (Univ. of Madrid, CSIC)``, the Kaggle snapshot ``["Pérez", "J.", ""]``."""
    store.ingest("rss", "listing", rss.parse_listing(_RSS, "listing"))
    snapshot = orjson.loads(KAGGLE.read_bytes().splitlines()[0])
    snapshot |= {"id": "2501.09999", "authors_parsed": [["Pérez", "J.", ""], ["Theran", "Louis", ""]]}
    store.ingest("kaggle", "snapshot", kaggle.read(_line(tmp_path, snapshot)))
    assert author_key("J. P\\'erez (Univ. of Madrid, CSIC)") == author_key("Pérez, J.") == "j perez"
    ids = sorted(p["id"] for p in store.papers_by_author("J. Pérez"))
    assert ids == ["2501.07011", "2501.09999"]
    with store.engine.connect() as conn:
        keys = {row[0] for row in conn.exec_driver_sql("SELECT DISTINCT author_key FROM paper_authors")}
    assert "j perez" in keys and not any("erez" in k and k != "j perez" for k in keys)


# -- 4. OAI-PMH: arXivRaw, every version with its date -------------------------------------------------
def test_oai_arxivraw_gives_every_version_and_every_doi(settings: Settings, store):
    def answer(seen: Seen) -> Reply:
        assert seen.query.get("metadataPrefix") == "arXivRaw"  # the default format
        return Reply(fixture("oai_arxivraw.xml"))

    with Loopback(answer) as srv:
        harvest = settings.with_overrides(arxiv_oai_url=srv.url("/oai"))
        items = list(oai.read(harvest, from_date="2014-10-01"))
        first, revised = _records(items)
        store.ingest("oai", "harvest", oai.read(harvest, from_date="2014-10-01"))
    assert first.version == 1 and first.versions == [{"version": 1, "created": "2007-04-03T22:04:11Z"}]
    assert first.dois == ["10.1103/PhysRevC.76.024606", "10.1103/PhysRevC.76.039902"]
    assert first.authors == ["D.V. Shetty", "S.J. Yennello", "G.A. Souliotis"]
    assert (first.published, first.updated) == ("2007-04-03T22:04:11Z", None)
    assert revised.version == 4
    assert [v["version"] for v in revised.versions] == [1, 2, 3, 4]
    assert (revised.published, revised.updated) == ("2007-04-05T12:45:03Z", "2008-11-14T09:07:25Z")
    assert revised.announced == "2007-04-06"  # submitted Thursday 08:45 US Eastern, listed Friday
    assert (revised.authors, revised.affiliations) == (["Christoph Richard"], [["Universität Bielefeld"]])
    assert revised.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    paper = store.get_paper("0704.0716")
    assert paper["version"] == 4 and len(paper["versions"]) == 4
    state = store.get_state(oai.state_key(harvest, None))
    assert state["prefix"] == "arXivRaw" and state["token"] is None


def test_oai_arxiv_format_still_reads_the_real_sample(settings: Settings):
    with Loopback([Reply(OAI_ARXIV.read_bytes())]) as srv:
        harvest = settings.with_overrides(arxiv_oai_url=srv.url("/oai"))
        (record,) = _records(oai.read(harvest, set_spec="physics:astro-ph", metadata_prefix="arXiv"))
        assert srv.requests[0].query["metadataPrefix"] == "arXiv"
    assert record.id == "0801.3931" and record.authors == ["T. Manos", "E. Athanassoula"]
    assert record.doi == "10.1007/978-3-540-75826-6_11" and record.published == "2008-01-25"


def test_oai_unknown_format_is_a_source_error(settings: Settings):
    from paperboy.sources.record import SourceError

    with pytest.raises(SourceError, match="metadata format must be one of arXivRaw, arXiv"):
        list(oai.read(settings, metadata_prefix="oai_dc"))


# -- 5. Hugging Face's JSON ------------------------------------------------------------------------------
def test_hf_flat_papers_import_under_their_arxiv_id(store):
    (record,) = _records(hf.read_json(FLAT))
    assert record.id == "2509.04664" and record.title == "Why Language Models Hallucinate"
    assert record.authors == ["Adam Tauman Kalai", "Ofir Nachum", "Santosh S. Vempala", "Edwin Zhang"]
    assert record.published == "2025-09-04T21:26:31Z"  # the arXiv v1 time
    assert record.announced == "2025-09-08"  # submitted Thursday evening US Eastern: Monday's listing
    assert record.upvotes == 26
    assert record.hf["daily_at"] == "2025-09-08T02:44:20Z"  # submittedOnDailyAt
    assert record.hf["daily_by"]["user"] == "taesiri"
    assert record.hf["ai_summary"].startswith("Language models produce incorrect statements")
    store.ingest("hf", str(FLAT), hf.read_json(FLAT))
    paper = store.get_paper("2509.04664")
    assert paper is not None and paper["authors"] == record.authors and paper["source_upvotes"] == 26
    assert not any(p["id"].startswith("title:") for p in store.iter_papers())


def test_hf_a_single_saved_object_is_accepted(tmp_path: Path):
    for sample in (FLAT, ITEM):
        one = tmp_path / f"one-{sample.name}"
        one.write_bytes(orjson.dumps(orjson.loads(sample.read_bytes())[0]))
        (record,) = _records(hf.read_json(one))
        assert record.id in ("2509.04664", "2602.23229")


def test_hf_daily_item_fields():
    (record,) = _records(hf.read_json(ITEM))
    assert record.id == "2602.23229" and record.published == "2026-02-26T17:08:18Z"
    assert record.code_url == "https://github.com/marco-garosi/CIRCLE"
    assert record.project_url == "https://circle-lmm.github.io/"
    assert record.hf["thumbnail"] == "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2602.23229.png"
    assert record.hf["daily_at"] == "2026-03-06T03:55:12Z"
    assert record.hf["daily_by"] == {
        "user": "marco-garosi",
        "fullname": "Marco Garosi",
        "avatarUrl": "https://huggingface.co/avatars/0bcba885d6e0ff74e03f42faa5c86783.svg",
    }


def _day_of(n: int) -> list[dict]:
    """``n`` daily items made from the real one, each its own paper."""
    template = orjson.loads(ITEM.read_bytes())[0]
    out = []
    for i in range(n):
        item = orjson.loads(orjson.dumps(template))
        item["paper"]["id"] = f"2602.{20000 + i}"
        item["paper"]["title"] = item["title"] = f"Paper {i} of the day"
        out.append(item)
    return out


class PagedDay:
    """A daily_papers server that pages as Hugging Face does, at most ``cap`` items a page."""

    def __init__(self, items: list[dict], cap: int) -> None:
        self.items, self.cap = items, cap

    def __call__(self, seen: Seen) -> Reply:
        page = int(seen.query.get("p", "0"))
        limit = min(int(seen.query.get("limit", "50")), self.cap)
        body = orjson.dumps(self.items[page * limit : (page + 1) * limit])
        return Reply(body, content_type="application/json")


def test_hf_live_fetch_reads_every_page(settings: Settings):
    with Loopback(PagedDay(_day_of(93), cap=50)) as srv:
        records = _records(hf.fetch_daily(replace(settings, hf_api_url=srv.url("/api/daily_papers")), "2026-03-06"))
        pages = [seen.query.get("p") for seen in srv.requests]
    assert len(records) == 93 and len({r.id for r in records}) == 93
    assert pages == ["0", "1"]  # 50, then 43: shorter than the server's page, so the last one


def test_ingest_hf_takes_a_base_url(tmp_path: Path):
    with Loopback(PagedDay(_day_of(7), cap=5)) as srv:
        done = subprocess.run(
            [sys.executable, "-m", "paperboy", "--home", str(tmp_path / "home"), "ingest", "hf", "--date", "2026-03-06"]
            + ["--base-url", srv.url("/api/daily_papers")],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert [seen.path for seen in srv.requests] == ["/api/daily_papers"] * 2
    from paperboy.config import load_settings
    from paperboy.store import Store

    with Store.open(load_settings(tmp_path / "home")) as st:
        assert st.count_papers() == 7


# -- author identity in stores made before: migration 0008 -----------------------------------------------
def test_migration_0008_cleans_stored_names_and_recomputes_author_keys(tmp_path: Path):
    import sqlite3

    from alembic import command

    from paperboy.store.db import alembic_config, make_engine, migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:  # a store as revision 0006 left it
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
    old = {
        "2501.00001": ["J. P\\'erez (Univ. of Madrid)", "Ada Lovelace"],
        "2501.00002": ["Jos\\'e Garc\\'{\\i}a", 'Kurt G\\"odel'],
        "2501.00003": ["Ada Lovelace"],
    }
    old_keys = {"J. P\\'erez (Univ. of Madrid)": "j p erez univ of madrid", "Ada Lovelace": "ada lovelace"}
    old_keys |= {"Jos\\'e Garc\\'{\\i}a": "jos e garc i a", 'Kurt G\\"odel': "kurt g odel"}
    with sqlite3.connect(tmp_path / "old.db") as raw:
        for seq, (pid, authors) in enumerate(old.items(), 1):
            raw.execute(
                "INSERT INTO papers (seq, id, is_arxiv, versions, title, title_key, abstract, authors, categories,"
                " field_rank, sources, first_seen, last_changed, doi) VALUES (?, ?, 1, '[]', 'T', 't', '', ?, '[]',"
                " 2, '[\"jsonl\"]', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', ?)",
                (seq, pid, orjson.dumps(authors).decode(), "10.1/ABC" if seq == 1 else None),
            )
            raw.executemany(
                "INSERT INTO paper_authors (author_key, paper_id, position) VALUES (?, ?, ?)",
                [(old_keys[name], pid, i) for i, name in enumerate(authors)],
            )
            raw.execute(
                "INSERT INTO paper_vectors (paper_id, model, seq, vector) VALUES (?, 'm', ?, x'00')", (pid, seq)
            )
    migrate(engine)
    with sqlite3.connect(tmp_path / "old.db") as raw:
        rows = {r[0]: r[1:] for r in raw.execute("SELECT id, seq, authors, affiliations, dois FROM papers")}
        links = sorted(raw.execute("SELECT author_key, paper_id, position FROM paper_authors"))
        vectors = dict(raw.execute("SELECT paper_id, seq FROM paper_vectors"))
    assert orjson.loads(rows["2501.00001"][1]) == ["J. Pérez", "Ada Lovelace"]
    assert orjson.loads(rows["2501.00001"][2]) == [["Univ. of Madrid"], []]
    assert orjson.loads(rows["2501.00001"][3]) == ["10.1/ABC"]
    assert orjson.loads(rows["2501.00002"][1]) == ["José García", "Kurt Gödel"]
    assert rows["2501.00003"][0] == 3  # unchanged: same change counter
    assert {rows["2501.00001"][0], rows["2501.00002"][0]} == {4, 5}  # changed: the indices re-read them
    assert vectors == {"2501.00001": rows["2501.00001"][0], "2501.00002": rows["2501.00002"][0], "2501.00003": 3}
    assert links == [
        ("ada lovelace", "2501.00001", 1),
        ("ada lovelace", "2501.00003", 0),
        ("j perez", "2501.00001", 0),
        ("jose garcia", "2501.00002", 0),
        ("kurt godel", "2501.00002", 1),
    ]
    engine.dispose()


def test_export_round_trips_affiliations_dois_and_hugging_face_fields(store, settings: Settings, tmp_path: Path):
    from paperboy.cli.export import export_record
    from paperboy.sources import jsonl
    from paperboy.store import Store
    from paperboy.store.merge import CONTENT

    store.ingest("kaggle", str(KAGGLE), kaggle.read(KAGGLE))
    store.ingest("hf", str(ITEM), hf.read_json(ITEM))
    exported = tmp_path / "export.jsonl"
    exported.write_bytes(b"".join(orjson.dumps(export_record(row)) + b"\n" for row in store.iter_papers()))
    with Store.open(settings.with_overrides(home=tmp_path / "other")) as other:
        other.ingest("jsonl", str(exported), jsonl.read(exported))
        for row in store.iter_papers():
            again = other.get_paper(row["id"])
            differing = [c for c in CONTENT if c not in ("field_rank", "sources") and again[c] != row[c]]
            assert differing == [], row["id"]
    assert store.get_paper("2602.23229")["hf"]["thumbnail"].endswith("/2602.23229.png")


def test_affiliations_follow_their_author_list_and_fill_in_for_the_same_people(store):
    from support.web import rec

    kaggle_line = orjson.loads(KAGGLE.read_bytes().splitlines()[1])
    kaggle_line["versions"] = [{"version": "v1", "created": "Wed, 14 Aug 1996 16:31:26 GMT"}]
    store.ingest("kaggle", "snapshot", [_records([kaggle.parse_object(kaggle_line, "line")])[0]])
    # a later version from a source without affiliations wins, but names the same people
    names = ["D. Fioravanti", "A. Mariottini", "E. Quattrini", "F. Ravanini"]
    store.ingest("jsonl", "later", [rec(id="hep-th/9608091v2", title="Excited states", authors=names, version=2)])
    paper = store.get_paper("hep-th/9608091")
    assert paper["title"] == "Excited states" and paper["affiliations"] == [BOLOGNA] * 4
    # other people: their own (none), not the old list's
    store.ingest("jsonl", "v3", [rec(id="hep-th/9608091v3", title="Excited states", authors=["Somebody Else"])])
    assert store.get_paper("hep-th/9608091")["affiliations"] == []


def test_api_times_are_always_readable(settings: Settings):
    """A JSON-lines file may hold any text as a date; the API never passes it on unreadable."""
    from support.web import rec, running_app

    odd = rec(id="2607.00901", title="Odd dates", published="yesterday", announced="2026-07-10")
    with running_app(settings, [odd]) as web:
        paper = web.client.get("/api/papers/2607.00901").json()
    assert paper["publishedAt"] == "2026-07-10T00:00:00.000Z"  # the announcement day instead


def test_ingest_oai_format_option(tmp_path: Path):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "paperboy", "--home", str(tmp_path / "home"), "ingest", "oai", *args]
        return subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120
        )

    with Loopback([Reply(fixture("oai_arxivraw.xml"))]) as srv:
        done = run("--base-url", srv.url("/oai"), "--format", "arXivRaw", "--from", "2014-10-01")
        assert done.returncode == 0, done.stderr
        assert srv.requests[0].query["metadataPrefix"] == "arXivRaw"
    bad = run("--base-url", "http://127.0.0.1:9/oai", "--format", "oai_dc")
    assert bad.returncode == 1 and "metadata format must be one of arXivRaw, arXiv" in bad.stdout + bad.stderr
