"""Indexing: the keyword index first, then embeddings, then the vector index; once (``paperboy index``)
or forever (the background indexer process of ``paperboy serve``).

It runs in a process of its own, so embedding (CPU-bound for tens of minutes on a new corpus)
never holds the web processes' interpreter.  It is the only writer of the index files; its
progress goes to ``<home>/index/status.json`` (written atomically) for the status page.
Everything it writes can be rebuilt from the store, so killing it at any moment is safe.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from paperboy.config import Settings
from paperboy.indices.keyword import KeywordIndex
from paperboy.store import Store

log = logging.getLogger(__name__)


def status_path(settings: Settings) -> Path:
    """Where the indexer reports what it is doing."""
    return Path(settings.home) / "index" / "status.json"


def read_status(settings: Settings) -> dict[str, Any]:
    """The indexer's last report ({} before its first)."""
    try:
        return json.loads(status_path(settings).read_text())
    except (OSError, ValueError):
        return {}


class _Reporter:
    """Writes the status file, at most every ``every`` seconds unless forced."""

    def __init__(self, settings: Settings, every: float = 1.0) -> None:
        self.path = status_path(settings)
        self.every = every
        self.state: dict[str, Any] = {"pid": os.getpid(), "started_at": time.time()}
        self._last = 0.0

    def __call__(self, force: bool = False, **values: Any) -> None:
        self.state.update(values)
        now = time.time()
        if not force and now - self._last < self.every:
            return
        self._last = now
        self.state["updated_at"] = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.path)


def index_once(
    settings: Settings, store: Store, semantic: bool = True, report: Any = None, stop: Any = None, embedder: Any = None
) -> dict[str, Any]:
    """Bring the keyword index, the vectors and the saved vector index level with the store; returns
    what they hold (``keyword_docs``, and with ``semantic`` also ``vectors`` and ``vector_docs``).

    ``report(force=False, **values)`` hears the progress (the status file of ``paperboy serve``,
    the progress bars of ``paperboy index``).  ``embedder``: an already loaded one (the app's own),
    so the vectors are made by the model that searches them and the model is not exported twice.
    """
    report = report or (lambda force=False, **values: None)
    keyword = KeywordIndex.for_settings(settings)
    total = store.count_papers()
    report(force=True, phase="keyword index", papers=total, keyword_docs=len(keyword))
    keyword.catch_up(store, progress=lambda n: report(keyword_docs=len(keyword)))
    report(force=True, keyword_docs=len(keyword))
    if not semantic or (stop is not None and stop.is_set()):
        return {"keyword_docs": len(keyword)}
    from paperboy.indices.embed_job import embed_pending
    from paperboy.indices.embedding import Embedder
    from paperboy.indices.vector import VectorIndex

    report(force=True, phase="preparing the embedding model (first start: about a minute)")
    embedder = embedder if embedder is not None else Embedder.open(settings)
    assert embedder is not None
    done, total = store.vector_counts(embedder.model_name)
    started, first = time.time(), done
    report(force=True, phase="embedding", model=embedder.model_name, vectors=done, papers=total)

    def progress(done: int, total: int) -> None:
        rate = (done - first) / max(time.time() - started, 1e-9)
        report(vectors=done, papers=total, rate=round(rate, 1))

    embed_pending(store, embedder, progress=progress, stop=stop)
    vectors = VectorIndex.for_settings(settings, embedder.model_name, embedder.dim)
    report(force=True, phase="vector index", vector_docs=len(vectors))
    vectors.catch_up(store, progress=lambda n: report(vector_docs=len(vectors)))
    if stop is None or not stop.is_set():
        from paperboy.services.topics import refresh as refresh_topics

        refresh_topics(settings, store, embedder.model_name, report)  # topics and the map
    done, total = store.vector_counts(embedder.model_name)
    report(force=True, phase="idle", vectors=done, papers=total, keyword_docs=len(keyword), vector_docs=len(vectors))
    return {"keyword_docs": len(keyword), "vectors": done, "vector_docs": len(vectors)}


def run_forever(settings: Settings, semantic: bool = True, interval: float = 10.0, stop: Any = None) -> None:
    """Index, wait ``interval`` seconds, repeat (new papers arrive by import and submission); never raises."""
    stop = stop or threading.Event()
    report = _Reporter(settings)
    with Store.open(settings) as store:
        while not stop.is_set():
            try:
                index_once(settings, store, semantic, report, stop)
            except Exception as exc:  # keep serving; say what went wrong on the status page
                log.exception("indexing failed")
                report(force=True, phase="error", error=f"{type(exc).__name__}: {exc}")
            stop.wait(interval)


def _exit_with_parent(parent: int) -> None:
    """End this process when ``paperboy serve`` ends, however it ends (uvicorn re-raises SIGTERM,
    so the server gets no chance to stop us).  Safe at any moment: everything written is rebuildable."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main(home: str, semantic: bool = True) -> None:
    """Entry point of the indexer process started by ``paperboy serve``."""
    from paperboy.config import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s indexer %(levelname)s %(message)s")
    try:  # the web processes come first: embedding takes whatever CPU they leave
        os.nice(10)
    except OSError:
        pass
    logging.getLogger("alembic").setLevel(logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: serve ends us itself
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    run_forever(load_settings(home), semantic)
