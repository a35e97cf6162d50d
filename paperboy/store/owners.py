"""Who is doing a long piece of work (an import, a fetch), and whether that process still lives.

Rows that say "running" outlive a process killed with ``kill -9``; naming the process in the row
(``host:pid``) lets a reader tell a live run from a dead one at once on the same host, and after
a lease elsewhere (another host's processes cannot be looked at).
"""

from __future__ import annotations

import os
import socket

HOST = socket.gethostname()


def this_owner() -> str:
    """``host:pid`` of this process."""
    return f"{HOST}:{os.getpid()}"


def owner_gone(owner: str | None) -> bool:
    """Whether the process an owner string names has certainly ended (False when it cannot tell)."""
    if not owner:
        return False
    host, _, pid_text = owner.rpartition(":")
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, but somebody else's
        return False
    except OverflowError:  # not a pid this system can have
        return True
    return False
