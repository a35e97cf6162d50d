"""``paperboy index --workers N`` and ``--cluster local:N``: the same vectors as embedding in one
process, committed by the workers; stoppable and resumable; a killed job loses and repeats nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from paperboy.cli.main import app
from paperboy.config import load_settings
from paperboy.indices.embed_pool import embed_with_workers
from paperboy.indices.embedding import document_text
from paperboy.indices.vector import VectorIndex
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord
from paperboy.store import Store

WORDS = "graph neural diffusion protein language vision robot policy quantum sparse attention retrieval".split()


def papers(n: int, start: int = 0) -> list[PaperRecord]:
    """Papers with differing texts of differing lengths (so pages sort and pad as real ones do)."""
    out = []
    for i in range(start, start + n):
        words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(5 + i % 40))
        out.append(
            finish(
                PaperRecord(title=f"On {WORDS[i % len(WORDS)]} {i}", id=f"2501.{i:05d}", abstract=words, source="jsonl")
            )
        )
    return out


def stored_vectors(store: Store, model: str) -> dict[str, np.ndarray]:
    return {pid: np.frombuffer(vec, dtype=np.float32) for page in store.iter_vectors(model) for pid, _, vec in page}


def assert_same_as_one_process(store: Store, embedder, ids: list[str]) -> None:
    vectors = stored_vectors(store, embedder.model_name)
    assert set(vectors) == set(ids)
    sample = store.get_papers(ids[:: max(1, len(ids) // 20)])
    expected = embedder.embed_documents([document_text(p) for p in sample])
    cosines = [float(vectors[paper["id"]] @ want) for paper, want in zip(sample, expected, strict=True)]
    # int8 activations are quantized per batch, so a vector depends a little on its batch-mates
    # (about 0.99 between two batchings of one text; an unrelated paper scores far lower)
    assert min(cosines) > 0.98 and np.mean(cosines) > 0.99


def test_workers_embed_what_one_process_would_and_stop_and_resume(settings, store, embedder):
    store.ingest("jsonl", "x", papers(120))
    stop = threading.Event()
    first = embed_with_workers(settings, store, embedder, 2, page=16, progress=lambda d, t: stop.set(), stop=stop)
    assert 0 < first < 120  # stopped early: the pages in flight were finished, the rest left
    assert store.vector_counts(embedder.model_name) == (first, 120)
    assert embed_with_workers(settings, store, embedder, 2, page=16) == 120 - first
    assert store.vector_change() == 120  # every paper committed once
    assert_same_as_one_process(store, embedder, [p.id for p in papers(120)])


def test_paperboy_index_on_a_local_cluster_of_two_workers(settings, embedder):
    with Store.open(settings) as store:
        store.ingest("jsonl", "x", papers(200))
    result = CliRunner().invoke(app, ["--home", str(settings.home), "index", "--cluster", "local:2"])
    assert result.exit_code == 0, result.output
    assert "indexed 200 papers, 200 vectors" in result.output
    with Store.open(settings) as store:
        assert store.vector_change() == 200  # written once each, by the workers
        assert_same_as_one_process(store, embedder, [p.id for p in papers(200)])
        index = VectorIndex.for_settings(settings, embedder.model_name, embedder.dim)
        assert len(index) == 200 and index.catch_up(store) == 0


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_killing_paperboy_index_workers_loses_and_repeats_nothing(tmp_path, embedder):
    settings = load_settings(tmp_path / "home")
    with Store.open(settings) as store:
        store.ingest("jsonl", "x", papers(200))
    command = [sys.executable, "-m", "paperboy.cli.main", "--home", str(settings.home), "index", "--workers", "2"]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        with Store.open(settings) as store:
            while store.vector_counts(embedder.model_name)[0] == 0:
                assert job.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        workers = children(job.pid)
        assert workers
        job.send_signal(signal.SIGKILL)
        job.wait()
        while any(alive(pid) for pid in workers):  # the workers end with their parent
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    with Store.open(settings) as store:
        done = store.vector_counts(embedder.model_name)[0]
        assert 0 < done < 200
    result = CliRunner().invoke(app, ["--home", str(settings.home), "index", "--workers", "2"])
    assert result.exit_code == 0, result.output
    with Store.open(settings) as store:
        assert store.vector_counts(embedder.model_name) == (200, 200)
        assert store.vector_change() == 200  # nothing committed twice, nothing lost
