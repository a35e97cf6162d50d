"""The JSON API, shaped like Hugging Face's where it has one, so scripts written for it work here.

Reading needs no account.  Writing takes a personal API token (``Authorization: Bearer pb_…``,
made on the account page) or, for the site's own scripts, the session cookie together with the
CSRF token in ``X-CSRF-Token``.  Every bad input is answered with a 4xx and ``{"error": …}``.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter

from paperboy.services.community import NotAllowed, NotFound, Refused
from paperboy.services.feed import BadPeriod, Period, parse_period
from paperboy.web.errors import errors
from paperboy.web.render import (
    CSRF_COOKIE,
    CSRF_HEADER,
    RowId,
    cached_json,
    community_error,
    conditional,
    current_user,
    services,
)
from paperboy.web.shapes import Paper, PaperItem, item_json, paper_json

router = APIRouter(prefix="/api", tags=["api"])
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page.")]


# -- shapes ----------------------------------------------------------------------------------
# Hugging Face's paper and daily-item shapes live in ``shapes``; the ones below are paperboy's own.


class SearchItem(PaperItem):
    """A search result: the daily-papers shape, plus why it matched."""

    score: float
    highlight: dict[str, str] = {}
    keywordRank: int | None = None
    semanticScore: float | None = None


#: Validators and serializers of the answers kept in the page cache (``cached_json``).
_PAPER = TypeAdapter(Paper)
_ITEMS = TypeAdapter(list[PaperItem])
_RESULTS = TypeAdapter(list[SearchItem])


class Comment(BaseModel):
    id: int
    paperId: str
    author: str
    text: str
    createdAt: str
    editedAt: str | None = None


_COMMENTS = TypeAdapter(list[Comment])


class VoteRequest(BaseModel):
    up: bool = Field(True, strict=True, description="false withdraws your vote (a boolean: 0 and 1 are refused).")


class VoteResult(BaseModel):
    id: str
    upvotes: int
    voted: bool


class SubmitRequest(BaseModel):
    id: str = Field(..., max_length=500, description="An arXiv id or an arxiv.org link.")


class Submission(BaseModel):
    """A submission whose paper is being fetched from arXiv, or how that ended."""

    id: int
    paperId: str
    state: Literal["fetching", "done", "refused", "failed"] = Field(
        ..., description="fetching, then done (the paper is submitted), refused (a rule) or failed (arXiv)."
    )
    status: int | None = Field(None, description="The HTTP status the outcome stands for (201, 404, 409, 502…).")
    message: str | None = Field(None, description="Why it was refused or failed.")
    statusUrl: str = Field(..., description="Where to look again.")
    paper: PaperItem | None = Field(None, description="The submitted paper, once done.")


class CommentRequest(BaseModel):
    text: str = Field(..., max_length=10_000)


# -- who is writing -------------------------------------------------------------------------------
def api_user(request: Request) -> dict[str, Any]:
    """The caller: by API token, or by session cookie plus the CSRF header; 401 (or 403) otherwise."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        user = services(request).accounts.api_user(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HTTPException(401, "invalid API token", headers={"WWW-Authenticate": "Bearer"})
        return user
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "sign in or send an API token", headers={"WWW-Authenticate": "Bearer"})
    cookie, sent = request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise HTTPException(403, "send the page's CSRF token in X-CSRF-Token, or use an API token")
    return user


def reader(request: Request) -> dict[str, Any]:
    """The caller reading their own data: by API token, or by session cookie (a GET needs no CSRF token)."""
    if request.headers.get("authorization"):
        return api_user(request)
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "sign in or send an API token", headers={"WWW-Authenticate": "Bearer"})
    return user


