"""Topics, the map and key phrases: building from the stored vectors, keeping up with new papers,
stable topic ids, when a rebuild is due, and the topic: search filter.

The corpus is support.recs': five subjects with distinct words and made-up vectors (a direction per
subject plus noise), so the right answer is known without loading the model.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from support.recs import MODEL, TOPICS, fill, topic_of, vector_for
from support.recs import corpus as recs_corpus

from paperboy.indices import topic_model as tm
from paperboy.services import topics as topics_service
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord


@pytest.fixture
def built(store, settings):
    ids = fill(store)
    report = topics_service.rebuild(store, settings, model=MODEL, k=len(TOPICS))
    return store, ids, report


def _membership(store) -> dict[str, int]:
    return {pid: topic for pid, _, _, topic in store.topics.placements()}


def test_rebuild_finds_the_five_subjects_labels_them_and_places_every_paper(built):
    store, ids, report = built
    assert report.papers == len(ids) == 110 and report.topics == 5
    members = _membership(store)
    assert set(members) == set(ids)
    # every cluster is exactly one subject
    by_topic: dict[int, set[int]] = {}
    for pid, topic in members.items():
        by_topic.setdefault(topic, set()).add(topic_of(pid))
    assert sorted(len(s) for s in by_topic.values()) == [1] * 5
    topics = store.topics.topics()
    assert sum(t["size"] for t in topics) == 110
    labels = {next(iter(by_topic[t["id"]])): t["label"] for t in topics}
    assert "quantum" in labels[4] or "surface codes" in labels[4] or "qubits" in labels[4], labels
    assert "protein" in labels[0] or "folding" in labels[0], labels
    for topic in topics:
        assert -1 <= topic["x"] <= 1 and -1 <= topic["y"] <= 1 and 0 <= topic["color"] < topics_service.PALETTE
        assert len(topic["terms"]) >= 3
    assert len({t["color"] for t in topics}) == 5  # five topics, twelve colours: all different
    points = np.asarray([(x, y) for _, x, y, _ in store.topics.placements()])
    assert points.min() >= -1.0001 and points.max() <= 1.0001 and points.std() > 0.1


def test_map_keeps_subjects_together(built):
    """On the map, a paper's nearest point belongs to the same subject (the layout keeps neighbourhoods)."""
    store, _, _ = built
    rows = store.topics.placements()
    points = np.asarray([(x, y) for _, x, y, _ in rows])
    subjects = np.asarray([topic_of(pid) for pid, *_ in rows])
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    assert (subjects[d.argmin(axis=1)] == subjects).mean() >= 0.95


def test_key_phrases_are_the_papers_own_words(built):
    store, ids, _ = built
    phrases = store.topics.keywords(ids)
    assert set(phrases) == set(ids)
    quantum = [pid for pid in ids if topic_of(pid) == 4]
    words = " ".join(" ".join(phrases[pid]) for pid in quantum).lower()
    assert "surface codes" in words or "quantum" in words
    for pid in ids:
        assert 1 <= len(phrases[pid]) <= tm.KEYWORDS_PER_PAPER
        paper = store.get_paper(pid)
        text = f"{paper['title']} {paper['abstract']}".lower()
        for phrase in phrases[pid]:
            assert phrase.lower().replace("-", " ") in text.replace("-", " "), (phrase, text)
    # searchable by normalized key, plurals folded
    assert quantum[0] in store.topics.papers_with_keys([tm.normalize_key("Quantum Error Corrections")]) or quantum[
        0
    ] in store.topics.papers_with_keys([tm.normalize_key("qubit")])


def test_a_rebuild_keeps_topic_ids_and_the_map(built, settings):
    store, _, _ = built
    before = _membership(store)
    old_centres = {t["id"]: (t["x"], t["y"]) for t in store.topics.topics()}
    again = topics_service.rebuild(store, settings, model=MODEL, k=len(TOPICS), seed=1)
    assert again.build_id is not None
    after = _membership(store)
    assert after == before  # same subjects, same ids
    moved = [
        np.hypot(t["x"] - old_centres[t["id"]][0], t["y"] - old_centres[t["id"]][1]) for t in store.topics.topics()
    ]
    assert np.median(moved) < 0.5  # the old map started the new one (the map spans 2 units)
    # a topic that did not exist before gets an id never used
    third = topics_service.rebuild(store, settings, model=MODEL, k=6)
    ids = [t["id"] for t in store.topics.topics()]
    assert third.topics == 6 and len(set(ids)) == 6 and max(ids) >= 5


