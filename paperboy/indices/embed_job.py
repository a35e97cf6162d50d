"""Embedding what the store holds: incremental, resumable, and safe to run beside the server.

Why a job of its own: embedding 118k papers takes minutes, so it must be interruptible at any
moment (vectors are committed page by page, and ``Store.papers_to_embed`` asks only for what is
missing or stale) and must let keyword search serve meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from paperboy.indices.embedding import document_text
from paperboy.store import Store


class TextEmbedder(Protocol):
    """What the job needs of an embedder (``paperboy.indices.embedding.Embedder`` is one)."""

    model_name: str

    def embed_documents(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors, one row per text."""
        ...


def embed_pending(
    store: Store,
    embedder: TextEmbedder,
    page: int = 256,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Embed every paper lacking a current vector from this model; returns how many were embedded.

    ``progress(done, total)`` follows the whole store; ``stop`` ends the job after the current page.
    """
    model = embedder.model_name
    embedded = 0
    while stop is None or not stop.is_set():
        papers = store.papers_to_embed(model, limit=page)
        if not papers:
            break
        vectors = np.ascontiguousarray(embedder.embed_documents([document_text(p) for p in papers]), dtype=np.float32)
        store.put_vectors(model, [(p["id"], p["seq"], vectors[i].tobytes()) for i, p in enumerate(papers)])
        embedded += len(papers)
        if progress:
            progress(*store.vector_counts(model))
    return embedded
