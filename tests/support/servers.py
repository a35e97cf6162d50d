"""An ASGI app served for real by uvicorn on a free loopback port, in a thread of the test process:
for clients that must talk HTTP (a browser, huggingface_hub, feed readers, the MCP SDK)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: Any, port: int | None = None, lifespan: str = "auto") -> Iterator[str]:
    """Serve ``app`` on ``port`` (a free one by default) until the block ends; yields its base URL.

    ``lifespan="off"`` for an app already started by a ``TestClient`` (it must not start twice).
    """
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"test-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a loaded two-core machine can take a while to start an app
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
