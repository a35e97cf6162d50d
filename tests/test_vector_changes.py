"""Vectors committed out of ``seq`` order (as a pool of embedding workers commits them) all reach
every index that follows the store: the catch-up key is the vector change number, not ``seq``."""

from __future__ import annotations

import threading

import numpy as np

from paperboy.indices.vector import VectorIndex
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord
from paperboy.store import Store

DIM = 16


def unit(n: int, seed: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def fill(store: Store, n: int) -> list[dict]:
    store.ingest(
        "jsonl", "x", [finish(PaperRecord(title=f"Paper {i}", id=f"2501.{i:05d}", source="jsonl")) for i in range(n)]
    )
    return store.papers_to_embed("m", limit=n)


def rows(papers: list[dict], x: np.ndarray) -> list[tuple[str, int, bytes]]:
    return [(p["id"], p["seq"], x[int(p["id"][5:])].tobytes()) for p in papers]


def test_vectors_committed_out_of_seq_order_all_reach_the_index(store, tmp_path):
    x = unit(200)
    papers = fill(store, 200)
    store.put_vectors("m", rows(papers[100:], x))  # the second half of the papers is committed first
    follower = VectorIndex.open(tmp_path / "v", "m", DIM)
    assert follower.catch_up(store) == 100
    store.put_vectors("m", rows(papers[:100], x))  # then the first half, all with smaller seq
    assert follower.catch_up(store) == 100 and len(follower) == 200
    assert len(VectorIndex.open(tmp_path / "v", "m", DIM)) == 200  # and after reopening
    assert follower.search(x[7], 1)[0].id == "2501.00007"


def test_two_concurrent_writers_and_a_follower_lose_nothing(store, settings, tmp_path):
    """Two writers (each its own engine, as two worker processes) commit small pages in opposite
    seq orders while a follower catches up in a loop; the follower ends with every vector."""
    x = unit(600)
    papers = fill(store, 600)
    low, high = papers[:300], papers[300:]
    done = threading.Event()
    errors: list[BaseException] = []

    def write(part: list[dict]) -> None:
        try:
            with Store.open(settings) as own:
                for start in range(0, len(part), 10):
                    own.put_vectors("m", rows(part[start : start + 10], x))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    follower = VectorIndex.open(tmp_path / "v", "m", DIM)
    writers = [threading.Thread(target=write, args=(low,)), threading.Thread(target=write, args=(high[::-1],))]
    for w in writers:
        w.start()

    def follow() -> None:
        while not done.is_set():
            follower.catch_up(store)

    watcher = threading.Thread(target=follow)
    watcher.start()
    for w in writers:
        w.join()
    done.set()
    watcher.join()
    assert not errors
    follower.catch_up(store)
    assert len(follower) == 600 and set(follower.ids) == {p["id"] for p in papers}
    changes = [change for page in store.iter_vectors("m") for _, change, _ in page]
    assert sorted(changes) == changes and len(set(changes)) == 600  # every vector its own number


def test_an_index_of_the_old_format_is_rebuilt(store, tmp_path):
    import json

    x = unit(30)
    store.put_vectors("m", rows(fill(store, 30), x))
    VectorIndex.open(tmp_path / "v", "m", DIM).catch_up(store)
    meta = json.loads((tmp_path / "v" / "meta.json").read_text())
    meta["format"] = 1  # as written before vectors had change numbers (its last_seq could have skipped some)
    (tmp_path / "v" / "meta.json").write_text(json.dumps(meta))
    again = VectorIndex.open(tmp_path / "v", "m", DIM)
    assert len(again) == 0 and again.catch_up(store) == 30
