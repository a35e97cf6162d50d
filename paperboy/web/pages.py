"""The HTML pages about papers: feeds, trending, search, paper and author pages, submitting, comments."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperboy.services.errors import Invalid, NotAllowed, NotFound, ServiceError
from paperboy.services.feed import WINDOWS, BadPeriod, parse_period
from paperboy.services.indexing import read_status
from paperboy.web.context import services
from paperboy.web.errors import http_status
from paperboy.web.page_cache import cached_page
from paperboy.web.render import paper_url, redirect, render
from paperboy.web.security import RowId, check_csrf, current_user, require_user, safe_next

router = APIRouter(include_in_schema=False)
Page = Annotated[int, Query(ge=1, le=10_000)]
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Search form fields whose ``parse_query`` argument has another name.
_FILTER_ARGS = {"cat": "categories"}


def voted_ids(request: Request, papers: list[dict[str, Any]]) -> set[str]:
    """Which of these papers the signed-in user voted for."""
    user = current_user(request)
    if not user or not papers:
        return set()
    return services(request).store.activity.voted(user["id"], [p["id"] for p in papers])


# -- feeds ----------------------------------------------------------------------------------
def _feed_page(request: Request, kind: str | None, slug: str | None, sort: str, page: int) -> HTMLResponse:
    svc = services(request)
    try:
        period = parse_period(kind, slug) if kind and slug else None
    except BadPeriod as exc:
        raise HTTPException(404, str(exc)) from exc

    def build(csrf: str) -> HTMLResponse:
        feed = svc.feed.page(period, sort, page)
        return render(request, "feed.html", _csrf=csrf, feed=feed, voted=voted_ids(request, feed.papers))

    return cached_page(request, build)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, sort: str = "votes", p: Page = 1) -> HTMLResponse:
    """The latest announcement day."""
    return _feed_page(request, None, None, sort, p)


@router.get("/papers/date", response_class=HTMLResponse)
def pick_day(d: str = "") -> Response:
    """The day picker's target."""
    if not _ISO_DAY.match(d or ""):
        return redirect("/")
    return redirect(f"/papers/date/{d}")


@router.get("/papers/date/{day}", response_class=HTMLResponse)
def day_page(request: Request, day: str, sort: str = "votes", p: Page = 1) -> HTMLResponse:
    return _feed_page(request, "day", day, sort, p)


@router.get("/papers/week/{week}", response_class=HTMLResponse)
def week_page(request: Request, week: str, sort: str = "votes", p: Page = 1) -> HTMLResponse:
    return _feed_page(request, "week", week, sort, p)


@router.get("/papers/month/{month}", response_class=HTMLResponse)
def month_page(request: Request, month: str, sort: str = "votes", p: Page = 1) -> HTMLResponse:
    return _feed_page(request, "month", month, sort, p)


@router.get("/trending", response_class=HTMLResponse)
def trending(request: Request, window: str = "week", p: Page = 1) -> HTMLResponse:
    svc = services(request)
    window = window if window in WINDOWS else "week"
    size = svc.settings.page_size

    def build(csrf: str) -> HTMLResponse:
        papers = svc.feed.trending(window, size + 1, (p - 1) * size)
        more = len(papers) > size and not papers[size].get("unvoted")
        papers = papers[:size]
        voted = voted_ids(request, papers)
        return render(
            request, "trending.html", _csrf=csrf, papers=papers, window=window, page=p, more=more, voted=voted
        )

    return cached_page(request, build)


# -- search -----------------------------------------------------------------------------------
@router.get("/search", response_class=HTMLResponse)
def search(
    request: Request,
    q: Annotated[str, Query(max_length=10_000)] = "",
    mode: str = "hybrid",
    author: Annotated[str, Query(max_length=200)] = "",
    cat: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    p: Page = 1,
) -> HTMLResponse:
    """Search with the query syntax; filters also as form fields."""
    svc = services(request)
    filters = {"author": author or None, "cat": cat or None, "since": since or None, "until": until or None}
    searched = bool(q.strip() or any(filters.values()))
    size = svc.settings.page_size // 2 or 10
    results: list[Any] = []
    warnings: list[str] = []
    more = False
    if searched:
        given = {_FILTER_ARGS.get(k, k): v for k, v in filters.items() if v}  # the form's cat= is categories
        found = svc.search.search(q, mode, size + 1, (p - 1) * size, **given)
        warnings = found.warnings
        more = len(found.results) > size
        results = found.results[:size]
        listed = {x["id"]: x for x in svc.store.activity.listed([r.id for r in results])}
        results = [r for r in results if r.id in listed]
        for r in results:
            r.paper = listed[r.id]
    params = {k: v for k, v in {"q": q, "mode": mode, **filters}.items() if v}
    return render(
        request,
        "search.html",
        q=q,
        mode=mode,
        filters=filters,
        searched=searched,
        results=results,
        warnings=warnings,
        building=svc.search.keyword_building,
        page=p,
        more=more,
        offset=(p - 1) * size,
        params=params,
        voted=voted_ids(request, [r.paper for r in results]),
    )


