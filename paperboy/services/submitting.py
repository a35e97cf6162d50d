"""Fetches for submissions, off the request threads: a few at once, a few more waiting, no more.

Why: a submission of a paper the store does not have needs arXiv, and arXiv may be slow, down or
rate-limited (one request every 3 s, shared with imports).  Fetching inside the request held a
server thread for the whole fetch (a minute when arXiv was unreachable), and 40 submissions
took every thread.  Now the request only queues the fetch and answers; the submitter watches
the submission's page, which shows the paper once it is fetched or says why it was not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class FetchQueue:
    """At most ``workers`` jobs running and ``waiting`` more queued; ``offer`` never blocks."""

    def __init__(self, workers: int, waiting: int) -> None:
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="submit-fetch")
        self._slots = threading.BoundedSemaphore(max(1, workers) + max(0, waiting))
        self._idle = threading.Condition()
        self._busy = 0

    def offer(self, job: Callable[[], None]) -> bool:
        """Queue a job; False (and nothing queued) when the queue is full."""
        if not self._slots.acquire(blocking=False):
            return False
        with self._idle:
            self._busy += 1
        try:
            self.pool.submit(self._run, job)
        except RuntimeError:  # shut down
            self._done()
            return False
        return True

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # a job records its own failures; this is a bug's last line
            log.exception("submission fetch failed")
        finally:
            self._done()

    def _done(self) -> None:
        self._slots.release()
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until no job is queued or running (tests, shutdown); False on time-out."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self) -> None:
        """Stop taking jobs; running ones finish (each is bounded in time)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
