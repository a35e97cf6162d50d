"""The shapes of error answers, for the OpenAPI document: every status a route can answer with
is listed with the body it really has, so clients (and Schemathesis) can rely on the document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every 4xx of the JSON API."""

    error: str = Field(..., description="What was wrong, for a person to read.")


class InvalidBody(ErrorBody):
    """A request whose parameters or body do not fit the document (422)."""

    details: list[str] = Field(..., description="One line per problem: field, then what is wrong with it.")


_WHY = {
    400: (
        "A parameter that fits its type but not its meaning (a date that does not exist), a body that is not "
        "JSON, or a request holding a NUL character (U+0000) anywhere, which no field may contain."
    ),
    401: "No API token, or an unknown one (send `Authorization: Bearer pb_…`).",
    403: "Signed in by cookie without the page's CSRF token, or not allowed to do this.",
    404: "No such paper, comment, submission, topic or map point (or none of yours).",
    409: (
        "A conflict: the paper was already submitted or is being fetched for another submission, "
        "or the map changed since the version asked for."
    ),
    429: "A limit was reached (daily submissions, comments, fetches under way); see `Retry-After` when sent.",
}


#: The HTTP status of each kind of ``services.errors.ServiceError``: the one place services' refusals meet HTTP.
STATUS = {
    "invalid": 400,
    "not_allowed": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "too_many": 429,
    "unavailable": 503,
}


def http_status(kind: str | None) -> int:
    """The status a refusal of this kind is answered with (400 for a kind this table does not know)."""
    return STATUS.get(kind or "invalid", 400)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a JSON route: the listed 4xx with ``ErrorBody``, and 422 with ``InvalidBody``.

    Every route may answer 400: a request holding a NUL character is refused before any route
    sees it (web/nul.py), whatever its parameters."""
    listed = dict.fromkeys((400, *codes))
    out: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody, "description": _WHY[code]} for code in listed}
    out[422] = {"model": InvalidBody, "description": "The parameters or the body do not fit this document."}
    return out


def page_errors() -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route outside ``/api`` (feeds): any error there is an HTML page (a
    parameter that does not fit is a 400 that says which), never the JSON bodies above."""
    html = {"text/html": {"schema": {"type": "string"}}}
    return {"4XX": {"description": "An HTML page saying what was wrong.", "content": html}}
