"""Category and date filters for the vector search, as masks over the vector index's labels.

Semantic search applies a query's ``cat:``/``since:``/``until:`` filters inside the HNSW walk,
which asks "is this paper admitted?" for every node it visits.  Asking the keyword engine for the
admitted set costs a stored-document read per paper (about 3 µs each: 30 ms for 10,000) and was
capped at its page limit, so a broad filter such as ``cat:cs.CL`` (28,000 papers) admitted only
its newest 10,000 and lost most true neighbours.  Here each label's day and categories are kept
in memory (about 10 bytes per paper plus the category lists), and a filter becomes a numpy mask
in well under a millisecond, with the same meaning as the keyword index's filters
(``indices/keyword.py``): a category without a dot means its whole archive, and papers without a
day fail every date filter.

The facets follow the store: ``sync`` reads the papers changed since the last look (new, or
re-announced with other categories) and the labels the vector index gained since.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np

from paperboy.indices.keyword import date_number, day_number

FacetRow = tuple[str, int, str | None, str | None, list[str]]


class Facets:
    """Day and categories of every label of one vector index."""

    def __init__(self) -> None:
        self.days = np.zeros(0, dtype=np.int32)
        self.cats: list[tuple[str, ...]] = []
        self.by_cat: dict[str, list[int]] = {}
        self._arrays: dict[str, np.ndarray] = {}
        #: Facets of papers whose vectors have not reached the index yet.
        self.pending: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.last_seq = 0
        self._lock = threading.Lock()  # searches run in threads; sync and mask see one state

    def __len__(self) -> int:
        return len(self.cats)

    def sync(self, ids: Sequence[str], labels: dict[str, int], changed: Iterable[list[FacetRow]]) -> None:
        """Catch up: ``changed`` pages the store's papers changed after ``last_seq``; ``ids`` are the labels' papers.

        The label count is read before the store, so every labelled paper has been seen: vectors are
        written after their papers.
        """
        with self._lock:
            self._sync(len(ids), ids, labels, changed)

    def _sync(self, size: int, ids: Sequence[str], labels: dict[str, int], changed: Iterable[list[FacetRow]]) -> None:
        regroup = False
        for page in changed:
            for pid, seq, announced, published, categories in page:
                self.last_seq = max(self.last_seq, seq)
                day = day_number({"announced": announced, "published": published}) or 0  # as the keyword index
                facet = (day, tuple(sorted({c.lower() for c in categories if isinstance(c, str)})))
                label = labels.get(pid)
                if label is None or label >= len(self.cats):
                    self.pending[pid] = facet
                    continue
                self.days[label] = facet[0]
                if self.cats[label] != facet[1]:
                    self.cats[label] = facet[1]
                    regroup = True
        if regroup:
            self.by_cat = {}
            for label, cats in enumerate(self.cats):
                for cat in cats:
                    self.by_cat.setdefault(cat, []).append(label)
            self._arrays = {}
        start = len(self.cats)
        if size > start:
            new_days = np.zeros(size - start, dtype=np.int32)
            for offset, label in enumerate(range(start, size)):
                day, cats = self.pending.pop(ids[label], (0, ()))
                new_days[offset] = day
                self.cats.append(cats)
                for cat in cats:
                    self.by_cat.setdefault(cat, []).append(label)
                    self._arrays.pop(cat, None)
            self.days = np.concatenate([self.days, new_days])

    def _labels(self, cat: str) -> np.ndarray:
        array = self._arrays.get(cat)
        if array is None:
            array = self._arrays[cat] = np.asarray(self.by_cat.get(cat, ()), dtype=np.int64)
        return array

    def mask(self, categories: Sequence[str], since: date | None, until: date | None) -> np.ndarray | None:
        """Labels admitted by any of ``categories`` and the date range (None: no such filter)."""
        if not categories and since is None and until is None:
            return None
        with self._lock:
            return self._mask(categories, since, until)

    def _mask(self, categories: Sequence[str], since: date | None, until: date | None) -> np.ndarray:
        admitted = np.ones(len(self.cats), dtype=bool)
        if categories:
            any_cat = np.zeros(len(self.cats), dtype=bool)
            for wanted in {c.lower() for c in categories}:
                keys = (
                    [wanted] if "." in wanted else [k for k in self.by_cat if k == wanted or k.startswith(wanted + ".")]
                )
                for key in keys:
                    any_cat[self._labels(key)] = True
            admitted &= any_cat
        if since is not None or until is not None:
            admitted &= self.days > 0
            if since is not None:
                admitted &= self.days >= date_number(since)
            if until is not None:
                admitted &= self.days <= date_number(until)
        return admitted
