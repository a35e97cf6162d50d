"""The library and "for you" pages: collections, saving, "not interested", imports, exports, the
personal feed and its private Atom feed.

Paper cards on every page show the signed-in user's Save and "Not interested" buttons.  The card
macro is imported by many templates without their context, so it asks ``library_marks(id)`` (a
template global) what to show; a small ASGI middleware puts the request where that function can
find it, and the user's marks are read once per request, on first use.  Anonymous pages (which
the page cache shares between visitors) never show them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from paperboy.services.community import NotAllowed, NotFound, Refused
from paperboy.services.library import ImportReport, LibraryService
from paperboy.services.recommend import BadRequest, Recommender
from paperboy.web.render import (
    MAX_ROW_ID,
    RowId,
    check_csrf,
    csrf_token,
    current_scope,
    current_user,
    env,
    paper_url,
    redirect,
    render,
    require_user,
    safe_next,
    services,
    site_url,
)

router = APIRouter(include_in_schema=False)
FOR_YOU_SIZE = 30


def library(request: Request) -> LibraryService:
    return services(request).library


def recommender(request: Request) -> Recommender:
    return services(request).recommender


def library_marks(paper_id: str) -> dict[str, Any] | None:
    """``{"saved", "dismissed", "csrf"}`` of a paper for the signed-in user of this request; None for visitors."""
    scope = current_scope()
    if scope is None or "app" not in scope:
        return None
    request = Request(scope)
    if not request.cookies.get("pb_session"):
        return None
    user = current_user(request)
    if user is None:
        return None
    marks = getattr(request.state, "library_marks", None)
    if marks is None or marks[0] != user["id"]:
        saved, dismissed = library(request).marks(user)
        marks = (user["id"], saved, dismissed)
        request.state.library_marks = marks
    return {"saved": paper_id in marks[1], "dismissed": paper_id in marks[2], "csrf": csrf_token(request)}


env.globals["library_marks"] = library_marks


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, NotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, NotAllowed):
        return HTTPException(403, str(exc))
    if isinstance(exc, Refused):
        return HTTPException(exc.status, str(exc))
    if isinstance(exc, BadRequest):
        return HTTPException(400, str(exc))
    raise exc


def _back(request: Request, default: str) -> str:
    """Where a button's POST returns to: the page it was on (same site only)."""
    back = request.headers.get("referer", "")
    path = back.split("://", 1)[-1].partition("/")[2] if "://" in back else ""
    return safe_next("/" + path if path else None, default)


# -- the library page -----------------------------------------------------------------------------
def _library_page(
    request: Request,
    user: dict[str, Any],
    selected: int | None = None,
    code: int = 200,
    report: ImportReport | None = None,
    error: str | None = None,
    message: str | None = None,
) -> HTMLResponse:
    lib = library(request)
    collections = lib.collections(user)
    current = next((c for c in collections if c["id"] == selected), None)
    if current is None and selected is None and collections:
        current = collections[0]
    papers = lib.papers(user, current["id"]) if current else []
    voted = services(request).store.activity.voted(user["id"], [p["id"] for p in papers])
    return render(
        request,
        "library.html",
        code=code,
        collections=collections,
        current=current,
        papers=papers,
        voted=voted,
        dismissed=lib.dismissed(user, 100),
        report=report,
        error=error,
        message=message,
        max_mb=services(request).settings.library_max_upload_mb,
    )


@router.get("/library", response_class=HTMLResponse)
def library_page(
    request: Request, c: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None, user: dict = Depends(require_user)
) -> HTMLResponse:
    """The user's collections, one collection's papers, the "not interested" list, import and export."""
    if c is not None:
        try:
            library(request).collection(user, c)
        except NotFound as exc:
            raise _errors(exc) from exc
    return _library_page(request, user, c)


@router.post("/library/collections", dependencies=[Depends(check_csrf)])
def create_collection(
    request: Request, name: Annotated[str, Form(max_length=500)] = "", user: dict = Depends(require_user)
) -> Response:
    try:
        made = library(request).create_collection(user, name)
    except Refused as exc:
        return _library_page(request, user, code=exc.status, error=str(exc))
    return redirect(f"/library?c={made['id']}")


