"""Topic pages, the map's API, key phrases on cards and in the API, the topic feed, rising topics on
the daily page and starting "for you" from picked topics, over support.recs' five-subject corpus."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from support.recs import MODEL, TOPICS, fill, sign_up, topic_of
from support.web import post

from paperboy.services import topics as topics_service
from paperboy.store import Store


@pytest.fixture
def site(settings) -> Iterator[tuple[TestClient, dict[str, int]]]:
    """The app over the corpus with topics built; yields the client and each paper's topic id."""
    from paperboy.web.app import create_app

    with Store.open(settings) as store:
        fill(store)
        topics_service.rebuild(store, settings, model=MODEL, k=len(TOPICS))
        members = {pid: topic for pid, _, _, topic in store.topics.placements()}
    app = create_app(settings, semantic=False, index_at_start=True)
    with TestClient(app) as client:
        yield client, members


def _subject_topic(members: dict[str, int], subject: int) -> int:
    return next(topic for pid, topic in members.items() if topic_of(pid) == subject)


def test_topics_page_lists_every_topic_with_size_sparkline_and_growth(site):
    client, members = site
    r = client.get("/topics")
    assert r.status_code == 200
    html = etree.HTML(r.text)
    rows = html.xpath("//table[@class='topics']/tbody/tr")
    assert len(rows) == 5
    assert all(row.xpath(".//svg[@class='spark']/polyline") for row in rows)
    sizes = [int(row.xpath("./td[@class='num']")[0].text.replace(",", "")) for row in rows]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 110
    assert "Growth" in r.text and "/map" in r.text
    by_growth = client.get("/topics?sort=growth")
    assert (
        by_growth.status_code == 200
        and "on" in etree.HTML(by_growth.text).xpath("//a[@href='/topics?sort=growth']/@class")[0]
    )
    assert client.get("/topics?sort=nonsense").status_code == 200


def test_topic_page_shows_papers_by_day_trend_nearest_and_feed(site):
    client, members = site
    topic = _subject_topic(members, 4)
    r = client.get(f"/topics/{topic}")
    assert r.status_code == 200
    html = etree.HTML(r.text)
    titles = html.xpath("//article[@class='card']//h3/a/text()")
    assert titles and all(t.startswith("Quantum error correction") for t in titles)
    assert html.xpath("//svg[@class='trend']/rect")
    assert len(html.xpath("//aside[@class='topic-side']/ul/li")) == 4  # the other four topics, nearest first
    assert f"/feeds/topics/{topic}.atom" in r.text and f"/map?topic={topic}" in r.text
    assert client.get("/topics/999999").status_code == 404
    assert client.get("/topics/not-a-number").status_code in (400, 404, 422)
    feed = client.get(f"/feeds/topics/{topic}.atom")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    entries = etree.fromstring(feed.content).findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == 22
    assert client.get("/feeds/topics/424242.atom").status_code == 404


def test_cards_and_paper_pages_show_key_phrases_and_topic(site):
    client, members = site
    page = client.get("/")
    assert page.status_code == 200
    html = etree.HTML(page.text)
    chips = html.xpath("//article[@class='card']//p[@class='chips']")
    assert chips and all(c.xpath("./a[contains(@class, 'topic')]") for c in chips)
    links = html.xpath("//p[@class='chips']/a[@class='chip']/@href")
    assert links and all(link.startswith("/search?q=topic%3A%22") for link in links)
    pid = next(iter(members))
    paper = etree.HTML(client.get(f"/papers/{pid}").text)
    assert paper.xpath("//article[@class='paper']//p[@class='chips']/a[contains(@class,'topic')]/@href") == [
        f"/topics/{members[pid]}"
    ]
    # a chip's search finds its paper
    href = etree.HTML(client.get(f"/papers/{pid}").text).xpath("//article[@class='paper']//a[@class='chip']/@href")[0]
    assert pid in client.get(href).text


