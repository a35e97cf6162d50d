"""Embedding what the store holds: incremental, resumable, and safe to run beside the server.

Why a job of its own: embedding 118k papers takes minutes, so it must be interruptible at any
moment (vectors are committed page by page, and only papers lacking a current vector are read)
and must let keyword search serve meanwhile.

Two ways to run it, one embedding function (``embed_worker``):

* in this process (``embed_pending``): a reader thread fetches the next page of papers while the
  model embeds this one, and a writer thread commits the last one, so reading, writing and the
  progress bookkeeping overlap the model instead of following it;
* on an executor of worker processes (``embed_pending_on``): a local process pool (``--workers N``,
  see ``embed_pool``) or a distributed engine's (``--cluster``, see ``embed_cluster``).  Workers
  embed and commit; this process only reads pages and hands them out, a few per worker in flight.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any, Protocol

import numpy as np

from paperboy.indices.embed_worker import PaperRow, texts_of, vector_rows
from paperboy.indices.embedding import BATCH
from paperboy.store import Store

#: Papers per page: one commit each (at most this many are embedded again after a kill), and the
#: unit the model sorts by length, so a larger page pads less.
PAGE = 512


class TextEmbedder(Protocol):
    """What the job needs of an embedder (``paperboy.indices.embedding.Embedder`` is one)."""

    model_name: str

    def embed_documents(self, texts: list[str], batch_size: int = BATCH) -> np.ndarray:
        """Unit vectors, one row per text."""
        ...


Progress = Callable[[int, int], None]


class _Pages:
    """The store's papers lacking a vector, read one page ahead in a thread of their own."""

    def __init__(self, store: Store, model: str, page: int, halt: threading.Event, ahead: int = 2) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._halt = halt
        self._thread = threading.Thread(
            target=self._read, args=(store, model, page), daemon=True, name="paperboy-embed-reader"
        )
        self._thread.start()

    def _read(self, store: Store, model: str, page: int) -> None:
        try:
            for rows in store.iter_papers_to_embed(model, batch=page):
                if not self._put(rows):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self._halt.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[list[PaperRow]]:
        while not self._halt.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class _Counter:
    """Vectors committed so far, told to ``progress`` as ``(done in the store, papers in the store)``."""

    def __init__(self, store: Store, model: str, progress: Progress | None) -> None:
        self.progress = progress
        self.done, self.total = store.vector_counts(model)
        self.embedded = 0

    def page(self, largest: int, workers: int) -> int:
        """Pages small enough that every worker gets several (a small job is still shared out)."""
        pending = max(0, self.total - self.done)
        return max(16, min(largest, -(-pending // (4 * max(1, workers)))))

    def add(self, n: int) -> None:
        self.embedded += n
        if self.progress:
            self.progress(min(self.done + self.embedded, self.total), self.total)


def embed_pending(
    store: Store,
    embedder: TextEmbedder,
    page: int = PAGE,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Embed every paper lacking a current vector from this model, in this process; how many.

    ``progress(done, total)`` follows the whole store; ``stop`` ends the job after the page being
    embedded (it and the at most two pages waiting for the writer are committed, nothing is lost).
    """
    model = embedder.model_name
    halt = threading.Event()
    counter = _Counter(store, model, progress)
    written: queue.Queue[Any] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def write() -> None:
        while (rows := written.get()) is not None:
            if failure:
                continue  # drain: the job is failing
            try:
                store.put_vectors(model, rows)
                counter.add(len(rows))
            except BaseException as exc:  # raised by the embedding loop
                failure.append(exc)
                halt.set()

    writer = threading.Thread(target=write, daemon=True, name="paperboy-embed-writer")
    writer.start()
    try:
        for rows in _Pages(store, model, page, halt):
            vectors = embedder.embed_documents(texts_of(rows))
            written.put(vector_rows(rows, vectors))
            if stop is not None and stop.is_set():
                break
    finally:
        halt.set()
        written.put(None)
        writer.join()
    if failure:
        raise failure[0]
    return counter.embedded


def embed_pending_on(
    store: Store,
    model: str,
    executor: Executor,
    task: Callable[[list[PaperRow]], int],
    workers: int,
    page: int = PAGE,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Embed every paper lacking a current vector by ``task`` (``embed_worker.embed_and_store``) on
    ``executor``'s workers, which commit the vectors themselves; how many were embedded.

    Keeps two pages per worker in flight, so a worker never waits for its next page.  ``stop``:
    no new pages are handed out, the ones in flight are finished.  Pages finish in any order.
    """
    counter = _Counter(store, model, progress)
    page = counter.page(page, workers)
    halt = threading.Event()
    running: set[Future[int]] = set()

    def settle(block: bool) -> None:
        done, _ = wait(running, return_when=FIRST_COMPLETED, timeout=None if block else 0)
        for future in done:
            running.discard(future)
            counter.add(future.result())

    try:
        for rows in _Pages(store, model, page, halt, ahead=2):
            while len(running) >= 2 * max(1, workers):
                settle(block=True)
            running.add(executor.submit(task, rows))
            settle(block=False)
            if stop is not None and stop.is_set():
                break
        while running:
            settle(block=True)
    finally:
        halt.set()
        for future in running:
            future.cancel()
    return counter.embedded
