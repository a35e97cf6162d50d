"""Search inside a serving process: indices opened for reading and kept level with the store.

The indexer process (``services/indexing.py``) is the only writer of the index files and of the
vectors; each web process reloads the keyword index and adds the store's new vectors to its own
in-memory HNSW graph.  Keyword search therefore works from the first second, and semantic results
join as vectors arrive.  A readers-writer lock lets searches run side by side while vectors are added.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from paperboy.config import Settings
from paperboy.indices.keyword import KeywordIndex
from paperboy.services.search import Result, SearchPage, SearchService
from paperboy.store import Store

log = logging.getLogger(__name__)
CACHE_SIZE = 1024


class RWLock:
    """Many readers or one writer (writers wait for readers to leave; new readers wait for a waiting writer)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class LiveSearch:
    """The search service of one web process, refreshed from the store by ``refresh``."""

    def __init__(self, settings: Settings, store: Store, semantic: bool = True, embedder: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.semantic = semantic
        self.keyword = KeywordIndex.for_settings(settings)
        self.embedder = embedder
        self.vectors: Any = None
        self.service = SearchService(store, self.keyword)
        self.lock = RWLock()
        self.hidden: frozenset[str] = frozenset(store.activity.hidden_ids())
        #: Papers in the store, as of the last refresh: what "the index is being built" is measured against.
        self.papers = store.count_papers()
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._state: tuple[Any, ...] = ()
        #: Bumped whenever what a search can answer changes (papers indexed, vectors added, papers
        #: hidden): part of the page cache's key for answers built from search.
        self.generation = 0

    # -- keeping up ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Pick up what the indexer and the store gained since the last call (cheap when nothing did)."""
        self.keyword.reload()
        if self.semantic and self.vectors is None:
            self._load_semantic()
        if self.vectors is not None:
            for page in self.store.iter_vectors(self.vectors.model, after=self.vectors.last_change):
                with self.lock.write():
                    self.vectors.add(page)
        self.hidden = frozenset(self.store.activity.hidden_ids())
        self.papers = self.store.count_papers()
        last_change = self.vectors.last_change if self.vectors is not None else 0
        state = (
            self.keyword.last_seq,
            len(self.keyword),
            last_change,
            len(self.vectors or ()),
            self.papers,
            self.hidden,
        )
        if state != self._state:
            with self._cache_lock:
                self._state = state
                self.generation += 1
                self._cache.clear()

    def _load_semantic(self) -> None:
        from paperboy.indices.embedding import Embedder
        from paperboy.indices.vector import VectorIndex

        try:  # never export here (that loads torch): the indexer does it once, we wait for it
            embedder = self.embedder or Embedder.open(self.settings, export=False)
        except Exception:  # a broken model setting must not take keyword search down with it
            log.exception("semantic search disabled: the embedding model could not be loaded")
            self.semantic = False
            return
        if embedder is None:
            return
        vectors = VectorIndex.for_settings(self.settings, embedder.model_name, embedder.dim)
        if vectors.last_change > self.store.vector_change():  # saved for another store: start over from it
            vectors = VectorIndex(vectors.path, embedder.model_name, embedder.dim)
        with self.lock.write():
            self.embedder, self.vectors = embedder, vectors
            self.service = SearchService(self.store, self.keyword, vectors, embedder)

    @property
    def vector_count(self) -> int:
        """Vectors this process can search."""
        return len(self.vectors) if self.vectors is not None else 0

    @property
    def keyword_building(self) -> bool:
        """True while the keyword index holds fewer papers than the store (the first minute of a new home)."""
        return len(self.keyword) < self.papers

    def semantic_coverage(self) -> str | None:
        """A note for answers built from vectors while only part of the store is embedded, else None."""
        if not self.semantic or self.vectors is None or self.vector_count >= self.papers or not self.papers:
            return None
        share = self.vector_count / self.papers
        return (
            f"Meaning-based results come from the {self.vector_count:,} of {self.papers:,} papers embedded so far "
            f"({share:.0%}); the rest are being embedded (progress on /status)."
        )

    # -- searching -----------------------------------------------------------------------
    def search(
        self, text: str | None, mode: str = "hybrid", limit: int = 10, offset: int = 0, **filters: Any
    ) -> SearchPage:
        """``SearchService.search`` without hidden papers, cached until the indices change."""
        key = ("search", text, mode, limit, offset, tuple(sorted(filters.items())))
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self.lock.read():
            page = self.service.search(text, mode, limit, offset, **filters)
        if self.hidden:
            page.results = [r for r in page.results if r.id not in self.hidden]
        if not self.semantic:  # not "not ready yet": it was turned off
            page.warnings = [w for w in page.warnings if not w.startswith("semantic search is not ready")]
            if mode != "keyword" and text and text.strip():
                page.warnings.append("semantic search is turned off on this installation: keyword results only")
        elif page.mode != "keyword" and (note := self.semantic_coverage()):
            page.warnings.append(note)
        if self.keyword_building and page.mode != "semantic":
            page.warnings.append(
                f"The keyword index is being built ({len(self.keyword):,} of {self.papers:,} papers so far): "
                "some papers cannot be found by their words yet."
            )
        return self._remember(key, page)

    def similar(self, paper_id: str, limit: int = 10, since: str | None = None) -> list[Result]:
        """``SearchService.similar`` without hidden papers, cached until the indices change."""
        key = ("similar", paper_id, limit, since)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self.lock.read():
            found = self.service.similar(paper_id, limit, since)
        return self._remember(key, [r for r in found if r.id not in self.hidden])

    def _cached(self, key: tuple[Any, ...]) -> Any:
        with self._cache_lock:
            value = self._cache.get(key)
            if value is not None:
                self._cache.move_to_end(key)
            return value

    def _remember(self, key: tuple[Any, ...], value: Any) -> Any:
        with self._cache_lock:
            self._cache[key] = value
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return value