def test_api_serves_ai_keywords_topics_trends_and_map(site):
    client, members = site
    items = client.get("/api/daily_papers").json()
    assert items and all(item["paper"]["ai_keywords"] for item in items)
    pid = items[0]["paper"]["id"]
    assert client.get(f"/api/papers/{pid}").json()["ai_keywords"] == items[0]["paper"]["ai_keywords"]
    listing = client.get("/api/topics?weekly=true").json()
    assert listing["build"]["topics"] == 5 and len(listing["topics"]) == 5
    first = listing["topics"][0]
    assert {"id", "label", "terms", "size", "growth", "recentPapers", "earlierPapers", "weekly", "center"} <= set(first)
    assert sum(w["papers"] for w in first["weekly"]) == first["size"]
    one = client.get(f"/api/topics/{first['id']}").json()
    assert len(one["nearest"]) == 4 and one["trending"] and one["weekly"]
    papers = client.get(f"/api/topics/{first['id']}/papers?limit=5").json()
    assert len(papers) == 5 and all(members[p["paper"]["id"]] == first["id"] for p in papers)
    assert client.get("/api/topics/77777").status_code == 404
    assert client.get("/api/topics/77777").json()["error"]
    assert isinstance(client.get("/api/topics/rising").json(), list)
    meta = client.get("/api/map").json()
    assert meta["count"] == 110 and len(meta["topics"]) == 5
    raw = client.get(meta["points"], headers={"accept-encoding": "identity"})
    assert raw.status_code == 200 and len(raw.content) == 6 * 110
    assert "immutable" in raw.headers["cache-control"]
    zipped = client.get("/api/map/points.bin", headers={"accept-encoding": "gzip"})
    assert len(zipped.content) == 6 * 110  # the client undid the gzip it asked for
    arrays = np.frombuffer(raw.content, dtype="<u2").reshape(3, 110)
    assert arrays[2].max() < 5 and arrays[0].max() == 65535 and arrays[0].min() == 0
    assert gzip.decompress(gzip.compress(raw.content)) == raw.content
    point = client.get(f"/api/map/points/0?v={meta['version']}").json()
    assert point["title"] and point["url"] == f"/papers/{point['id']}" and point["topic"]["id"] == members[point["id"]]
    assert client.get("/api/map/points/0?v=old").status_code == 409
    assert client.get("/api/map/points/100000").status_code == 404
    found = client.get("/api/map/search", params={"q": "quantum", "v": meta["version"]}).json()
    assert found["points"] and all(
        topic_of(client.get(f"/api/map/points/{i}").json()["id"]) == 4 for i in found["points"]
    )
    assert client.get("/api/map/mine").status_code == 401
    coords = client.get("/api/map/papers?limit=200").json()
    assert coords["total"] == 110 and len(coords["papers"]) == 110
    assert all(-1.01 <= p["x"] <= 1.01 and p["topic"] == members[p["id"]] for p in coords["papers"])


def test_map_page_is_served_with_its_script_and_no_inline_script(site):
    client, _ = site
    r = client.get("/map?q=quantum")
    assert r.status_code == 200
    html = etree.HTML(r.text)
    assert html.xpath("//div[@id='map']/@data-count") == ["110"]
    assert html.xpath("//div[@id='map']/@data-q") == ["quantum"]
    scripts = html.xpath("//script")
    assert scripts and all(s.get("src", "").startswith("/static/") and not (s.text or "").strip() for s in scripts)
    js = client.get("/static/map.js")
    assert js.status_code == 200
    assert not re.search(r"\beval\s*\(|new Function|\.innerHTML|setTimeout\(\s*['\"]", js.text)  # strict CSP holds
    assert client.get("/static/topics.css").status_code == 200