# -- authors ----------------------------------------------------------------------------------
@router.get("/authors/{name:path}", response_class=HTMLResponse)
def author(request: Request, name: str) -> HTMLResponse:
    svc = services(request)
    limit = 200
    ids = [x["id"] for x in svc.store.papers_by_author(name[:300], limit=limit)]
    papers = svc.store.activity.listed(ids)
    shown = name
    for paper in papers[:1]:  # the spelling the papers use, rather than the URL's
        from paperboy.sources.normalize import author_key

        key = author_key(name)
        shown = next((a for a in paper["authors"] if author_key(a) == key), name)
    from paperboy.web.lab_pages import author_extras

    lab = author_extras(request, shown, papers)  # followers, spellings, co-authors (issue 18)
    return render(
        request, "author.html", name=shown, papers=papers, limit=limit, voted=voted_ids(request, papers), lab=lab
    )


# -- submitting -------------------------------------------------------------------------------
@router.get("/submit", response_class=HTMLResponse)
def submit_form(request: Request, user: dict = Depends(require_user)) -> HTMLResponse:
    return _submit_page(request, user)


def _submit_page(request: Request, user: dict[str, Any], code: int = 200, **extra: Any) -> HTMLResponse:
    recent = services(request).community.recent_submissions(user)
    return render(request, "submit.html", code=code, recent=recent, **extra)


@router.post("/submit", dependencies=[Depends(check_csrf)])
def submit(
    request: Request, paper: Annotated[str, Form(max_length=500)] = "", user: dict = Depends(require_user)
) -> Response:
    """Submit a paper: at once when it is here, else its fetch is queued and its page says how it goes."""
    try:
        submitted = services(request).community.submit(user, paper)
    except ServiceError as exc:  # every refusal is said on the form, beside what was typed
        status = http_status(exc.kind)
        return _submit_page(request, user, code=status if status < 500 else 400, error=str(exc), value=paper)
    if submitted["paper"] is not None:
        return redirect(paper_url(submitted["paper"]["id"]))
    return redirect(f"/submit/{submitted['id']}")


@router.get("/submit/{submission_id}", response_class=HTMLResponse)
def submission(request: Request, submission_id: RowId, user: dict = Depends(require_user)) -> Response:
    """A submission being fetched (the page reloads itself until it is done), or why it failed."""
    sub = services(request).community.get_submission(user, submission_id)
    if sub["paper"] is not None:
        return redirect(paper_url(sub["paper"]["id"]))
    return render(request, "submission.html", sub=sub)


# -- status -------------------------------------------------------------------------------------
@router.get("/status", response_class=HTMLResponse)
def status(request: Request) -> HTMLResponse:
    """How far indexing has come (the indexer's report, read from its status file)."""
    svc = services(request)
    report = read_status(svc.settings)
    papers = svc.store.count_papers()
    model = report.get("model")
    vectors = svc.store.vector_counts(model)[0] if model else 0
    eta = None
    rate = report.get("rate") or 0
    if rate and vectors < papers:
        minutes = (papers - vectors) / rate / 60
        eta = f"{minutes:.0f} minutes" if minutes >= 1 else "under a minute"
    return render(
        request,
        "status.html",
        status=report,
        papers=papers,
        keyword_docs=len(svc.search.keyword),
        model=model,
        vectors=vectors,
        searchable=svc.search.vector_count,
        eta=eta,
        indexing=vectors < papers,
    )


# -- comments ---------------------------------------------------------------------------------
@router.get("/comments/{comment_id}/edit", response_class=HTMLResponse)
def edit_comment_form(request: Request, comment_id: RowId, user: dict = Depends(require_user)) -> HTMLResponse:
    try:
        comment = services(request).community.own_comment(user, comment_id)
    except (NotFound, NotAllowed) as exc:
        raise HTTPException(404, "no such comment of yours") from exc
    return render(request, "comment_edit.html", comment=comment)


