"""Work that must not run on a request thread: sending account mail.

Why: how long a request takes must not tell anything.  ``/forgot`` looked the address up and
mailed a link only when it had an account, so known addresses answered later (and a mail server
that was down answered 503 only for them); a sign-up mails either a confirmation link or, for an
address that already has an account, a note to its owner.  Queued here, every such request
answers after the same work.  One thread per process, a bounded queue; failures are logged.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Background:
    """A single worker thread running queued jobs in order (started on first use)."""

    def __init__(self, name: str, size: int = 1000) -> None:
        self.name = name
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition()

    def put(self, job: Callable[[], None]) -> bool:
        """Queue a job; False (dropped, and logged) when the queue is full: a flood, not a person."""
        with self._idle:
            self._pending += 1
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self._finished()
            log.warning("%s: queue full, a job was dropped", self.name)
            return False
        self._start()
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # a job's failure (the mail server down) must not end the worker
                log.exception("%s: a job failed", self.name)
            finally:
                self._finished()

    def _finished(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every queued job has run (tests, shutdown); False on time-out."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)