def _new_papers(store, n: int, day: str = "2026-07-11") -> list[str]:
    records = []
    for i in range(n):
        title, abstract = TOPICS[i % len(TOPICS)]
        pid = f"2607.11{i:03d}"
        records.append(
            finish(
                PaperRecord(
                    id=pid,
                    title=f"{title}: follow-up {i}",
                    abstract=abstract,
                    authors=["New Author"],
                    categories=["cs.LG"],
                    announced=day,
                    source="jsonl",
                )
            )
        )
    store.ingest("jsonl", "later", records)
    papers = {p["id"]: p for p in store.iter_papers()}
    # the made-up vector of a new paper: its subject's direction (ids end in the subject number as in support.recs)
    rows = []
    for i, r in enumerate(records):
        subject_twin = f"2607.10{i % len(TOPICS):03d}"
        rows.append((r.id, papers[r.id]["seq"], vector_for(subject_twin).tobytes()))
    store.put_vectors(MODEL, rows)
    return [r.id for r in records]


def test_update_places_new_papers_in_their_subject_and_near_it(built, settings):
    store, ids, _ = built
    members = _membership(store)
    topic_of_subject = {topic_of(pid): topic for pid, topic in members.items()}
    new = _new_papers(store, 10)
    assert {r[0] for r in store.topics.pending(MODEL)} == set(new)
    report = topics_service.update(store, settings, model=MODEL)
    assert report.papers == 10 and not store.topics.pending(MODEL)
    after = _membership(store)
    points = {pid: (x, y) for pid, x, y, _ in store.topics.placements()}
    for i, pid in enumerate(new):
        subject = i % len(TOPICS)
        assert after[pid] == topic_of_subject[subject]
        same = np.asarray([points[p] for p in ids if topic_of(p) == subject])
        other = np.asarray([points[p] for p in ids if topic_of(p) != subject])
        here = np.asarray(points[pid])
        assert np.linalg.norm(same - here, axis=1).min() < np.linalg.norm(other - here, axis=1).min()
    assert sum(t["size"] for t in store.topics.topics()) == 120
    assert all(store.topics.keywords(new).values())
    # nothing new: nothing done
    assert topics_service.update(store, settings, model=MODEL).papers == 0


def test_when_a_rebuild_is_due(store, settings):
    assert topics_service.due(store, settings, MODEL) is None  # no vectors
    fill(store)
    assert topics_service.due(store, settings, MODEL) == "first build"
    topics_service.rebuild(store, settings, model=MODEL, k=5)
    assert topics_service.due(store, settings, MODEL) is None
    _new_papers(store, 10)  # 9 % more
    assert topics_service.due(store, settings, MODEL) is None
    later = datetime.now(UTC) + timedelta(days=8)
    assert topics_service.due(store, settings, MODEL, now=later) == "8 days old"
    _new_papers(store, 20, day="2026-07-12")
    # ids repeat 2607.11000.. for the first ten: 20 gives 10 more papers, 20 in all over 110 = 18 %
    grown = settings.with_overrides(topics_rebuild_growth=0.15)
    assert topics_service.due(store, grown, MODEL).startswith("grew")
    assert topics_service.due(store, settings, "another/model") is None  # no vectors of it: nothing to build
    store.put_vectors(
        "another/model", [(p["id"], p["seq"], vector_for(p["id"]).tobytes()) for p in store.iter_papers()]
    )
    assert topics_service.due(store, settings, "another/model") == "new model"


def test_refresh_rebuilds_once_then_updates_then_rests(store, settings):
    fill(store)
    first = topics_service.refresh(settings, store, model=MODEL)
    assert first is not None and first.kind == "rebuild" and first.papers == 110
    assert topics_service.refresh(settings, store, model=MODEL) is None  # level: one cheap look
    _new_papers(store, 5)
    second = topics_service.refresh(settings, store, model=MODEL)
    assert second is not None and second.kind == "update" and second.papers == 5
    assert topics_service.refresh(settings, store, model=MODEL) is None


def test_papers_that_left_the_store_leave_the_map(built):
    store, ids, _ = built
    from sqlalchemy import delete

    from paperboy.store import schema as t

    with store.engine.begin() as conn:
        conn.execute(delete(t.papers).where(t.papers.c.id == ids[0]))
    assert ids[0] not in {pid for pid, *_ in store.topics.placements()}  # the map's reads skip it at once
    assert store.topics.remove_missing() == 1
    assert store.topics.remove_missing() == 0
    assert ids[0] not in store.topics.keywords([ids[0]])