@router.post("/comments/{comment_id}/edit", dependencies=[Depends(check_csrf)])
def edit_comment(
    request: Request, comment_id: RowId, text: Annotated[str, Form()] = "", user: dict = Depends(require_user)
) -> Response:
    try:
        comment = services(request).community.edit_comment(user, comment_id, text)
    except Invalid as exc:
        current = services(request).store.activity.comment(comment_id)
        return render(request, "comment_edit.html", code=400, comment={**(current or {}), "body": text}, error=str(exc))
    return redirect(paper_url(comment["paper_id"]) + f"#c-{comment_id}")


@router.post("/comments/{comment_id}/delete", dependencies=[Depends(check_csrf)])
def delete_comment(request: Request, comment_id: RowId, user: dict = Depends(require_user)) -> Response:
    paper_id = services(request).community.delete_comment(user, comment_id)
    return redirect(paper_url(paper_id) + "#comments")


@router.post("/comments/{comment_id}/hide", dependencies=[Depends(check_csrf)])
def hide_comment(
    request: Request, comment_id: RowId, hidden: Annotated[str, Form()] = "1", user: dict = Depends(require_user)
) -> Response:
    paper_id = services(request).community.hide_comment(user, comment_id, hidden != "0")
    return redirect(paper_url(paper_id) + f"#c-{comment_id}")


# -- one paper (last: its path swallows slashes in old-style arXiv ids) ----------------------
@router.post("/papers/{paper_id:path}/vote", dependencies=[Depends(check_csrf)])
def vote(
    request: Request, paper_id: str, up: Annotated[str, Form()] = "1", user: dict = Depends(require_user)
) -> Response:
    services(request).community.vote(user, paper_id, up != "0")
    back = request.headers.get("referer", "")
    path = back.split("://", 1)[-1].partition("/")[2] if "://" in back else ""
    return redirect(safe_next("/" + path if path else None, paper_url(paper_id)))


@router.post("/papers/{paper_id:path}/comments", dependencies=[Depends(check_csrf)])
def add_comment(
    request: Request, paper_id: str, text: Annotated[str, Form()] = "", user: dict = Depends(require_user)
) -> Response:
    comment = services(request).community.add_comment(user, paper_id, text)
    return redirect(paper_url(paper_id) + f"#c-{comment['id']}")


@router.post("/papers/{paper_id:path}/hide", dependencies=[Depends(check_csrf)])
def hide_paper(
    request: Request, paper_id: str, hidden: Annotated[str, Form()] = "1", user: dict = Depends(require_user)
) -> Response:
    services(request).community.hide_paper(user, paper_id, hidden != "0")
    return redirect(paper_url(paper_id))


@router.get("/papers/{paper_id:path}", response_class=HTMLResponse)
def paper_page(request: Request, paper_id: str) -> Response:
    """A paper: whole abstract, authors, versions, links, votes, comments and similar papers."""

    def build(csrf: str) -> Response:  # the paper is looked up only when the page is not cached
        user = current_user(request)
        try:
            paper = services(request).community.visible_paper(paper_id, user)
        except NotFound as exc:
            raise HTTPException(404, f"No paper {paper_id!r} here. Submit it from arXiv on the Submit page.") from exc
        if paper["id"] != paper_id:  # 2501.00001v2, arXiv:2501.00001, an arXiv URL: one address per paper
            return RedirectResponse(paper_url(paper["id"]), status_code=301)
        return _paper_page(request, paper, user, csrf)

    return cached_page(request, build, on_search=True)


def _paper_page(request: Request, paper: dict[str, Any], user: dict[str, Any] | None, csrf: str) -> HTMLResponse:
    svc = services(request)
    admin = bool(user and user["is_admin"])
    comments = svc.store.activity.comments(paper["id"], include_hidden=admin)
    similar = svc.search.similar(paper["id"], limit=6)
    listed = {x["id"]: x for x in svc.store.activity.listed([r.id for r in similar])}
    similar = [r for r in similar if r.id in listed]
    for r in similar:
        r.paper = listed[r.id]
    if not similar:
        note = "Similar papers appear once this paper's neighbours are embedded."
    else:
        note = svc.search.semantic_coverage() or ""
    return render(
        request,
        "paper.html",
        _csrf=csrf,
        paper=paper,
        voted=bool(voted_ids(request, [paper])),
        comments=comments,
        similar=similar,
        similar_voted=voted_ids(request, [r.paper for r in similar]),
        similar_note=note,
        today=date.today(),
        lab=_lab_extras(request, paper, user),
    )


def _lab_extras(request: Request, paper: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    from paperboy.web.lab_pages import paper_extras

    return paper_extras(request, paper, user)
