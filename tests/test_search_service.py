"""The search service: modes, fusion, filters inside both rankings, explanations, similar papers."""

from __future__ import annotations

import pytest

from paperboy.indices.embed_job import embed_pending
from paperboy.indices.keyword import Hit
from paperboy.services.search import SearchService, fuse
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord

PAPERS = [
    (
        "2501.00001",
        "Graph neural networks for molecule property prediction",
        "We predict molecular properties with message passing on atom graphs.",
        ["cs.LG"],
        "2025-01-02",
    ),
    (
        "2501.00002",
        "Protein structure prediction with diffusion models",
        "A generative model folds amino acid chains into three-dimensional structures.",
        ["q-bio.BM"],
        "2025-01-03",
    ),
    (
        "2501.00003",
        "Speeding up transformer inference on mobile phones",
        "We quantize attention layers so that language models run quickly on smartphones.",
        ["cs.CL"],
        "2025-01-06",
    ),
    (
        "2501.00004",
        "Reinforcement learning for robot grasping",
        "A robot arm learns to pick up unseen objects from trial and error.",
        ["cs.RO"],
        "2025-01-07",
    ),
    (
        "2501.00005",
        "Robots that learn to grasp objects by trial and error",
        "Robotic manipulation policies are trained with rewards to pick up new items.",
        ["cs.RO", "cs.LG"],
        "2025-02-10",
    ),
    (
        "2501.00006",
        "Dark matter halos in cosmological simulations",
        "We measure the density profiles of halos in N-body simulations of the universe.",
        ["astro-ph.CO"],
        "2025-02-11",
    ),
    (
        "2501.00007",
        "A survey of <script>alert(1)</script> cross-site scripting",
        "Attacks that inject <b>markup</b> into web pages.",
        ["cs.CR"],
        "2025-02-12",
    ),
]


@pytest.fixture
def service(store, settings, embedder):
    records = [
        finish(
            PaperRecord(title=t, id=i, abstract=a, categories=c, announced=d, authors=["Ada Lovelace"], source="jsonl")
        )
        for i, t, a, c, d in PAPERS
    ]
    store.ingest("jsonl", "x", records)
    embed_pending(store, embedder)
    svc = SearchService.open(settings, store, embedder=embedder)
    assert svc.embedder.model_name == embedder.model_name
    return svc


def ids(page) -> list[str]:
    return [r.id for r in page.results]


def test_modes_and_explanations(service):
    page = service.search("robot grasping", mode="keyword")
    assert ids(page)[0] == "2501.00004" and page.mode == "keyword"
    # semantic finds the paraphrase with no shared words in the title
    sem = service.search("mechanical hand picking things up", mode="semantic", limit=2)
    assert set(ids(sem)) == {"2501.00004", "2501.00005"}
    hybrid = service.search("robot grasping", limit=3)
    assert hybrid.mode == "hybrid" and set(ids(hybrid)[:2]) == {"2501.00004", "2501.00005"}
    top = hybrid.results[0]
    assert top.keyword_rank == 1 and top.keyword_score > 0 and 0.3 < top.semantic_score <= 1.0
    assert "<mark>" in top.title_html


def test_filters_apply_inside_semantic_search(service):
    page = service.search("picking up objects", mode="semantic", categories=["cs.LG"])
    assert ids(page)[0] == "2501.00005" and set(ids(page)) <= {"2501.00001", "2501.00005"}
    page = service.search("robots cat:cs.RO since:2025-02-01", mode="hybrid")
    assert ids(page) == ["2501.00005"]
    assert "2501.00006" not in ids(service.search("universe -halos", mode="semantic"))
    assert ids(service.search("universe", mode="semantic"))[0] == "2501.00006"


def test_escaped_output_and_hostile_queries(service):
    page = service.search("scripting", mode="keyword")
    shown = page.results[0].title_html.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    for text in [
        '"unbalanced',
        "AND OR NOT",
        "'; DROP TABLE papers; --",
        "🚀" * 50,
        "x" * 10_000,
        "",
        "cat:",
        "since:nope",
    ]:
        for mode in ("hybrid", "keyword", "semantic", "bogus"):
            service.search(text, mode=mode)


