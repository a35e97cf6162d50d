"""Approximate nearest neighbours over the stored paper vectors (hnswlib HNSW, cosine).

The index is derived: it lives in ``<home>/index/vectors/`` beside the store and can be rebuilt
from ``paper_vectors`` at any time.  On open it is checked against the store: a different model
or dimension, a missing or unreadable file, or a store that is behind the index (restored from a
backup, say) means a rebuild; otherwise it catches up with vectors written after its ``last_change``
(the store's vector change number, which cannot miss vectors committed out of order, as a pool of
embedding workers commits them: see ``store/changes.py``).
Files are written to temporary names and renamed, so a crash leaves the previous index whole.

Parameters, measured on the 118k corpus's int8 MiniLM vectors (``bench/search_bench.py``): recall@10
against exact cosine search for 652 embedded query texts (the judged set's queries and typed ones;
document vectors as queries are easy, 0.998 already at ef=96), and recall@100 as hybrid search
asks for it (k=100)::

    M   ef=96        ef=128       ef=200       ef=256       ef=384      (recall@10 / recall@100)
    16  0.938/0.846  0.958/0.878  0.974/0.925  0.982/0.945  0.990/0.967
    24  0.951/0.873  0.966/0.902  0.980/0.941  0.987/0.957  0.993/0.975
    32  0.954/0.881  0.968/0.908  0.981/0.946  0.986/0.960  0.993/0.977

Query texts sit farther from the documents than documents from each other, so they need a wider
search than the usual ef≈100.  A larger M buys about what a wider search does, but costs build
time, memory and a rebuild of every existing index; ef is only a search setting.  So M=16 stays
and ef goes from 96 to 256: recall@10 0.938 -> 0.982, for about 0.3 ms more per query (0.3 -> 0.6
ms on a quiet core; a query embedding takes 3-6 ms).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np

from paperboy.config import Settings
from paperboy.indices.facets import Facets
from paperboy.store import Store

#: 2: ``last_change`` (vector change numbers) replaced ``last_seq``; older files are rebuilt.
FORMAT = 2
#: Graph degree and build effort (see the module docstring for the measurements).
M = 16
EF_CONSTRUCTION = 200
#: Search breadth: recall@10 0.982 for query texts on the corpus; raised to ``k`` for more neighbours.
EF_SEARCH = 256


@dataclass(frozen=True)
class Neighbour:
    """One result: the paper and its cosine similarity to the query."""

    id: str
    score: float


class VectorIndex:
    """HNSW over one model's vectors; paper ids map to stable integer labels."""

    def __init__(self, path: Path, model: str, dim: int) -> None:
        self.path = Path(path)
        self.model = model
        self.dim = dim
        #: The store's vector change number this index has caught up to.
        self.last_change = 0
        self.ids: list[str] = []
        self.labels: dict[str, int] = {}
        self.index = self._empty(1024)
        #: Each label's day and categories for filtered searches (filled on first use, see ``Facets.sync``).
        self.facets = Facets()

    def _empty(self, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space="cosine", dim=self.dim)
        index.init_index(max_elements=capacity, ef_construction=EF_CONSTRUCTION, M=M)
        index.set_ef(EF_SEARCH)
        index.set_num_threads(os.cpu_count() or 1)
        return index

    # -- persistence ---------------------------------------------------------------------
    @property
    def _meta_file(self) -> Path:
        return self.path / "meta.json"

    @staticmethod
    def default_path(settings: Settings, model: str) -> Path:
        """Where a home keeps the vector index of one model."""
        return Path(settings.home) / "index" / "vectors" / re.sub(r"[^A-Za-z0-9.-]+", "_", model)

    @classmethod
    def for_settings(cls, settings: Settings, model: str, dim: int) -> VectorIndex:
        """Open (or start) the vector index of a home for one model, as ``KeywordIndex.for_settings`` does."""
        return cls.open(cls.default_path(settings, model), model, dim)

    @classmethod
    def open(cls, path: Path, model: str, dim: int) -> VectorIndex:
        """Load the index saved at ``path`` if it was made for this model and dimension, else an empty one."""
        index = cls(path, model, dim)
        try:
            meta = json.loads(index._meta_file.read_text())
            if (meta["format"], meta["model"], meta["dim"]) != (FORMAT, model, dim):
                return index
            ids = json.loads((index.path / meta["ids"]).read_text())
            graph = hnswlib.Index(space="cosine", dim=dim)
            graph.load_index(str(index.path / meta["graph"]), max_elements=max(len(ids), 1))
            if graph.get_current_count() != len(ids):
                return index
        except (OSError, ValueError, KeyError, RuntimeError, TypeError):
            return cls(path, model, dim)  # missing or damaged: start empty, catch_up rebuilds
        graph.set_ef(EF_SEARCH)
        graph.set_num_threads(os.cpu_count() or 1)
        index.index = graph
        index.ids = ids
        index.labels = {pid: i for i, pid in enumerate(ids)}
        index.last_change = int(meta["last_change"])
        return index

    def save(self) -> None:
        """Write graph, ids and meta under new names, then switch meta.json to them atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        tag = f"{self.last_change}-{len(self.ids)}"
        graph, ids = f"graph-{tag}.bin", f"ids-{tag}.json"
        self.index.save_index(str(self.path / (graph + ".tmp")))
        os.replace(self.path / (graph + ".tmp"), self.path / graph)
        (self.path / (ids + ".tmp")).write_text(json.dumps(self.ids))
        os.replace(self.path / (ids + ".tmp"), self.path / ids)
        meta = {"format": FORMAT, "model": self.model, "dim": self.dim, "last_change": self.last_change}
        meta |= {"graph": graph, "ids": ids, "count": len(self.ids)}
        (self.path / "meta.json.tmp").write_text(json.dumps(meta))
        os.replace(self.path / "meta.json.tmp", self._meta_file)
        for old in self.path.iterdir():  # earlier generations, now unreferenced
            if old.name not in {graph, ids, "meta.json"}:
                old.unlink(missing_ok=True)

    # -- building ------------------------------------------------------------------------
    def add(self, rows: list[tuple[str, int, bytes]]) -> None:
        """Add or replace vectors ``(paper_id, change, float32 bytes)``; a known paper keeps its label."""
        if not rows:
            return
        matrix = np.frombuffer(b"".join(vec for _, _, vec in rows), dtype=np.float32).reshape(len(rows), self.dim)
        labels = np.empty(len(rows), dtype=np.int64)
        for i, (pid, change, _) in enumerate(rows):
            label = self.labels.get(pid)
            if label is None:
                label = len(self.ids)
                self.ids.append(pid)
                self.labels[pid] = label
            labels[i] = label
            self.last_change = max(self.last_change, change)
        needed = len(self.ids)
        if needed > self.index.get_max_elements():
            self.index.resize_index(max(needed, 2 * self.index.get_max_elements()))
        self.index.add_items(matrix, labels)

    def catch_up(self, store: Store, progress: Callable[[int], None] | None = None) -> int:
        """Bring the index level with the store's vectors (rebuilding if they disagree); returns vectors added."""
        stored, _ = store.vector_counts(self.model)
        if self.last_change > store.vector_change() or len(self.ids) > store.count_papers():
            self.__init__(self.path, self.model, self.dim)  # the store went back in time: rebuild
        if not self.ids and stored:
            self.index = self._empty(stored + 1024)
        added = 0
        for page in store.iter_vectors(self.model, after=self.last_change):
            self.add(page)
            added += len(page)
            if progress:
                progress(added)
        if added:
            self.save()
        return added

    # -- searching -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def vector(self, paper_id: str) -> np.ndarray | None:
        """The stored vector of a paper, or None."""
        label = self.labels.get(paper_id)
        return None if label is None else np.asarray(self.index.get_items([label])[0], dtype=np.float32)

    def similarities(self, query: np.ndarray, paper_ids: list[str]) -> dict[str, float]:
        """Exact cosine of ``query`` to each paper that has a vector (one batched lookup)."""
        known = [pid for pid in paper_ids if pid in self.labels]
        if not known:
            return {}
        vectors = np.asarray(self.index.get_items([self.labels[pid] for pid in known]), dtype=np.float32)
        q = np.asarray(query, dtype=np.float32).ravel()
        sims = vectors @ (q / (np.linalg.norm(q) or 1.0))  # stored vectors are unit length (cosine space)
        return {pid: float(sim) for pid, sim in zip(known, sims, strict=True)}

    def search(
        self, query: np.ndarray, k: int = 10, allow: Callable[[str], bool] | np.ndarray | None = None
    ) -> list[Neighbour]:
        """The ``k`` nearest papers to ``query`` (cosine), optionally only those ``allow`` admits:
        a predicate on paper ids, or a boolean mask over labels (labels past its end are refused)."""
        if not self.ids or k <= 0:
            return []
        k = min(k, len(self.ids))
        self.index.set_ef(max(EF_SEARCH, k))
        label_filter: Callable[[int], bool] | None
        if allow is None:
            label_filter = None
        elif isinstance(allow, np.ndarray):
            admitted, size = allow, len(allow)
            label_filter = lambda label: label < size and bool(admitted[label])  # noqa: E731
        else:
            label_filter = lambda label: allow(self.ids[label])  # noqa: E731
        try:
            labels, distances = self.index.knn_query(
                np.asarray(query, dtype=np.float32).reshape(1, -1), k=k, filter=label_filter
            )
        except RuntimeError:  # fewer than k papers pass the filter
            labels, distances = self._filtered_fallback(query, k, label_filter)
        return [
            Neighbour(self.ids[int(lab)], float(1.0 - dist)) for lab, dist in zip(labels[0], distances[0], strict=True)
        ]

    def _filtered_fallback(
        self, query: np.ndarray, k: int, label_filter: Callable[[int], bool] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search among the allowed papers, for filters so narrow the graph walk cannot fill k."""
        allowed = [i for i in range(len(self.ids)) if label_filter is None or label_filter(i)]
        if not allowed:
            return np.empty((1, 0), dtype=np.int64), np.empty((1, 0), dtype=np.float32)
        vectors = np.asarray(self.index.get_items(allowed), dtype=np.float32)
        q = np.asarray(query, dtype=np.float32).ravel()
        sims = vectors @ q / (np.linalg.norm(vectors, axis=1) * (np.linalg.norm(q) or 1.0) + 1e-12)
        order = np.argsort(-sims)[:k]
        return np.array([[allowed[i] for i in order]]), np.array([[1.0 - sims[i] for i in order]])