# -- reading ------------------------------------------------------------------------------------
@router.get("/daily_papers", response_model=list[PaperItem], responses=errors(400))
def daily_papers(
    request: Request,
    date: Annotated[str | None, Query(description="A day, YYYY-MM-DD.", max_length=40)] = None,
    week: Annotated[str | None, Query(description="An ISO week, YYYY-Www.", max_length=40)] = None,
    month: Annotated[str | None, Query(description="A month, YYYY-MM.", max_length=40)] = None,
    submitter: Annotated[
        str | None, Query(description="Only papers this user submitted (here, or on Hugging Face).", max_length=100)
    ] = None,
    sort: Annotated[
        Literal["publishedAt", "trending", "upvotes"],
        Query(description="publishedAt (newest v1 first, Hugging Face's default), trending, or upvotes."),
    ] = "publishedAt",
    limit: Limit = 50,
    p: Annotated[int, Query(ge=0, le=100_000, description="Page number, from 0 as on Hugging Face.")] = 0,
) -> Response:
    """Papers of a day, week or month (the latest day by default; with ``submitter`` and no period,
    all of that user's), as Hugging Face's ``/api/daily_papers``."""
    svc = services(request)
    period: Period | None = None
    try:
        if date:
            period = parse_period("day", date)
        elif week:
            period = parse_period("week", week)
        elif month:
            period = parse_period("month", month)
    except BadPeriod as exc:
        raise HTTPException(400, str(exc)) from exc
    order = {"publishedAt": "published", "trending": "trending", "upvotes": "votes"}[sort]
    who = submitter.strip() if submitter and submitter.strip() else None
    return cached_json(
        request,
        _ITEMS,
        lambda: [item_json(x) for x in svc.feed.page(period, order, p + 1, limit, submitter=who).papers],
    )


@router.get("/papers/search", response_model=list[SearchItem], responses=errors())
def search_papers(
    request: Request,
    q: Annotated[str, Query(max_length=10_000, description="Query in the search syntax.")] = "",
    limit: Limit = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    mode: Literal["hybrid", "keyword", "semantic"] = "hybrid",
) -> Response:
    """Search papers (hybrid by default), as Hugging Face's ``/api/papers/search``."""
    return cached_json(request, _RESULTS, lambda: _search_items(request, q, limit, offset, mode), on_search=True)


def _search_items(request: Request, q: str, limit: int, offset: int, mode: str) -> list[dict[str, Any]]:
    svc = services(request)
    if not q.strip():
        return []
    found = svc.search.search(q, mode, limit, offset)
    listed = {x["id"]: x for x in svc.store.activity.listed([r.id for r in found.results])}
    out = []
    for r in found.results:
        if r.id in listed:
            out.append(
                item_json(listed[r.id])
                | {
                    "score": r.score,
                    "highlight": {"title": r.title_html, "summary": r.snippet_html},
                    "keywordRank": r.keyword_rank,
                    "semanticScore": r.semantic_score,
                }
            )
    return out


