"""``paperboy index --cluster ADDRESS``: the same embedding function on Dask distributed workers.

``ADDRESS`` is a Dask scheduler (``tcp://host:8786``) or ``local:N``, a local cluster of N worker
processes started for the job.  The model is exported once, here; its files travel to every worker
inside a worker plugin (so workers that join later get them too), each worker loads them into one
single-threaded ``Embedder`` and opens the store by its URL, and tasks embed a page and commit its
vectors from the worker (``embed_worker.embed_and_store``): with PostgreSQL, workers on any machine
write to the shared database; with SQLite, workers on this machine write the same file.

Why Dask and not Ray (both measured, README "The embedding cluster"): the same throughput on this
job, a tenth of the install (25 MB of pure Python against Ray's 240 MB), a start-up of seconds, and
a standard ``concurrent.futures`` executor, so the job's driver is the one the local pool uses.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paperboy.config import Settings
from paperboy.indices import embed_worker
from paperboy.indices.embed_job import PAGE, Progress, embed_pending_on
from paperboy.indices.embedding import Embedder
from paperboy.store import Store

try:
    import distributed
except ImportError as exc:  # the optional extra
    raise ImportError(
        "--cluster needs Dask distributed, the optional `cluster` extra: pip install 'paperboy[cluster]'"
    ) from exc

#: The export's files a worker needs.
MODEL_FILES = ("model.onnx", "tokenizer.json", "export.json")


class ShipModel(distributed.WorkerPlugin):
    """Carries the exported model to each worker and loads it there, once per worker."""

    name = "paperboy-embedder"

    def __init__(
        self, files: dict[str, bytes], model: str, max_tokens: int, url: str, parent: int | None = None
    ) -> None:
        self.files = files
        self.tag = hashlib.sha256(b"".join(files[name] for name in MODEL_FILES)).hexdigest()[:16]
        self.model, self.max_tokens, self.url, self.parent = model, max_tokens, url, parent

    def setup(self, worker: Any) -> None:
        """Write the files under the worker's own directory (once per model), then load them."""
        target = Path(worker.local_directory) / "paperboy-model" / self.tag
        if not (target / "model.onnx").exists():
            tmp = target.with_name(f".{self.tag}.{os.getpid()}")
            tmp.mkdir(parents=True, exist_ok=True)
            for name, data in self.files.items():
                (tmp / name).write_bytes(data)
            os.replace(tmp, target)
        embed_worker.setup(str(target), self.model, self.max_tokens, self.url, self.parent)


@contextmanager
def connect(address: str) -> Iterator[distributed.Client]:
    """A Dask client for ``address``; ``local:N`` starts (and afterwards stops) N local workers."""
    if not address.startswith("local:"):
        with distributed.Client(address) as client:
            yield client
        return
    workers = int(address.split(":", 1)[1] or os.cpu_count() or 1)
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",  # its HTTP server on loopback, on a free port
        silence_logs=logging.ERROR,
        memory_limit=0,  # the model is small; Dask's memory manager would only pause workers
    )
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def embed_on_cluster(
    settings: Settings,
    store: Store,
    embedder: Embedder,
    address: str,
    page: int = 0,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Embed what the store lacks on the Dask cluster at ``address``; how many papers."""
    model_dir = Embedder.export_dir(settings)
    files = {name: (model_dir / name).read_bytes() for name in MODEL_FILES}
    url = store.engine.url.render_as_string(hide_password=False)
    parent = os.getpid() if address.startswith("local:") else None  # local workers end with this process
    with connect(address) as client:
        client.register_plugin(ShipModel(files, embedder.model_name, settings.embedding_max_tokens, url, parent))
        workers = max(1, len(client.scheduler_info()["workers"]))
        executor = client.get_executor(pure=False)
        return embed_pending_on(
            store, embedder.model_name, executor, embed_worker.embed_and_store, workers, page or PAGE, progress, stop
        )
