"""The vector index: recall against exact search, persistence, catch-up and rebuilds."""

from __future__ import annotations

import numpy as np
import pytest

from paperboy.indices.vector import VectorIndex
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord

DIM = 32


def clustered(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    x = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def fill(store, n: int, start: int = 0) -> list[str]:
    records = [finish(PaperRecord(title=f"Paper {i}", id=f"2501.{i:05d}", source="jsonl")) for i in range(start, n)]
    store.ingest("jsonl", "x", records)
    return [r.id for r in records]


def embed_all(store, model: str, vectors: np.ndarray) -> None:
    todo = store.papers_to_embed(model, limit=100000)
    store.put_vectors(model, [(p["id"], p["seq"], vectors[int(p["id"][5:])].tobytes()) for p in todo])


def test_recall_against_exact_search(store, tmp_path):
    x = clustered(3000)
    fill(store, 3000)
    embed_all(store, "m", x)
    index = VectorIndex.open(tmp_path / "v", "m", DIM)
    assert index.catch_up(store) == 3000
    queries = clustered(100, seed=11)
    hits = 0
    for q in queries:
        exact = {f"2501.{i:05d}" for i in np.argsort(-(x @ q))[:10]}
        hits += len(exact & {n.id for n in index.search(q, 10)})
    assert hits / 1000 >= 0.97
    top = index.search(x[5], 1)[0]
    assert top.id == "2501.00005" and top.score == pytest.approx(1.0, abs=1e-4)


def test_persisted_then_caught_up_incrementally(store, tmp_path):
    x = clustered(300)
    fill(store, 200)
    embed_all(store, "m", x)
    VectorIndex.open(tmp_path / "v", "m", DIM).catch_up(store)
    fill(store, 300, start=200)
    embed_all(store, "m", x)
    reopened = VectorIndex.open(tmp_path / "v", "m", DIM)
    assert len(reopened) == 200  # loaded from disk, not rebuilt
    assert reopened.catch_up(store) == 100
    assert len(VectorIndex.open(tmp_path / "v", "m", DIM)) == 300
    assert reopened.search(x[250], 1)[0].id == "2501.00250"


def test_changed_vector_replaces_the_old_one(store, tmp_path):
    x = clustered(50)
    fill(store, 50)
    embed_all(store, "m", x)
    index = VectorIndex.open(tmp_path / "v", "m", DIM)
    index.catch_up(store)
    (paper,) = [p for p in store.get_papers(["2501.00003"])]
    store.ingest("arxiv", "y", [finish(PaperRecord(title="New", id="2501.00003v2", source="arxiv"))])
    (todo,) = store.papers_to_embed("m")
    store.put_vectors("m", [(todo["id"], todo["seq"], x[40].tobytes())])
    assert index.catch_up(store) == 1 and len(index) == 50
    assert {n.id for n in index.search(x[40], 2)} == {"2501.00003", "2501.00040"}
    assert paper["seq"] < todo["seq"]


def test_rebuilt_when_model_changes_or_files_are_damaged(store, tmp_path):
    x = clustered(100)
    fill(store, 100)
    embed_all(store, "m", x)
    VectorIndex.open(tmp_path / "v", "m", DIM).catch_up(store)
    assert len(VectorIndex.open(tmp_path / "v", "other-model", DIM)) == 0
    for f in (tmp_path / "v").iterdir():
        if f.name.startswith("graph-"):
            f.write_bytes(b"garbage")
    damaged = VectorIndex.open(tmp_path / "v", "m", DIM)
    assert len(damaged) == 0 and damaged.catch_up(store) == 100


def test_index_ahead_of_store_is_rebuilt(store, settings, tmp_path):
    x = clustered(100)
    fill(store, 100)
    embed_all(store, "m", x)
    index = VectorIndex.open(tmp_path / "v", "m", DIM)
    index.catch_up(store)
    index.last_change = 10**9  # as if the store had been restored from an older backup
    index.save()
    again = VectorIndex.open(tmp_path / "v", "m", DIM)
    assert again.catch_up(store) == 100 and again.last_change == store.vector_change()


def test_filtered_search_and_narrow_filters(store, tmp_path):
    x = clustered(500)
    fill(store, 500)
    embed_all(store, "m", x)
    index = VectorIndex.open(tmp_path / "v", "m", DIM)
    index.catch_up(store)
    even = index.search(x[1], 10, allow=lambda pid: int(pid[5:]) % 2 == 0)
    assert len(even) == 10 and all(int(n.id[5:]) % 2 == 0 for n in even)
    only_three = index.search(x[1], 10, allow=lambda pid: pid in {"2501.00001", "2501.00002", "2501.00003"})
    assert {n.id for n in only_three} == {"2501.00001", "2501.00002", "2501.00003"}
    assert only_three[0].id == "2501.00001"
    assert index.search(x[1], 10, allow=lambda pid: False) == []


def test_similarities_are_exact_cosines(store, tmp_path):
    x = clustered(50)
    fill(store, 50)
    embed_all(store, "m", x)
    index = VectorIndex.open(tmp_path / "v", "m", DIM)
    index.catch_up(store)
    q = clustered(1, seed=5)[0]
    sims = index.similarities(3 * q, ["2501.00003", "2501.00007", "9999.99999"])
    assert set(sims) == {"2501.00003", "2501.00007"}
    assert sims["2501.00003"] == pytest.approx(float(x[3] @ q), abs=1e-5)
    assert index.similarities(q, []) == {}