def test_empty_and_tiny_stores(store, settings):
    report = topics_service.rebuild(store, settings, model=MODEL)
    assert report.papers == 0 and report.topics == 0 and store.topics.topics() == []
    assert topics_service.update(store, settings, model=MODEL).papers == 0


def test_clean_text_normalize_and_surface():
    assert "$" not in tm.clean_text(r"Sparse $\alpha$-entmax", r"We use \emph{sparse} attention")
    assert tm.normalize_key("Large Language Models") == "large language model"
    assert tm.normalize_key("Diffusion Policies") == "diffusion policy"
    assert tm.normalize_key("Gaussian Process") == "gaussian process"
    title, abstract = (
        "Diffusion Models for Protein Design",
        "Diffusion models work. We use LLM agents and diffusion models.",
    )
    assert tm.surface("diffusion models", title, abstract) == "diffusion models"
    assert tm.surface("llm agents", title, abstract) == "LLM agents"
    assert tm.surface("protein design", title, abstract) == "protein design"
    assert tm.surface("detection objects", "Detection of objects", "") is None
    assert tm.default_k(0) == 0 and tm.default_k(15) == 1 and tm.default_k(110) == 2 and tm.default_k(118_000) == 148
    assert tm.default_k(10_000_000) == tm.K_MAX


def test_topic_filter_in_search_by_number_and_by_key_phrase(built, settings):
    from paperboy.indices.keyword import KeywordIndex
    from paperboy.indices.query import parse_query
    from paperboy.indices.vector import VectorIndex
    from paperboy.services.search import SearchService

    store, ids, _ = built
    members = _membership(store)
    quantum_topic = next(topic for pid, topic in members.items() if topic_of(pid) == 4)
    keyword = KeywordIndex.for_settings(settings)
    keyword.catch_up(store)
    search = SearchService(store, keyword)
    q = parse_query(f"study topic:{quantum_topic}")
    assert q.topics == [str(quantum_topic)] and q.has_filters and f"topic:{quantum_topic}" in q.describe()
    page = search.search(f"study topic:{quantum_topic}", mode="keyword", limit=100)
    assert page.results and {topic_of(r.id) for r in page.results} == {4}
    assert len(page.results) == sum(1 for pid in ids if topic_of(pid) == 4)
    # filters alone list the topic's papers; a phrase finds its papers (case and plural ignored)
    alone = search.search(f"topic:{quantum_topic}", limit=100)
    assert {topic_of(r.id) for r in alone.results} == {4} and len(alone.results) == 22
    phrase = search.search('topic:"Error Corrections"', limit=100)
    assert phrase.results and {topic_of(r.id) for r in phrase.results} == {4}
    either = search.search(
        f'topic:"error correction" topic:{members[next(p for p in ids if topic_of(p) == 0)]}', limit=200
    )
    assert {topic_of(r.id) for r in either.results} == {0, 4}
    nothing = search.search('topic:"no such phrase at all"', limit=10)
    assert nothing.results == [] and any("key phrase" in w for w in nothing.warnings)
    assert any("no topic" in w for w in search.search("topic:99999", limit=10).warnings)
    assert search.search("topic:", limit=10).warnings  # an empty value is explained, never an error
    # the vector search honours it too: semantic results only from the topic
    vectors = VectorIndex(settings.home / "vectors", MODEL, len(vector_for(ids[0])))
    vectors.catch_up(store)

    class Embedder:  # the query's vector: the quantum subject's own direction
        model_name = MODEL

        def embed_query(self, text):
            return vector_for("2607.10000")  # a protein paper's direction: the nearest papers are protein ones

    semantic = SearchService(store, keyword, vectors, Embedder())
    found = semantic.search(f"folding topic:{quantum_topic}", mode="semantic", limit=10)
    assert found.results and {topic_of(r.id) for r in found.results} == {4}
    unfiltered = semantic.search("folding", mode="semantic", limit=10)
    assert {topic_of(r.id) for r in unfiltered.results} == {0}
    with_cat = semantic.search(f"folding topic:{quantum_topic} cat:cs.LG", mode="hybrid", limit=10)
    assert {topic_of(r.id) for r in with_cat.results} == {4}


