"""A real HTTP server on 127.0.0.1 for the network importers' tests.

Why not mocks: retries, time-outs, truncated bodies and rate limiting only mean something when
real sockets are involved.  The server answers each request from a script (a list of replies
used in order, or a function of the request) and records what it saw and when, so tests can
check the query parameters and the gaps between requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from paperboy.sources.http import RateLimiter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "arxiv"


def fixture(name: str) -> bytes:
    """The bytes of a file under tests/fixtures/arxiv."""
    return (FIXTURES / name).read_bytes()


@dataclass
class Reply:
    """One scripted answer."""

    body: bytes | str = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (longer than the client's time-out: a time-out).
    delay: float = 0.0
    #: Content-Length to announce instead of the real one; the connection is then closed
    #: after the body, so a larger value is a body cut off in transit.
    declared_length: int | None = None
    content_type: str = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class Seen:
    """A request as the server received it."""

    path: str
    #: Query parameters, last value wins.
    query: dict[str, str]
    #: ``time.monotonic()`` when the request arrived.
    at: float
    method: str = "GET"
    #: The request body (POST and PUT) and headers, lower-case names (webhook tests check them).
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Seen], Reply]


class Script:
    """Replies in order; a request after the last one gets HTTP 410, which fails fast and loudly."""

    def __init__(self, replies: Iterable[Reply]) -> None:
        self._replies = list(replies)
        self._lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        with self._lock:
            if not self._replies:
                return Reply(b"script exhausted", status=410, content_type="text/plain")
            return self._replies.pop(0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        """Keep test output clean."""

    def do_POST(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self.do_GET()

    def do_PUT(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        seen = Seen(parts.path, query, time.monotonic(), self.command, body, headers)
        with self.server.lock:
            self.server.seen.append(seen)
        reply = self.server.responder(seen)
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            length = len(body) if reply.declared_length is None else reply.declared_length
            self.send_header("Content-Length", str(length))
            if reply.declared_length is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a time-out test)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, responder: Responder) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.responder = responder
        self.seen: list[Seen] = []
        self.lock = threading.Lock()


class Loopback:
    """The server, as a context manager: ``with Loopback(Script([...])) as srv: ... srv.url("/api")``."""

    def __init__(self, responder: Responder | Iterable[Reply]) -> None:
        self._server = _Server(responder if callable(responder) else Script(responder))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    @property
    def requests(self) -> list[Seen]:
        """Requests received so far, in order of arrival."""
        with self._server.lock:
            return list(self._server.seen)

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests' arrivals."""
        times = [seen.at for seen in self.requests]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def __enter__(self) -> Loopback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def assert_spaced(srv: Loopback, limiter: RateLimiter, interval: float) -> None:
    """Every request the server saw was sent in a slot of ``limiter`` at least ``interval`` after
    the one before.

    Deterministic on a loaded machine: the spacing is checked on the slots the limiter handed out
    (its own arithmetic), and arrivals only in the direction no scheduler delay can break: the
    k-th request to arrive came no earlier than the k-th slot.  A request that bypassed the
    limiter leaves the server with more arrivals than slots; one that did not wait for its slot
    arrives before it.
    """
    arrivals = sorted(seen.at for seen in srv.requests)
    slots = sorted(limiter.granted)[-len(arrivals) :] if arrivals else []
    assert len(arrivals) >= 2, "expected several requests"
    assert len(slots) == len(arrivals), (slots, arrivals)
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= interval - 1e-9, gaps
    assert all(arrived >= slot for arrived, slot in zip(arrivals, slots, strict=True)), (arrivals, slots)


def fresh_limiter(service: str = "arxiv") -> RateLimiter:
    """Forget the process's limiter for ``service`` so a test sees only its own slots."""
    from paperboy.sources import http

    with http._limiters_lock:
        http._limiters.pop(service, None)
    return http.shared_limiter(service, 0.0)
