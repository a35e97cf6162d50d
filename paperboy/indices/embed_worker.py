"""The embedding function that every way of running ``paperboy index`` shares: in the indexer
itself, in a pool of local processes (``--workers N``) and on a distributed engine (``--cluster``).

A worker process holds one single-threaded ``Embedder`` (so N workers use N cores without their
thread pools fighting over them) and its own connection to the store, and writes the vectors it
makes itself: nothing but paper texts goes to a worker and nothing but a count comes back.  The
store gives every written vector a change number when it commits (``store/changes.py``), so the
order in which workers finish does not matter to the indices that follow the store.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from paperboy.indices.embedding import Embedder, document_text

#: (id, seq, title, abstract): what the store's ``iter_papers_to_embed`` pages hold.
PaperRow = tuple[str, int, str, str]

_state: dict[str, Any] = {}


def texts_of(rows: list[PaperRow]) -> list[str]:
    """The texts the papers are embedded as (``document_text``)."""
    return [document_text({"title": title, "abstract": abstract}) for _, _, title, abstract in rows]


def vector_rows(rows: list[PaperRow], vectors: np.ndarray) -> list[tuple[str, int, bytes]]:
    """``put_vectors``' rows: each paper with the seq it was read at and its float32 bytes."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return [(pid, seq, vectors[i].tobytes()) for i, (pid, seq, _, _) in enumerate(rows)]


def setup(model_dir: str, model_name: str, max_tokens: int, database_url: str, parent: int | None = None) -> None:
    """Load the exported model (one thread) and open the store in this worker process, once."""
    if parent is not None:
        _follow_parent(parent)
    if _state.get("key") == (model_dir, model_name, max_tokens, database_url):
        return
    from paperboy.store import Store
    from paperboy.store.db import make_engine

    _state.clear()
    _state["embedder"] = Embedder(Path(model_dir), model_name, max_tokens, threads=1)
    _state["store"] = Store(make_engine(database_url))
    _state["key"] = (model_dir, model_name, max_tokens, database_url)


def embed_and_store(rows: list[PaperRow]) -> int:
    """Embed a page of papers and commit their vectors (in this process's store); how many."""
    embedder: Embedder = _state["embedder"]
    vectors = embedder.embed_documents(texts_of(rows))
    _state["store"].put_vectors(embedder.model_name, vector_rows(rows, vectors))
    return len(rows)


def _follow_parent(parent: int) -> None:
    """End this worker when the process that started the job ends, even by ``kill -9``: Linux's
    parent-death signal when ``parent`` is our parent, and a thread that watches the pid either way
    (a Dask worker's parent is its nanny, not the job)."""
    if parent == os.getppid():
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if not _alive(parent):  # it died before we asked
        os._exit(0)

    def watch() -> None:
        while _alive(parent):
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="paperboy-parent-watch").start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