@router.post("/library/collections/{collection_id}/rename", dependencies=[Depends(check_csrf)])
def rename_collection(
    request: Request,
    collection_id: RowId,
    name: Annotated[str, Form(max_length=500)] = "",
    user: dict = Depends(require_user),
) -> Response:
    try:
        library(request).rename_collection(user, collection_id, name)
    except Refused as exc:
        return _library_page(request, user, collection_id, code=exc.status, error=str(exc))
    except NotFound as exc:
        raise _errors(exc) from exc
    return redirect(f"/library?c={collection_id}")


@router.post("/library/collections/{collection_id}/delete", dependencies=[Depends(check_csrf)])
def delete_collection(request: Request, collection_id: RowId, user: dict = Depends(require_user)) -> Response:
    try:
        library(request).delete_collection(user, collection_id)
    except NotFound as exc:
        raise _errors(exc) from exc
    return redirect("/library")


@router.post("/library/collections/{collection_id}/remove", dependencies=[Depends(check_csrf)])
def remove_from_collection(
    request: Request,
    collection_id: RowId,
    paper: Annotated[str, Form(max_length=300)] = "",
    user: dict = Depends(require_user),
) -> Response:
    try:
        library(request).unsave(user, paper, collection_id)
    except NotFound as exc:
        raise _errors(exc) from exc
    return redirect(f"/library?c={collection_id}")


@router.get("/library/collections/{collection_id}/export.bib")
def export_collection(request: Request, collection_id: RowId, user: dict = Depends(require_user)) -> Response:
    """A collection as a BibTeX file."""
    try:
        name, text = library(request).export_bibtex(user, collection_id)
    except NotFound as exc:
        raise _errors(exc) from exc
    return Response(
        text,
        media_type="application/x-bibtex; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-cache"},
    )


