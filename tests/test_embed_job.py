"""The embedding job: incremental, resumable, stoppable, re-embeds changed papers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from paperboy.indices.embed_job import embed_pending
from paperboy.indices.embedding import document_text
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord


def paper(i: int, title: str, abstract: str = "", source: str = "jsonl") -> PaperRecord:
    return finish(PaperRecord(title=title, id=f"2501.{i:05d}", abstract=abstract, source=source))


def test_embeds_missing_then_only_changed(store, embedder):
    store.ingest("jsonl", "x", [paper(i, f"Graph neural networks part {i}", "We study graphs.") for i in range(40)])
    seen: list[tuple[int, int]] = []
    assert embed_pending(store, embedder, page=16, progress=lambda d, t: seen.append((d, t))) == 40
    assert seen[-1] == (40, 40) and len(seen) == 3
    assert embed_pending(store, embedder) == 0  # nothing new
    store.ingest("arxiv", "y", [paper(3, "Protein folding with diffusion", source="arxiv")])
    assert embed_pending(store, embedder) == 1
    vectors = {
        pid: np.frombuffer(vec, dtype=np.float32)
        for page in store.iter_vectors(embedder.model_name)
        for pid, _, vec in page
    }
    expected = embedder.embed_documents([document_text(store.get_paper("2501.00003"))])[0]
    assert float(vectors["2501.00003"] @ expected) > 0.999
    assert float(vectors["2501.00003"] @ vectors["2501.00004"]) < 0.9


def test_stop_leaves_the_rest_for_later(store, embedder):
    store.ingest("jsonl", "x", [paper(i, f"Paper {i}") for i in range(80)])
    stop = threading.Event()
    done = embed_pending(store, embedder, page=10, progress=lambda d, t: stop.set(), stop=stop)
    # stopped at the first commit; what was embedded meanwhile is kept too: the page in hand and
    # at most two waiting for the writer (a writer slowed by a busy machine lets them pile up)
    assert 10 <= done <= 40 and store.vector_counts(embedder.model_name) == (done, 80)
    assert embed_pending(store, embedder, page=10) == 80 - done  # resumes where it stopped
    assert store.vector_change() == 80  # nothing embedded twice


def test_a_failing_write_ends_the_job_with_its_error(store, embedder, monkeypatch):
    store.ingest("jsonl", "x", [paper(i, f"Paper {i}") for i in range(30)])

    def broken(model, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "put_vectors", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        embed_pending(store, embedder, page=10)
