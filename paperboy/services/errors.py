"""What a service says when it refuses a request: a kind of refusal and a sentence for a person.

Services know nothing of HTTP.  Each error names its ``kind``; the web app maps kinds to statuses
in one place (``web/app.py``: JSON under ``/api``, an error page elsewhere) and the CLI prints the
message.  Routes catch these only where they show the message inside a form of their own.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """A request refused for a reason the person asking can read and act on."""

    kind: ClassVar[str] = "invalid"

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        #: Seconds after which trying again may work (limits), when known.
        self.retry_after = retry_after


class Invalid(ServiceError, ValueError):
    """The request breaks a rule about its content (an empty comment, a paper too old)."""

    kind = "invalid"


class NotAllowed(ServiceError, PermissionError):
    """This person may not do this."""

    kind = "not_allowed"


class NotFound(ServiceError, LookupError):
    """No such thing here (or none this person may see)."""

    kind = "not_found"


class Conflict(ServiceError):
    """The request collides with the current state (already submitted, a name already taken)."""

    kind = "conflict"


class TooLarge(ServiceError):
    """What was sent is larger than allowed."""

    kind = "too_large"


class TooMany(ServiceError):
    """A limit was reached: come back later (``retry_after`` when known)."""

    kind = "too_many"


class Unavailable(ServiceError):
    """Something this needs is busy or unreachable right now; trying again later may work."""

    kind = "unavailable"