def test_daily_page_shows_rising_topics(site, settings):
    client, members = site
    # eight papers of every subject in May (the 12 weeks before), then 30 more of one on the newest day
    from support.recs import vector_for

    from paperboy.sources.base import finish
    from paperboy.sources.record import PaperRecord

    def record(pid: str, subject: int, day: str):
        title, abstract = TOPICS[subject]
        return finish(
            PaperRecord(id=pid, title=f"{title}: more {pid}", abstract=abstract, announced=day, source="jsonl")
        )

    twin = {topic_of(pid): pid for pid in members}
    made = [(record(f"2605.20{i:03d}", i % 5, "2026-05-20"), i % 5) for i in range(40)]
    made += [(record(f"2607.10{900 + i}", 4, "2026-07-10"), 4) for i in range(30)]
    with Store.open(settings) as store:
        store.ingest("jsonl", "more", [r for r, _ in made])
        papers = {p["id"]: p for p in store.iter_papers()}
        store.put_vectors(MODEL, [(r.id, papers[r.id]["seq"], vector_for(twin[s]).tobytes()) for r, s in made])
        topics_service.update(store, settings, model=MODEL)
    client.app.state.services.topics._index.every = 0  # look at the store now, not in two seconds
    client.app.state.services.topics._index.background = False
    page = etree.HTML(client.get("/").text)
    rising = page.xpath("//aside[@class='rising']//a[contains(@class,'chip')]")
    assert rising, "no rising topics on the daily page"
    assert rising[0].get("href") == f"/topics/{_subject_topic(members, 4)}"


def test_onboarding_from_picked_topics_starts_for_you(site, fast_hashes):  # noqa: F811
    client, members = site
    sign_up(client, "newcomer")
    topics_page = etree.HTML(client.get("/topics").text)
    assert topics_page.xpath("//input[@type='checkbox'][@name='topic']")  # an empty library is offered the picks
    assert client.get("/map").text.count('id="start-form"') == 1
    quantum = _subject_topic(members, 4)
    cold = client.get("/for-you").text
    assert "/map?start=1" in cold
    r = post(client, "/map/start", {"topic": str(quantum)})
    assert r.status_code == 303 and r.headers["location"] == "/for-you"
    library = client.get("/library").text
    assert "Picked on the map" in library
    feed = etree.HTML(client.get("/for-you").text)
    titles = feed.xpath("//article[@class='card']//h3/a/text()")
    assert titles and all(t.startswith("Quantum error correction") for t in titles[:5])
    # the picks are saved papers: ringed on the map, no longer offered the picking
    mine = client.get("/api/map/mine").json()["points"]
    assert len(mine) == 5
    assert 'id="start-form"' not in client.get("/map").text
    # a region: the box around the protein subject's points
    sign_up_again = TestClient(client.app)
    sign_up(sign_up_again, "second")
    coords = sign_up_again.get("/api/map/papers?limit=500").json()["papers"]
    protein = [p for p in coords if topic_of(p["id"]) == 0]
    box = ",".join(
        f"{v:.5f}"
        for v in (
            min(p["x"] for p in protein) - 0.01,
            min(p["y"] for p in protein) - 0.01,
            max(p["x"] for p in protein) + 0.01,
            max(p["y"] for p in protein) + 0.01,
        )
    )
    r = post(sign_up_again, "/map/start", {"region": box})
    assert r.status_code == 303
    titles = etree.HTML(sign_up_again.get("/for-you").text).xpath("//article[@class='card']//h3/a/text()")
    assert titles and sum(t.startswith("Protein folding") for t in titles[:5]) >= 4
    # nothing picked, or nonsense, is a clear 400
    assert post(sign_up_again, "/map/start", {}).status_code == 400
    assert post(sign_up_again, "/map/start", {"region": "1,2,three,4"}).status_code == 400
    assert post(sign_up_again, "/map/start", {"region": "0,0,9,9"}).status_code == 400
    assert post(sign_up_again, "/map/start", {"topic": "123456"}).status_code == 400


def test_pages_without_topics_say_so(settings):
    from paperboy.web.app import create_app

    with Store.open(settings) as store:
        fill(store)
    app = create_app(settings, semantic=False, index_at_start=True)
    with TestClient(app) as client:
        assert "No topics yet" in client.get("/topics").text
        assert "No map yet" in client.get("/map").text
        assert client.get("/api/map").json()["count"] == 0
        assert client.get("/api/topics").json() == {"build": None, "latestDay": None, "topics": []}
        assert client.get("/api/daily_papers").json()[0]["paper"]["ai_keywords"] == []
        assert 'class="chips"' not in client.get("/").text
        assert 'class="rising"' not in client.get("/").text