def test_without_vectors_everything_answers_from_keywords(store, settings, embedder):
    store.ingest("jsonl", "x", [finish(PaperRecord(title="Graph networks", id="2501.00009", source="jsonl"))])
    svc = SearchService.open(settings, store, embedder=embedder)
    page = svc.search("graph", mode="semantic")
    assert page.mode == "keyword" and ids(page) == ["2501.00009"]
    assert any("not ready" in w for w in page.warnings)
    assert svc.similar("2501.00009") == []


def test_similar_papers(service, store, embedder):
    near = service.similar("2501.00004", limit=3)
    assert near[0].id == "2501.00005" and "2501.00004" not in [r.id for r in near]
    # an exact copy under another id is a duplicate, not a neighbour
    store.ingest(
        "jsonl", "y", [finish(PaperRecord(title=PAPERS[3][1], abstract=PAPERS[3][2], id="2502.00004", source="jsonl"))]
    )
    embed_pending(store, embedder)
    service.refresh()
    assert "2502.00004" not in [r.id for r in service.similar("2501.00004")]
    recent = service.similar("2501.00004", since="2025-02-01")
    assert recent and all(r.paper["announced"] >= "2025-02-01" for r in recent)
    assert service.similar("9999.99999") == []


def test_fusion_weighs_bm25_against_the_best_hit_and_cosine():
    ranked = fuse([Hit("a", 10.0), Hit("b", 5.0)], {"a": 0.2, "b": 0.9, "c": 0.95}, weight=0.4)
    assert [pid for pid, _ in ranked] == ["b", "c", "a"]
    assert dict(ranked) == pytest.approx({"a": 0.4 + 0.6 * 0.2, "b": 0.4 * 0.5 + 0.6 * 0.9, "c": 0.6 * 0.95})
    assert [pid for pid, _ in fuse([], {"x": 0.1, "y": 0.3})] == ["y", "x"]
    assert fuse([Hit("z", 0.0)], {}) == [("z", 0.0)]  # no positive BM25: no division by zero


def test_hybrid_explains_keyword_only_candidates_with_their_cosine(service):
    page = service.search("grasping", mode="hybrid", limit=10)
    assert page.results and all(r.semantic_score is not None for r in page.results)


def test_a_long_question_finds_the_papers_sharing_most_of_its_words(service):
    # no paper holds every word of the question ("arm", "learn", "objects" and "unseen" are in
    # 2501.00004; "trial" and "error" in both robot papers; "tabletop" and "gripper" nowhere)
    question = "can a robot arm learn to pick up unseen objects on a tabletop by trial and error with a gripper?"
    assert service.keyword.search(question, every_word=True) == []
    for mode in ("keyword", "hybrid"):
        found = ids(service.search(question, mode=mode, limit=3))
        assert found[:2] == ["2501.00004", "2501.00005"], mode


def test_a_title_finds_its_paper_first_in_every_mode(service):
    for pid, title, *_ in PAPERS:
        for mode in ("keyword", "hybrid", "semantic"):
            assert ids(service.search(title, mode=mode, limit=1)) == [pid], (mode, title)
    # half a title, words shuffled, still finds it by keywords and in hybrid
    for mode in ("keyword", "hybrid"):
        assert ids(service.search("inference transformer phones", mode=mode, limit=1)) == ["2501.00003"]


def test_phrases_exclusions_and_filters_hold_in_hybrid_ranking(service):
    # a phrase must match: papers with its words apart do not qualify
    for mode in ("hybrid", "semantic", "keyword"):
        assert set(ids(service.search('"trial and error" robot', mode=mode))) == {"2501.00004", "2501.00005"}, mode
    assert ids(service.search('"error and trial"', mode="hybrid")) == []
    # an exclusion removes a paper from both rankings, however well it matches
    assert "2501.00005" not in ids(service.search("robots grasp objects -rewards", mode="hybrid"))
    # filters admit only their papers, whatever the words say
    page = service.search("robots grasping cat:cs.LG", mode="hybrid")
    assert ids(page)[0] == "2501.00005" and all("cs.LG" in r.paper["categories"] for r in page.results)
    page = service.search("robots until:2025-01-31", mode="hybrid")
    assert ids(page)[0] == "2501.00004" and all(r.paper["announced"] <= "2025-01-31" for r in page.results)
