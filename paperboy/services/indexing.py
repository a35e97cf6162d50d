"""Indexing: the keyword index first, then embeddings, then the vector index; once (``paperboy index``)
or forever (the background indexer process of ``paperboy serve``).

It runs in a process of its own, so embedding (CPU-bound for tens of minutes on a new corpus)
never holds the web processes' interpreter.  Everything it writes can be rebuilt from the store,
so killing it at any moment is safe.

Who does what, when several indexers share a store (replicas, each with its own home):

* **One indexer per home** writes that home's index files and ``<home>/index/status.json``: it
  holds an exclusive ``flock`` on ``<home>/index/indexer.lock``.  Another indexer started on the
  same home waits (``paperboy index`` refuses, naming the holder), so two never fight over the
  keyword index's writer lock or take turns writing the status file.
* **One indexer per store** embeds and builds topics: it holds the ``indexer`` lease in the
  database (``store/leases.py``), renewed by a heartbeat while it works.  The others *follow*:
  they bring their own home's keyword and vector indices level with the store, embedding nothing.
  If the holder dies, the lease expires (at once on the same host) and a follower takes over.
"""

from __future__ import annotations

import contextlib
import fcntl
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
from paperboy.store.owners import this_owner

#: The database lease of the indexer that embeds for the whole store.
LEASE = "indexer"

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


class HomeLock:
    """This home's index files and status file belong to one indexer: an exclusive ``flock`` on
    ``<home>/index/indexer.lock`` (released by the kernel however the process ends)."""

    def __init__(self, settings: Settings, who: str = "paperboy index") -> None:
        self.path = Path(settings.home) / "index" / "indexer.lock"
        self.who = who
        self._handle: Any = None

    def acquire(self) -> bool:
        """Take the lock if it is free (True), else False at once; True again if we hold it."""
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.who} (pid {os.getpid()})\n")
        handle.flush()
        self._handle = handle
        return True

    def holder(self) -> str:
        """Who holds the lock, as it wrote itself down."""
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Heartbeat:
    """Renews the indexer lease every quarter of its length while the indexer embeds; ``lost`` is
    set if a renewal finds another holder (this one stalled past expiry), and embedding then stops."""

    def __init__(self, store: Store, owner: str, ttl: float) -> None:
        self.store, self.owner, self.ttl = store, owner, ttl
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="paperboy-lease-heartbeat")

    def _run(self) -> None:
        while not self._done.wait(self.ttl / 4):
            try:
                if not self.store.leases.renew(LEASE, self.owner, self.ttl):
                    self.lost.set()
                    return
            except Exception:  # a database hiccup: try again next beat (the lease outlives a few)
                log.exception("could not renew the indexer lease")

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class _Either:
    """Set when either event is: the job's ``stop``, or a lost lease."""

    def __init__(self, *events: threading.Event | None) -> None:
        self.events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


def embed_store(
    settings: Settings,
    store: Store,
    embedder: Any,
    workers: int = 1,
    cluster: str = "",
    progress: Any = None,
    stop: Any = None,
) -> int:
    """Embed every paper lacking a current vector: in this process, on ``workers`` local processes,
    or on the distributed engine at ``cluster``; how many were embedded."""
    if cluster:
        from paperboy.indices.embed_cluster import embed_on_cluster

        return embed_on_cluster(settings, store, embedder, cluster, progress=progress, stop=stop)
    if workers > 1:
        from paperboy.indices.embed_pool import embed_with_workers

        return embed_with_workers(settings, store, embedder, workers, progress=progress, stop=stop)
    from paperboy.indices.embed_job import embed_pending

    return embed_pending(store, embedder, progress=progress, stop=stop)


