"""HTTP for the network importers: one polite, patient client.

* A process-wide rate limiter per service: arXiv asks for at most one request every 3 seconds
  from a client, whichever importer (API, OAI-PMH, RSS) makes it, so they share one limiter.
* Retries with exponential back-off on 429, 5xx, time-outs, dropped connections and truncated
  bodies; ``Retry-After`` is honoured.  Other 4xx answers fail at once: retrying cannot help.
* Failures end as a one-line ``SourceError`` naming the URL, never a traceback.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from lxml import etree

from paperboy.config import Settings
from paperboy.sources.record import SourceError

T = TypeVar("T")

RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_DELAY = 120.0


class RateLimiter:
    """At most one request per ``interval`` seconds, across every thread of the process.

    A caller reserves the next free slot under the lock and sleeps outside it, so the spacing is
    decided by arithmetic on the slots (exact, whatever the scheduler does) and a waiting thread
    never holds up the others' reservations.  ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._last = float("-inf")
        #: The latest slots handed out (clock times), newest last: what tests check the spacing on.
        self.granted: deque[float] = deque(maxlen=256)

    def reserve(self, max_wait: float | None = None) -> float | None:
        """Claim the next slot and return the seconds until it; ``None`` if it is further off than
        ``max_wait`` (nothing is claimed then)."""
        with self._lock:
            now = self.clock()
            slot = max(now, self._last + self.interval)
            if max_wait is not None and slot - now > max_wait:
                return None
            self._last = slot
            self.granted.append(slot)
            return slot - now

    def wait(self) -> None:
        """Block until the next request may start, having claimed that slot."""
        delay = self.reserve() or 0.0
        if delay > 0:
            self.sleep(delay)


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(key: str, interval: float) -> RateLimiter:
    """The process's limiter for a service; the interval follows the latest setting."""
    with _limiters_lock:
        limiter = _limiters.setdefault(key, RateLimiter(interval))
        limiter.interval = interval
        return limiter


class BadBody(ValueError):
    """Raised by a ``parse`` callback when a body is unusable (truncated XML): worth a retry."""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value and value.strip().isdigit():
        return min(float(value), MAX_DELAY)
    return None


class HttpClient:
    """GET with rate limiting and retries; ``parse`` turns a body into a value or raises ``BadBody``."""

    def __init__(self, settings: Settings, service: str = "arxiv", interval: float | None = None) -> None:
        self.settings = settings
        self.limiter = shared_limiter(service, settings.arxiv_min_interval if interval is None else interval)
        self.client = httpx.Client(
            timeout=settings.http_timeout,
            headers={"User-Agent": settings.user_agent},
            follow_redirects=True,
        )
        #: Seconds slept in back-off, for tests and progress messages.
        self.backoff_total = 0.0

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, params: dict[str, Any] | None = None, parse: Callable[[bytes], T] | None = None) -> T:
        """Fetch ``url`` and return ``parse(body)`` (the raw bytes when no parser is given)."""
        attempts = max(1, self.settings.http_retries + 1)
        #: The longest this call may wait for a rate-limit slot or a back-off (0: no limit); a
        #: person waiting for an answer (a submission) is better told at once that it is busy.
        patience = self.settings.http_max_wait or None
        last_error = ""
        for attempt in range(attempts):
            slot = self.limiter.reserve(patience)
            if slot is None:
                raise SourceError(f"{url}: no request slot within {patience:g} s (the rate limit is taken by others)")
            if slot > 0:
                self.limiter.sleep(slot)
            delay: float | None = None
            try:
                response = self.client.get(url, params=params)
                if response.status_code in RETRY_STATUS:
                    last_error = f"HTTP {response.status_code}"
                    delay = _retry_after(response)
                elif response.status_code >= 400:
                    raise SourceError(f"{response.request.url}: HTTP {response.status_code}")
                else:
                    body = response.content
                    return parse(body) if parse else body  # type: ignore[return-value]
            except httpx.TimeoutException:
                last_error = "timed out"
            except httpx.TransportError as exc:
                last_error = f"connection failed ({exc.__class__.__name__}: {exc})"
            except BadBody as exc:
                last_error = f"unusable response ({exc})"
            if attempt + 1 < attempts:
                wait = delay if delay is not None else min(self.settings.http_backoff * 2**attempt, MAX_DELAY)
                if patience is not None and wait > patience:
                    attempts = attempt + 1
                    break
                self.backoff_total += wait
                time.sleep(wait)
        raise SourceError(f"{url}: gave up after {attempts} attempts ({last_error})")


#: No entity expansion, no network: the bodies come from outside.
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def xml_root(body: bytes, *expected: str) -> etree._Element:
    """The root of a fetched XML document whose tag is one of ``expected``.

    Raises ``BadBody`` (so the fetch is retried) for a truncated document or a foreign one, such
    as arXiv's plain-text "Rate exceeded." or an HTML error page.
    """
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise BadBody(f"not a complete XML document: {exc}") from None
    if root.tag not in expected:
        names = " or ".join(f"<{etree.QName(tag).localname}>" for tag in expected)
        raise BadBody(f"expected {names}, got <{etree.QName(root).localname}>")
    return root