@router.get("/papers/{paper_id:path}/similar", response_model=list[SearchItem], responses=errors(404))
def similar(
    request: Request, paper_id: str, limit: Limit = 10, since: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    """The nearest papers by meaning (itself and its duplicates left out); ``since`` keeps only recent ones."""
    svc = services(request)
    _paper(request, paper_id)
    found = svc.search.similar(paper_id, limit, since)
    listed = {x["id"]: x for x in svc.store.activity.listed([r.id for r in found])}
    items = [
        item_json(listed[r.id]) | {"score": r.score, "semanticScore": r.semantic_score} for r in found if r.id in listed
    ]
    return conditional(request, _RESULTS.dump_json(_RESULTS.validate_python(items), by_alias=True), "application/json")


@router.get("/papers/{paper_id:path}/comments", response_model=list[Comment], responses=errors(404))
def comments(request: Request, paper_id: str) -> Response:
    """A paper's comments, oldest first."""
    paper = _paper(request, paper_id)
    found = [_comment(c) for c in services(request).store.activity.comments(paper["id"])]
    return conditional(request, _COMMENTS.dump_json(found), "application/json")


def _comment(c: dict[str, Any]) -> Comment:
    return Comment(
        id=c["id"],
        paperId=c["paper_id"],
        author=c["username"],
        text=c["body"],
        createdAt=c["created_at"],
        editedAt=c["edited_at"],
    )


def _paper(request: Request, paper_id: str) -> dict[str, Any]:
    try:
        return services(request).community.visible_paper(paper_id, current_user(request))
    except NotFound as exc:
        raise HTTPException(404, f"no paper {paper_id!r}") from exc


# -- writing ------------------------------------------------------------------------------------
@router.post(
    "/papers/submit",
    response_model=PaperItem,
    status_code=201,
    responses={
        202: {"model": Submission, "description": "Not here yet: being fetched from arXiv."},
        **errors(400, 401, 403, 404, 409, 429),
    },
)
def submit(request: Request, body: SubmitRequest) -> Any:
    """Submit a paper by arXiv id or URL.

    A paper already here is submitted at once (201).  Another is fetched from arXiv in the
    background (202): follow ``statusUrl`` until its ``state`` is ``done`` (or says why not).
    Every submission counts toward the daily cap, also one whose fetch fails.
    """
    user = api_user(request)
    try:
        sub = services(request).community.submit(user, body.id)
    except Refused as exc:
        raise community_error(exc) from exc
    if sub["paper"] is not None:
        return item_json(sub["paper"])
    return JSONResponse(_submission(sub).model_dump(mode="json"), status_code=202)


@router.get("/submissions/{submission_id}", response_model=Submission, responses=errors(401, 404))
def submission(request: Request, submission_id: RowId) -> Submission:
    """One of your submissions: whether its paper is fetched yet, or why it was refused."""
    user = reader(request)
    try:
        return _submission(services(request).community.get_submission(user, submission_id))
    except NotFound as exc:
        raise community_error(exc) from exc


def _submission(sub: dict[str, Any]) -> Submission:
    paper = sub["paper"]
    return Submission(
        id=sub["id"],
        paperId=sub["paper_id"],
        state=sub["state"],
        status=sub["status"],
        message=sub["message"],
        statusUrl=f"/api/submissions/{sub['id']}",
        paper=PaperItem(**item_json(paper)) if paper is not None else None,
    )


@router.post("/papers/{paper_id:path}/vote", response_model=VoteResult, responses=errors(400, 401, 403, 404))
def vote(request: Request, paper_id: str, body: Annotated[VoteRequest | None, Body()] = None) -> VoteResult:
    """Upvote a paper (``{"up": false}`` withdraws the vote); voting twice counts once."""
    user = api_user(request)
    up = body.up if body else True
    try:
        result = services(request).community.vote(user, paper_id, up)
    except NotFound as exc:
        raise community_error(exc) from exc
    return VoteResult(id=paper_id, upvotes=result["upvotes"], voted=up)


@router.post(
    "/papers/{paper_id:path}/comments",
    response_model=Comment,
    status_code=201,
    responses=errors(400, 401, 403, 404, 429),
)
def add_comment(request: Request, paper_id: str, body: CommentRequest) -> Comment:
    """Comment on a paper (Markdown)."""
    user = api_user(request)
    try:
        return _comment(services(request).community.add_comment(user, paper_id, body.text))
    except (NotFound, Refused) as exc:
        raise community_error(exc) from exc


@router.post("/comments/{comment_id}", response_model=Comment, responses=errors(400, 401, 403, 404))
def edit_comment(request: Request, comment_id: RowId, body: CommentRequest) -> Comment:
    """Change a comment (its author or an admin)."""
    user = api_user(request)
    try:
        return _comment(services(request).community.edit_comment(user, comment_id, body.text))
    except (NotFound, NotAllowed, Refused) as exc:
        raise community_error(exc) from exc


@router.post("/comments/{comment_id}/delete", status_code=204, responses=errors(401, 403, 404))
def delete_comment(request: Request, comment_id: RowId) -> None:
    """Delete a comment (its author or an admin)."""
    user = api_user(request)
    try:
        services(request).community.delete_comment(user, comment_id)
    except (NotFound, NotAllowed) as exc:
        raise community_error(exc) from exc


@router.get("/papers/{paper_id:path}", response_model=Paper, responses=errors(404))
def get_paper(request: Request, paper_id: str) -> Any:
    """One paper in Hugging Face's flat shape (what ``huggingface_hub``'s ``paper_info`` reads)."""
    user = current_user(request)
    if user is not None and user["is_admin"]:  # admins see hidden papers: not an answer for everyone
        return paper_json(_paper(request, paper_id))
    return cached_json(request, _PAPER, lambda: paper_json(_paper(request, paper_id)))