def index_once(
    settings: Settings,
    store: Store,
    semantic: bool = True,
    report: Any = None,
    stop: Any = None,
    embedder: Any = None,
    workers: int | None = None,
    cluster: str | None = None,
    owner: str | None = None,
    keep_lease: bool = False,
) -> dict[str, Any]:
    """Bring the keyword index, the vectors and the saved vector index level with the store; returns
    what they hold (``keyword_docs``, and with ``semantic`` also ``vectors``, ``vector_docs`` and
    ``role``: ``embedding`` if this process held the indexer lease, else ``following``).

    ``report(force=False, **values)`` hears the progress (the status file of ``paperboy serve``,
    the progress bars of ``paperboy index``).  ``embedder``: an already loaded one (the app's own),
    so the vectors are made by the model that searches them and the model is not exported twice.
    ``workers``/``cluster``: where embedding runs (default: the settings').  The caller must hold
    this home's ``HomeLock``.  ``keep_lease``: keep the indexer lease for the next pass (the
    background indexer) instead of giving it up at the end.
    """
    report = report or (lambda force=False, **values: None)
    owner = owner or this_owner()
    workers = settings.index_workers if workers is None else workers
    cluster = settings.index_cluster if cluster is None else cluster
    keyword = KeywordIndex.for_settings(settings)
    total = store.count_papers()
    report(force=True, phase="keyword index", papers=total, keyword_docs=len(keyword))
    keyword.catch_up(store, progress=lambda n: report(keyword_docs=len(keyword)))
    report(force=True, keyword_docs=len(keyword))
    if not semantic or (stop is not None and stop.is_set()):
        return {"keyword_docs": len(keyword)}
    from paperboy.indices.embedding import Embedder
    from paperboy.indices.vector import VectorIndex

    report(force=True, phase="preparing the embedding model (first start: about a minute)")
    embedder = embedder if embedder is not None else Embedder.open(settings)
    assert embedder is not None
    ttl = settings.index_lease_seconds
    leading = store.leases.acquire(LEASE, owner, ttl)
    vectors = VectorIndex.for_settings(settings, embedder.model_name, embedder.dim)

    def catch_up_vectors() -> None:
        report(force=True, phase="vector index", vector_docs=len(vectors))
        vectors.catch_up(store, progress=lambda n: report(vector_docs=len(vectors)))

    done, total = store.vector_counts(embedder.model_name)
    if not leading:
        holder = store.leases.holder(LEASE)
        leader = holder["owner"] if holder else None
        report(force=True, phase="following", role="following", leader=leader, model=embedder.model_name)
        report(force=True, vectors=done, papers=total)
        catch_up_vectors()
    else:
        # The heartbeat runs through everything the holder does for the store (embedding, the
        # topic build: minutes on a large store), so the lease never lapses while it works.
        try:
            with _Heartbeat(store, owner, ttl) as beat:
                halt = _Either(stop, beat.lost)
                started, first = time.time(), done
                report(force=True, phase="embedding", role="embedding", leader=owner, model=embedder.model_name)
                report(force=True, vectors=done, papers=total, workers=1 if cluster else workers, cluster=cluster)

                def progress(done: int, total: int) -> None:
                    rate = (done - first) / max(time.time() - started, 1e-9)
                    report(vectors=done, papers=total, rate=round(rate, 1))

                if done < total:
                    embed_store(settings, store, embedder, workers, cluster, progress, halt)
                catch_up_vectors()
                if not halt.is_set():
                    from paperboy.services.topics import refresh as refresh_topics

                    refresh_topics(settings, store, embedder.model_name, report)  # topics and the map
        finally:
            if not keep_lease:
                store.leases.release(LEASE, owner)
    done, total = store.vector_counts(embedder.model_name)
    role = "embedding" if leading else "following"
    report(force=True, phase="idle", role=role, vectors=done, papers=total, keyword_docs=len(keyword))
    report(force=True, vector_docs=len(vectors))
    return {"keyword_docs": len(keyword), "vectors": done, "vector_docs": len(vectors), "role": role}


def run_forever(settings: Settings, semantic: bool = True, interval: float | None = None, stop: Any = None) -> None:
    """Index, wait ``interval`` seconds, repeat (new papers arrive by import and submission); never raises.

    Waits first for this home's ``HomeLock`` (another indexer on the same home keeps the files
    meanwhile), then keeps the indexer lease from pass to pass while it can, and gives it up on exit.
    """
    stop = stop or threading.Event()
    interval = settings.index_interval if interval is None else interval
    owner = this_owner()
    lock = HomeLock(settings, who="the indexer of paperboy serve")
    while not lock.acquire():
        if stop.wait(interval):
            return
    report = _Reporter(settings)
    with lock, Store.open(settings) as store:
        try:
            while not stop.is_set():
                try:
                    index_once(settings, store, semantic, report, stop, owner=owner, keep_lease=True)
                except Exception as exc:  # keep serving; say what went wrong on the status page
                    log.exception("indexing failed")
                    report(force=True, phase="error", error=f"{type(exc).__name__}: {exc}")
                stop.wait(interval)
        finally:
            with contextlib.suppress(Exception):
                store.leases.release(LEASE, owner)


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
