"""``paperboy index --workers N``: one single-threaded embedding process per core on this machine.

Why processes, one thread each: onnxruntime's own thread pool scales poorly past one thread on a
busy machine (every batch waits for its slowest thread, and a loaded core holds them all up), while
independent single-threaded processes each go at their own core's pace.  The model is exported
once, by the parent, before the pool starts; each worker loads that export (``embed_worker``).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

from paperboy.config import Settings
from paperboy.indices import embed_worker
from paperboy.indices.embed_job import PAGE, Progress, embed_pending_on
from paperboy.indices.embedding import Embedder
from paperboy.store import Store


def embed_with_workers(
    settings: Settings,
    store: Store,
    embedder: Embedder,
    workers: int,
    page: int = PAGE,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Embed what the store lacks on ``workers`` local processes (each committing its own pages)."""
    model_dir = Embedder.export_dir(settings)  # made by Embedder.open in this process already
    url = store.engine.url.render_as_string(hide_password=False)
    args = (str(model_dir), embedder.model_name, settings.embedding_max_tokens, url, os.getpid())
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of a process holding threads and connections
        initializer=embed_worker.setup,
        initargs=args,
    ) as pool:
        return embed_pending_on(
            store, embedder.model_name, pool, embed_worker.embed_and_store, workers, page, progress, stop
        )
