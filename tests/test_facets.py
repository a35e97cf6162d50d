"""Category and date filters of the vector search (``indices/facets.py``): the same papers as the
keyword engine's filters, kept level with the store, however many papers a filter admits."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from paperboy.indices import keyword as keyword_module
from paperboy.indices.embed_job import embed_pending
from paperboy.indices.keyword import KeywordIndex
from paperboy.indices.query import Query, parse_query
from paperboy.indices.vector import VectorIndex
from paperboy.services.search import SearchService
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord

CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "stat.ML", "math.OC", "hep-th", "astro-ph.CO", "q-bio.BM"]
DIM = 8


def _papers(n: int, seed: int = 1) -> list[PaperRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        day = None if i % 17 == 0 else date(2025, 1 + i % 12, 1 + i % 28).isoformat()
        cats = rng.sample(CATEGORIES, rng.randint(1, 3))
        out.append(
            finish(PaperRecord(title=f"Paper {i}", id=f"2501.{i:05d}", categories=cats, announced=day, source="t"))
        )
    return out


def _add_vectors(vectors: VectorIndex, store, ids: list[str]) -> None:
    rng = np.random.default_rng(0)
    seqs = {p["id"]: p["seq"] for p in store.get_papers(ids)}
    vectors.add([(pid, seqs[pid], rng.standard_normal(DIM).astype(np.float32).tobytes()) for pid in ids])


def _mask_ids(vectors: VectorIndex, store, query: Query) -> set[str]:
    facets = vectors.facets
    facets.sync(vectors.ids, vectors.labels, store.iter_facets(facets.last_seq))
    mask = facets.mask(query.categories, query.since, query.until)
    assert mask is not None
    return {vectors.ids[label] for label in np.flatnonzero(mask)}


@pytest.fixture
def indexed(store, settings, tmp_path):
    papers = _papers(300)
    store.ingest("jsonl", "x", papers)
    keyword = KeywordIndex.for_settings(settings)
    keyword.catch_up(store)
    vectors = VectorIndex(tmp_path / "v", "test-model", DIM)
    _add_vectors(vectors, store, [p.id for p in papers])
    return keyword, vectors


@pytest.mark.parametrize(
    "text",
    [
        "cat:cs.LG",
        "cat:cs",  # the whole archive
        "cat:CS.cl cat:hep-th",  # any of them, any case
        "cat:astro-ph",
        "since:2025-06",
        "until:2025-03-15",
        "since:2025-03 until:2025-05",
        "cat:stat.ML since:2025-10-02",
        "cat:nope.XX",
        "since:2025-09 until:2025-02",  # an empty range
    ],
)
def test_masks_admit_what_the_keyword_filters_admit(indexed, store, text):
    keyword, vectors = indexed
    query = parse_query(text)
    expected = {h.id for h in keyword.search(query, limit=keyword_module.MAX_DEPTH)}
    assert _mask_ids(vectors, store, query) == expected


def test_no_filter_no_mask(indexed):
    _, vectors = indexed
    assert vectors.facets.mask([], None, None) is None


def test_facets_follow_the_store_and_the_index(store, tmp_path):
    papers = _papers(20)
    store.ingest("jsonl", "x", papers)
    vectors = VectorIndex(tmp_path / "v", "test-model", DIM)
    _add_vectors(vectors, store, [p.id for p in papers[:10]])
    lg = parse_query("cat:math.OC")
    before = _mask_ids(vectors, store, lg)
    # papers seen before their vectors arrive get their facets with their labels
    _add_vectors(vectors, store, [p.id for p in papers[10:]])
    everyone = {p.id for p in papers if "math.OC" in p.categories}
    assert _mask_ids(vectors, store, lg) == everyone and before <= everyone
    # a new version with other categories moves the paper between filters
    moved = papers[3]
    store.ingest(
        "jsonl",
        "y",
        [
            finish(
                PaperRecord(
                    title="Paper 3",
                    id=moved.id,
                    version=2,
                    categories=["math.OC"],
                    announced="2026-03-01",
                    source="t",
                )
            )
        ],
    )
    assert moved.id in _mask_ids(vectors, store, lg)
    assert moved.id not in _mask_ids(vectors, store, parse_query("cat:stat.ML"))
    expected = {p["id"] for p in store.get_papers([p.id for p in papers]) if (p["announced"] or "") >= "2025-06"}
    assert _mask_ids(vectors, store, parse_query("since:2025-06")) == expected
    # an index rebuilt from nothing starts its facets over
    vectors.__init__(vectors.path, vectors.model, vectors.dim)
    assert len(vectors.facets) == 0


@pytest.fixture
def service(store, settings, embedder):
    records = [
        finish(
            PaperRecord(
                title=f"Robot grasping study {i}",
                id=f"2501.{i:05d}",
                abstract="A robot arm learns to pick up unseen objects from trial and error.",
                categories=["cs.RO"],
                announced=date(2025, 1 + i % 12, 1 + i % 28).isoformat(),
                source="jsonl",
            )
        )
        for i in range(40)
    ]
    store.ingest("jsonl", "x", records)
    embed_pending(store, embedder)
    return SearchService.open(settings, store, embedder=embedder)


def test_a_filter_wider_than_the_keyword_engines_deepest_page_admits_every_paper(service, monkeypatch):
    # the former predicate came from a keyword search capped at MAX_DEPTH (newest first): with a
    # cap of 5, only the 5 newest of 40 cs.RO papers could be found semantically
    monkeypatch.setattr(keyword_module, "MAX_DEPTH", 5)
    page = service.search("mechanical hand picking things up cat:cs.RO", mode="semantic", limit=30)
    assert len(page.results) == 30


def test_exclusions_are_checked_on_the_semantic_candidates(service, monkeypatch):
    monkeypatch.setattr(keyword_module, "MAX_DEPTH", 5)
    page = service.search('robot arm -"study 7" -"study 12"', mode="semantic", limit=40)
    found = {r.id for r in page.results}
    assert len(found) == 38 and not found & {"2501.00007", "2501.00012"}