@router.post("/library/import", dependencies=[Depends(check_csrf)])
async def import_file(
    request: Request,
    file: Annotated[UploadFile | None, File()] = None,
    format: Annotated[str, Form(max_length=20)] = "auto",
    collection: Annotated[str, Form(max_length=500)] = "",
    user: dict = Depends(require_user),
) -> Response:
    """Import BibTeX, RIS or a Zotero CSV export into a collection; the page lists what matched nothing."""
    if file is None or not file.filename:
        return _library_page(request, user, code=400, error="Choose a BibTeX, RIS or Zotero CSV file to import.")
    limit = int(services(request).settings.library_max_upload_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    try:
        report = library(request).import_file(user, data, file.filename, format, collection_name=collection or None)
    except Refused as exc:
        return _library_page(request, user, code=exc.status, error=str(exc))
    return _library_page(request, user, report.collection["id"], report=report)


# -- saving and feedback (before the paper pages: their paths extend /papers/{id}) -----------------
@router.get("/papers/{paper_id:path}/save", response_class=HTMLResponse)
def save_form(request: Request, paper_id: str, user: dict = Depends(require_user)) -> HTMLResponse:
    """Choose the collections a paper is in."""
    try:
        paper = services(request).community.visible_paper(paper_id, user)
    except NotFound as exc:
        raise _errors(exc) from exc
    lib = library(request)
    holding = lib.library.collections_holding(user["id"], paper["id"])
    return render(request, "save.html", paper=paper, collections=lib.collections(user), holding=holding)


@router.post("/papers/{paper_id:path}/save", dependencies=[Depends(check_csrf)])
def save(
    request: Request,
    paper_id: str,
    collection: Annotated[int | None, Form(ge=1, le=MAX_ROW_ID)] = None,
    new: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    """Save a paper (into the "Saved" collection unless another is chosen or named)."""
    try:
        library(request).save(user, paper_id, collection, new or None)
    except (NotFound, Refused) as exc:
        raise _errors(exc) from exc
    return redirect(safe_next(back or None, _back(request, paper_url(paper_id))))


@router.post("/papers/{paper_id:path}/unsave", dependencies=[Depends(check_csrf)])
def unsave(
    request: Request,
    paper_id: str,
    collection: Annotated[int | None, Form(ge=1, le=MAX_ROW_ID)] = None,
    back: Annotated[str, Form(max_length=2000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    """Take a paper out of one collection (or all of them)."""
    try:
        library(request).unsave(user, paper_id, collection)
    except NotFound as exc:
        raise _errors(exc) from exc
    return redirect(safe_next(back or None, _back(request, paper_url(paper_id))))


@router.post("/papers/{paper_id:path}/not-interested", dependencies=[Depends(check_csrf)])
def not_interested(
    request: Request,
    paper_id: str,
    undo: Annotated[str, Form()] = "0",
    user: dict = Depends(require_user),
) -> Response:
    """Mark a paper "not interested" (or undo it): never recommended again, and a negative example."""
    try:
        library(request).not_interested(user, paper_id, on=undo == "0")
    except NotFound as exc:
        raise _errors(exc) from exc
    return redirect(_back(request, paper_url(paper_id)))


@router.get("/papers/{paper_id:path}/not-interested")
@router.get("/papers/{paper_id:path}/unsave")
def button_target(paper_id: str) -> Response:
    """Where signing in after pressing a button lands: the paper itself."""
    return redirect(paper_url(paper_id))


# -- for you --------------------------------------------------------------------------------------
@router.get("/for-you", response_class=HTMLResponse)
def for_you(
    request: Request,
    seen: Annotated[int, Query(ge=0, le=1)] = 0,
    q: Annotated[str, Query(max_length=500)] = "",
    user: dict = Depends(require_user),
) -> HTMLResponse:
    """Recent papers ranked by the user's taste, each with why; a way to pick papers when there is no taste yet."""
    svc = services(request)
    found = recommender(request).listed(
        recommender(request).for_user(user["id"], limit=FOR_YOU_SIZE, include_seen=bool(seen))
    )
    picks: list[dict[str, Any]] = []
    searched: list[dict[str, Any]] = []
    if q.strip():
        page = svc.search.search(q, "hybrid", 10)
        searched = svc.store.activity.listed([r.id for r in page.results])
    if found.cold:
        picks = svc.feed.trending("week", 10)
    shown = [r.paper for r in found.results if r.paper] + picks + searched
    voted = svc.store.activity.voted(user["id"], [p["id"] for p in shown])
    return render(
        request,
        "for_you.html",
        found=found,
        picks=picks,
        searched=searched,
        q=q,
        seen=bool(seen),
        voted=voted,
        feed=library(request).library.feed_token(user["id"]),
        new_feed_url=None,
    )


@router.post("/for-you/feed-link", dependencies=[Depends(check_csrf)])
def new_feed_link(request: Request, user: dict = Depends(require_user)) -> HTMLResponse:
    """Make (or replace) the private Atom feed link; shown once, like an API token."""
    token = library(request).new_feed_token(user)
    base = site_url(request)
    found = recommender(request).listed(recommender(request).for_user(user["id"], limit=FOR_YOU_SIZE))
    voted = services(request).store.activity.voted(user["id"], [r.id for r in found.results])
    return render(
        request,
        "for_you.html",
        found=found,
        picks=services(request).feed.trending("week", 10) if found.cold else [],
        searched=[],
        q="",
        seen=False,
        voted=voted,
        feed=library(request).library.feed_token(user["id"]),
        new_feed_url=f"{base}/feeds/for-you.atom?token={token}",
    )


@router.get("/feeds/for-you.atom")
def for_you_feed(request: Request, token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """A user's "for you" papers as Atom, for feed readers (the token in the link stands for the user)."""
    from paperboy.web.feeds import ATOM, atom_body
    from paperboy.web.render import conditional

    user = library(request).feed_user(token)
    if user is None:
        raise HTTPException(404, "No such feed: the link is wrong or was replaced by a newer one.")
    found = recommender(request).listed(recommender(request).for_user(user["id"], limit=50))
    papers = [r.paper for r in found.results if r.paper]
    body = atom_body(
        request, "for-you", f"paperboy: for {user['username']}", "Recent papers picked for you", "/for-you", papers
    )
    return conditional(request, body, ATOM, cache_control="private, max-age=300")