def _make_one_subject_rise(store) -> None:
    """Eight papers of every subject in May (the 12 weeks before), then 30 more of subject 4 on the newest day."""
    members = _membership(store)
    twin = {topic_of(pid): pid for pid in members}
    made = []
    for i in range(40):
        title, abstract = TOPICS[i % 5]
        made.append((finish(PaperRecord(id=f"2605.20{i:03d}", title=f"{title}: more", abstract=abstract,
                                        announced="2026-05-20", source="jsonl")), i % 5))  # fmt: skip
    for i in range(30):
        made.append((finish(PaperRecord(id=f"2607.10{900 + i}", title=f"{TOPICS[4][0]}: new {i}", abstract=TOPICS[4][1],
                                        announced="2026-07-10", source="jsonl")), 4))  # fmt: skip
    store.ingest("jsonl", "more", [r for r, _ in made])
    papers = {p["id"]: p for p in store.iter_papers()}
    store.put_vectors(MODEL, [(r.id, papers[r.id]["seq"], vector_for(twin[s]).tobytes()) for r, s in made])


def test_growth_is_by_share_and_digests_show_the_rising_topics(built, settings):
    from datetime import date

    from paperboy.services.digest import Digest, DigestBuilder, Section
    from paperboy.services.digest_mail import Renderer
    from paperboy.services.subscriptions import Links
    from paperboy.services.topic_views import build_index

    store, ids, _ = built
    quantum_id = next(topic for pid, topic in _membership(store).items() if topic_of(pid) == 4)
    _make_one_subject_rise(store)
    topics_service.update(store, settings, model=MODEL)
    index = build_index(store)
    quantum = index.by_id[quantum_id]
    # the last 28 days: 20 + 30 of its papers among 130; the 84 days before: 2 (4 May) + 8 (20 May) among 50
    assert (quantum.recent, quantum.before) == (50, 10)
    assert quantum.growth == pytest.approx((50 / 130) / (10 / 50) - 1)
    others = [t for t in index.topics if t.id != quantum.id]
    assert all(t.growth is not None and t.growth < quantum.growth for t in others)
    assert index.rising(3)[0].id == quantum.id
    assert sum(sum(t.weekly) for t in index.topics) == 110 + 70
    builder = DigestBuilder(store, settings)
    rising = builder.rising()
    assert rising[0]["id"] == quantum.id and rising[0]["recent"] == 50
    paper = store.activity.listed([ids[0]])
    digest = Digest({"id": 1, "email": "reader@example.org"}, "2026-07-10", date(2026, 7, 10),
                    [Section("trending", "Trending", paper)], {}, rising=rising)  # fmt: skip
    mail = Renderer(settings).render(digest, Links("https://x/c", "https://x/m", "https://x/u"))
    assert "GROWING FASTEST THIS MONTH" in mail.text and f"/topics/{quantum.id}" in mail.text
    assert "Growing fastest this month" in mail.html and quantum.label in mail.html


def test_topics_command_rebuild_list_and_show(settings):
    import json

    from typer.testing import CliRunner

    from paperboy.cli.main import app
    from paperboy.store import Store

    runner = CliRunner()
    home = str(settings.home)
    with Store.open(settings) as store:
        store.ingest("jsonl", "fixture", recs_corpus())
    empty = runner.invoke(app, ["--home", home, "topics", "rebuild"])
    assert empty.exit_code == 1 and "no vectors" in empty.output  # nothing embedded yet: said so, no traceback
    with Store.open(settings) as store:  # vectors under the configured model's name, as `paperboy index` makes them
        model = topics_service.configured_model(settings)
        store.put_vectors(model, [(p["id"], p["seq"], vector_for(p["id"]).tobytes()) for p in store.iter_papers()])
    built = runner.invoke(app, ["--home", home, "topics", "rebuild", "--k", "5"])
    assert built.exit_code == 0, built.output
    assert "5 topics over 110 papers" in built.output and "map layout" in built.output
    listed = json.loads(runner.invoke(app, ["--home", home, "topics", "list", "--json"]).output)
    assert len(listed) == 5 and {"id", "label", "size", "growth"} <= set(listed[0])
    table = runner.invoke(app, ["--home", home, "topics", "list", "--sort", "growth"])
    assert table.exit_code == 0 and "5 topics" in table.output
    shown = json.loads(runner.invoke(app, ["--home", home, "topics", "show", str(listed[0]["id"]), "--json"]).output)
    assert shown["id"] == listed[0]["id"] and len(shown["papers"]) == 10 and len(shown["nearest"]) == 4
    text = runner.invoke(app, ["--home", home, "topics", "show", str(listed[0]["id"])])
    assert text.exit_code == 0 and "weekly:" in text.output
    missing = runner.invoke(app, ["--home", home, "topics", "show", "4242"])
    assert missing.exit_code == 1 and "no topic 4242" in missing.output
