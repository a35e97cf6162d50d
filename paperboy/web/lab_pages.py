"""The pages of a lab's layer: following, groups (members, invitations, shared collections, the
reading queue, the week, the digest), private notes, and the private Atom feeds of both.

Every group page asks services/groups.py, which answers ``NotFound`` (so 404) to whoever is not a
member.  Every state change is a POST with the CSRF token; forms work without JavaScript.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from paperboy.services.errors import Conflict, Invalid, NotFound, TooLarge, TooMany
from paperboy.services.follows import KINDS, FollowService
from paperboy.services.groups import GroupService
from paperboy.services.notes import NoteService
from paperboy.services.webhooks import KINDS as HOOK_KINDS
from paperboy.services.webhooks import SERVICES
from paperboy.sources.normalize import author_key
from paperboy.web.context import services, site_url
from paperboy.web.errors import http_status
from paperboy.web.render import paper_url, redirect, render
from paperboy.web.security import RowId, check_csrf, current_user, require_user, safe_next

router = APIRouter(include_in_schema=False)
#: Refusals shown inside the lab pages' own forms (a group that is not there, or not yours, is a 404 page).
FORM_ERRORS = (Invalid, Conflict, TooMany, TooLarge)
Text = Annotated[str, Form(max_length=500)]


def follows(request: Request) -> FollowService:
    return services(request).follows


def groups(request: Request) -> GroupService:
    return services(request).groups


def notes(request: Request) -> NoteService:
    return services(request).notes


def _back(request: Request, back: str, default: str) -> str:
    """Where a POST returns: the form's ``back`` field, else the page it came from (same site only)."""
    if back:
        return safe_next(back, default)
    referer = request.headers.get("referer", "")
    path = referer.split("://", 1)[-1].partition("/")[2] if "://" in referer else ""
    return safe_next("/" + path if path else None, default)


# -- hooks for shared pages ----------------------------------------------------------------------
def author_extras(request: Request, name: str, papers: list[dict[str, Any]]) -> dict[str, Any]:
    """What the author page adds: the spellings merged under one key, co-authors, followers, the button."""
    store = services(request).store
    key = author_key(name)
    spellings = store.follows.author_names(key) if key else []
    co = store.follows.coauthors(key) if key else []
    shown = store.follows.display_names([k for k, _ in co])
    coauthors = [{"name": shown.get(k, k), "papers": n} for k, n in co if k in shown]
    user = current_user(request)
    return {
        "spellings": spellings,
        "coauthors": coauthors,
        "followers": follows(request).followers("author", name),
        "following": follows(request).is_following(user, "author", name),
    }


def paper_extras(request: Request, paper: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """What the paper page adds for its signed-in reader: their private note, whether it is saved."""
    if user is None:
        return {}
    saved = bool(services(request).store.library.saved_ids(user["id"], [paper["id"]]))
    return {"note": notes(request).get(user, paper["id"]), "note_allowed": saved}


# -- following -------------------------------------------------------------------------------------
@router.post("/follow", dependencies=[Depends(check_csrf)])
def follow(
    request: Request,
    kind: Text = "",
    value: Text = "",
    back: Annotated[str, Form(max_length=2000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    """Follow an author, a category, a search (or a topic)."""
    done = follows(request).follow(user, kind, value)
    return redirect(_back(request, back, done["url"]))


@router.post("/unfollow", dependencies=[Depends(check_csrf)])
def unfollow(
    request: Request,
    kind: Text = "",
    value: Text = "",
    back: Annotated[str, Form(max_length=2000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    follows(request).unfollow(user, kind, value)
    return redirect(_back(request, back, "/following"))


def _following_page(request: Request, user: dict[str, Any], feed_url: str | None = None) -> HTMLResponse:
    svc = follows(request)
    found = svc.papers(user, limit=60)
    voted = services(request).store.activity.voted(user["id"], [f.paper["id"] for f in found])
    return render(
        request,
        "following.html",
        listing=svc.listing(user),
        found=found,
        since=svc.since_day(),
        voted=voted,
        kinds=KINDS,
        feed=services(request).library.library.feed_token(user["id"]),
        feed_url=feed_url,
    )


@router.get("/following", response_class=HTMLResponse)
def following(request: Request, user: dict = Depends(require_user)) -> HTMLResponse:
    """What the user follows, and the new papers that came of it."""
    return _following_page(request, user)


@router.post("/following/feed-link", dependencies=[Depends(check_csrf)])
def following_feed_link(request: Request, user: dict = Depends(require_user)) -> HTMLResponse:
    """A new private feed secret (shared with the "for you" feed: one secret per user, shown once)."""
    token = services(request).library.new_feed_token(user)
    return _following_page(request, user, f"{site_url(request)}/feeds/following.atom?token={token}")


@router.get("/feeds/following.atom")
def following_feed(request: Request, token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """New papers from what a user follows, as Atom (the token in the link stands for the user)."""
    from paperboy.web.feeds import ATOM, atom_body

    user = services(request).library.feed_user(token)
    if user is None:
        raise HTTPException(404, "No such feed: the link is wrong or was replaced by a newer one.")
    papers = [f.paper for f in follows(request).papers(user, limit=50)]
    body = atom_body(
        request,
        "following",
        f"paperboy: followed by {user['username']}",
        "New papers from the authors, categories and searches you follow",
        "/following",
        papers,
    )
    return Response(body, media_type=ATOM, headers={"Cache-Control": "private, max-age=300"})


@router.get("/papers/{paper_id:path}/follow", response_class=HTMLResponse)
def follow_from_paper(request: Request, paper_id: str, user: dict = Depends(require_user)) -> HTMLResponse:
    """Follow the authors or categories of a paper (the card's "Follow…" link)."""
    paper = services(request).community.visible_paper(paper_id, user)
    store = services(request).store
    keys = {name: author_key(name) for name in paper["authors"]}
    followed_authors = store.follows.following(user["id"], "author", keys.values())
    cats = {c: c.lower() for c in paper["categories"]}
    followed_cats = store.follows.following(user["id"], "category", cats.values())
    return render(
        request,
        "follow_paper.html",
        paper=paper,
        authors=[(name, keys[name] in followed_authors) for name in paper["authors"]],
        categories=[(c, cats[c] in followed_cats) for c in paper["categories"]],
    )


# -- notes -----------------------------------------------------------------------------------------
@router.post("/papers/{paper_id:path}/note", dependencies=[Depends(check_csrf)])
def save_note(
    request: Request,
    paper_id: str,
    text: Annotated[str, Form(max_length=25_000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    """Write (or, empty, delete) the user's private note on a saved paper."""
    notes(request).put(user, paper_id, text)
    return redirect(paper_url(paper_id) + "#note")


@router.get("/papers/{paper_id:path}/note")
def note_target(paper_id: str) -> Response:
    return redirect(paper_url(paper_id) + "#note")


@router.get("/library/search", response_class=HTMLResponse)
def library_search(
    request: Request, q: Annotated[str, Query(max_length=500)] = "", user: dict = Depends(require_user)
) -> HTMLResponse:
    """The user's saved papers whose note, title or authors hold every word."""
    papers = notes(request).search(user, q) if q.strip() else []
    mine = notes(request).of_papers(user, [p["id"] for p in papers])
    voted = services(request).store.activity.voted(user["id"], [p["id"] for p in papers])
    return render(request, "library_search.html", q=q, papers=papers, notes=mine, voted=voted)


# -- groups ----------------------------------------------------------------------------------------
@router.get("/groups", response_class=HTMLResponse)
def groups_page(request: Request, user: dict = Depends(require_user)) -> HTMLResponse:
    return render(request, "groups.html", groups=groups(request).mine(user))


@router.post("/groups", dependencies=[Depends(check_csrf)])
def create_group(
    request: Request,
    name: Text = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    try:
        made = groups(request).create(user, name, description)
    except FORM_ERRORS as exc:
        return render(
            request, "groups.html", code=http_status(exc.kind), groups=groups(request).mine(user), error=str(exc)
        )
    return redirect(f"/groups/{made['id']}")


def _group_page(request: Request, user: dict[str, Any], group_id: int, **extra: Any) -> HTMLResponse:
    svc = groups(request)
    group = svc.group(user, group_id)
    queue = svc.queue(user, group_id)
    shown = [p for d in queue for p in d["papers"]]
    return render(
        request,
        "group.html",
        code=extra.pop("code", 200),
        group=group,
        collections=svc.collections(user, group_id),
        members=svc.members(user, group_id),
        queue=queue,
        voted=services(request).store.activity.voted(user["id"], [p["id"] for p in shown]),
        hooks=services(request).webhooks.hooks(user, group_id=group_id) if group["role"] == "owner" else [],
        services_=SERVICES,
        kinds=HOOK_KINDS,
        **extra,
    )


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(request: Request, group_id: RowId, user: dict = Depends(require_user)) -> HTMLResponse:
    """A group: its shared collections, reading queue and members (members only)."""
    return _group_page(request, user, group_id)


@router.post("/groups/{group_id}/edit", dependencies=[Depends(check_csrf)])
def edit_group(
    request: Request,
    group_id: RowId,
    name: Text = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    try:
        groups(request).update(user, group_id, name, description)
    except FORM_ERRORS as exc:
        return _group_page(request, user, group_id, code=http_status(exc.kind), error=str(exc))
    return redirect(f"/groups/{group_id}")


@router.post("/groups/{group_id}/delete", dependencies=[Depends(check_csrf)])
def delete_group(request: Request, group_id: RowId, user: dict = Depends(require_user)) -> Response:
    groups(request).delete(user, group_id)
    return redirect("/groups")


@router.post("/groups/{group_id}/members", dependencies=[Depends(check_csrf)])
def add_member(
    request: Request, group_id: RowId, username: Text = "", role: Text = "member", user: dict = Depends(require_user)
) -> Response:
    """An owner adds an account by name or address."""
    try:
        groups(request).add_member(user, group_id, username, role)
    except FORM_ERRORS as exc:
        return _group_page(request, user, group_id, code=http_status(exc.kind), error=str(exc))
    return redirect(f"/groups/{group_id}#members")


@router.post("/groups/{group_id}/members/{member_id}/remove", dependencies=[Depends(check_csrf)])
def remove_member(request: Request, group_id: RowId, member_id: RowId, user: dict = Depends(require_user)) -> Response:
    try:
        groups(request).remove_member(user, group_id, member_id)
    except FORM_ERRORS as exc:
        return _group_page(request, user, group_id, code=http_status(exc.kind), error=str(exc))
    return redirect("/groups" if member_id == user["id"] else f"/groups/{group_id}#members")


@router.post("/groups/{group_id}/members/{member_id}/role", dependencies=[Depends(check_csrf)])
def set_role(
    request: Request, group_id: RowId, member_id: RowId, role: Text = "member", user: dict = Depends(require_user)
) -> Response:
    try:
        groups(request).set_role(user, group_id, member_id, role)
    except FORM_ERRORS as exc:
        return _group_page(request, user, group_id, code=http_status(exc.kind), error=str(exc))
    return redirect(f"/groups/{group_id}#members")


@router.post("/groups/{group_id}/invites", dependencies=[Depends(check_csrf)])
def new_invite(
    request: Request, group_id: RowId, days: Annotated[int, Form(ge=1, le=30)] = 7, user: dict = Depends(require_user)
) -> Response:
    """An invitation link, shown once."""
    try:
        token = groups(request).new_invite(user, group_id, days)
    except FORM_ERRORS as exc:
        return _group_page(request, user, group_id, code=http_status(exc.kind), error=str(exc))
    return _group_page(request, user, group_id, invite_url=f"{site_url(request)}/join/{token}", invite_days=days)


@router.post("/groups/{group_id}/invites/revoke", dependencies=[Depends(check_csrf)])
def revoke_invites(request: Request, group_id: RowId, user: dict = Depends(require_user)) -> Response:
    groups(request).revoke_invites(user, group_id)
    return redirect(f"/groups/{group_id}#members")


@router.get("/join/{token}", response_class=HTMLResponse)
def join_page(request: Request, token: str, user: dict = Depends(require_user)) -> HTMLResponse:
    """The invitation: the group's name and a Join button."""
    group = groups(request).invite_group(token[:200])
    return render(request, "group_join.html", group=group, token=token)


@router.post("/join/{token}", dependencies=[Depends(check_csrf)])
def join(request: Request, token: str, user: dict = Depends(require_user)) -> Response:
    group, _ = groups(request).join(user, token[:200])
    return redirect(f"/groups/{group['id']}")


@router.post("/groups/{group_id}/collections", dependencies=[Depends(check_csrf)])
def create_shared_collection(
    request: Request, group_id: RowId, name: Text = "", user: dict = Depends(require_user)
) -> Response:
    try:
        made = groups(request).create_collection(user, group_id, name)
    except FORM_ERRORS as exc:
        return _group_page(request, user, group_id, code=http_status(exc.kind), error=str(exc))
    return redirect(f"/groups/{group_id}/collections/{made['id']}")


@router.get("/groups/{group_id}/collections/{collection_id}", response_class=HTMLResponse)
def shared_collection(
    request: Request, group_id: RowId, collection_id: RowId, user: dict = Depends(require_user)
) -> HTMLResponse:
    svc = groups(request)
    group = svc.group(user, group_id)
    collection = svc.collection(user, group_id, collection_id)
    papers = svc.collection_papers(user, group_id, collection_id)
    voted = services(request).store.activity.voted(user["id"], [p["id"] for p in papers])
    return render(request, "group_collection.html", group=group, collection=collection, papers=papers, voted=voted)


@router.post("/groups/{group_id}/collections/{collection_id}/save", dependencies=[Depends(check_csrf)])
def save_shared(
    request: Request,
    group_id: RowId,
    collection_id: RowId,
    paper: Text = "",
    back: Annotated[str, Form(max_length=2000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    """Any member saves a paper into a shared collection."""
    groups(request).save(user, group_id, collection_id, paper)
    return redirect(_back(request, back, f"/groups/{group_id}/collections/{collection_id}"))


@router.post("/groups/{group_id}/collections/{collection_id}/remove", dependencies=[Depends(check_csrf)])
def unsave_shared(
    request: Request, group_id: RowId, collection_id: RowId, paper: Text = "", user: dict = Depends(require_user)
) -> Response:
    groups(request).unsave(user, group_id, collection_id, paper)
    return redirect(f"/groups/{group_id}/collections/{collection_id}")


@router.post("/groups/{group_id}/collections/{collection_id}/delete", dependencies=[Depends(check_csrf)])
def delete_shared(
    request: Request, group_id: RowId, collection_id: RowId, user: dict = Depends(require_user)
) -> Response:
    groups(request).delete_collection(user, group_id, collection_id)
    return redirect(f"/groups/{group_id}")


@router.get("/groups/{group_id}/collections/{collection_id}/export.bib")
def export_shared(
    request: Request, group_id: RowId, collection_id: RowId, user: dict = Depends(require_user)
) -> Response:
    name, text = groups(request).export_bibtex(user, group_id, collection_id)
    return Response(
        text,
        media_type="application/x-bibtex; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-cache"},
    )


@router.post("/groups/{group_id}/queue", dependencies=[Depends(check_csrf)])
def queue_add(
    request: Request,
    group_id: RowId,
    paper: Text = "",
    day: Text = "",
    back: Annotated[str, Form(max_length=2000)] = "",
    user: dict = Depends(require_user),
) -> Response:
    """Put a paper on the group's reading queue for a day."""
    groups(request).queue_add(user, group_id, day, paper)
    return redirect(_back(request, back, f"/groups/{group_id}#queue"))


@router.post("/groups/{group_id}/queue/remove", dependencies=[Depends(check_csrf)])
def queue_remove(
    request: Request, group_id: RowId, paper: Text = "", day: Text = "", user: dict = Depends(require_user)
) -> Response:
    groups(request).queue_remove(user, group_id, day, paper)
    return redirect(f"/groups/{group_id}#queue")


@router.get("/groups/{group_id}/week", response_class=HTMLResponse)
def group_week(request: Request, group_id: RowId, user: dict = Depends(require_user)) -> HTMLResponse:
    """What members saved and upvoted in the last seven days."""
    svc = groups(request)
    group = svc.group(user, group_id)
    papers = svc.week(user, group_id)
    voted = services(request).store.activity.voted(user["id"], [p["id"] for p in papers])
    return render(request, "group_week.html", group=group, papers=papers, voted=voted)


@router.get("/groups/{group_id}/digest", response_class=HTMLResponse)
def group_digest(request: Request, group_id: RowId, user: dict = Depends(require_user)) -> HTMLResponse:
    """The group's digest as it would go out today (to its chat webhooks)."""
    svc = groups(request)
    group = svc.group(user, group_id)
    now = svc.clock()
    from paperboy.services.accounts import stamp

    digest = svc.digest(group_id, now.date().isoformat(), stamp(now - timedelta(days=1)))
    shown = digest.papers
    voted = services(request).store.activity.voted(user["id"], [p["id"] for p in shown])
    return render(request, "group_digest.html", group=group, digest=digest, voted=voted)


@router.get("/feeds/groups/{group_id}.atom")
def group_feed(request: Request, group_id: RowId, token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """A group's shared collections, newest saves first, as Atom (a member's private feed token)."""
    from paperboy.web.feeds import ATOM, atom_body

    user = services(request).library.feed_user(token)
    svc = groups(request)
    try:
        group = svc.group(user, group_id)
        ids: list[str] = []
        for col in svc.collections(user, group_id):
            ids += [p["id"] for p in svc.collection_papers(user, group_id, col["id"])]
    except NotFound as exc:
        raise HTTPException(404, "No such feed.") from exc
    papers = services(request).store.activity.listed(list(dict.fromkeys(ids))[:50])
    body = atom_body(
        request, f"group-{group_id}", f"paperboy: {group['name']}", "Saved by the group", f"/groups/{group_id}", papers
    )
    return Response(body, media_type=ATOM, headers={"Cache-Control": "private, max-age=300"})


@router.get("/papers/{paper_id:path}/group", response_class=HTMLResponse)
def paper_to_group(request: Request, paper_id: str, user: dict = Depends(require_user)) -> HTMLResponse:
    """Save a paper into a group's shared collection, or put it on a group's reading queue."""
    paper = services(request).community.visible_paper(paper_id, user)
    svc = groups(request)
    mine = [{**g, "collections": svc.collections(user, g["id"])} for g in svc.mine(user)]
    return render(request, "paper_group.html", paper=paper, groups=mine, today=svc.clock().date().isoformat())


# -- chat webhooks ---------------------------------------------------------------------------------
def _hooks_page(request: Request, user: dict[str, Any], code: int = 200, error: str | None = None) -> HTMLResponse:
    return render(
        request,
        "webhooks.html",
        code=code,
        error=error,
        hooks=services(request).webhooks.hooks(user),
        collections=services(request).library.collections(user),
        services_=SERVICES,
        kinds=HOOK_KINDS,
    )


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, user: dict = Depends(require_user)) -> HTMLResponse:
    """The user's own chat webhooks (masked), and the form to add one."""
    return _hooks_page(request, user)


@router.post("/webhooks", dependencies=[Depends(check_csrf)])
def create_webhook(
    request: Request,
    service: Text = "",
    url: Annotated[str, Form(max_length=2100)] = "",
    kind: Text = "digest",
    target: Text = "",
    name: Text = "",
    secret: Text = "",
    group: Annotated[int | None, Form(ge=1, le=2**63 - 1)] = None,
    user: dict = Depends(require_user),
) -> Response:
    """Add a webhook (for the user, or for a group its owner runs); nothing is posted from here."""
    try:
        services(request).webhooks.create(
            user, service=service, url=url, kind=kind, target=target, name=name, secret=secret, group_id=group
        )
    except FORM_ERRORS as exc:
        if group is not None:
            return _group_page(request, user, group, code=http_status(exc.kind), error=str(exc))
        return _hooks_page(request, user, http_status(exc.kind), str(exc))
    return redirect(f"/groups/{group}#webhooks" if group else "/webhooks")


@router.post("/webhooks/{hook_id}/delete", dependencies=[Depends(check_csrf)])
def delete_webhook(request: Request, hook_id: RowId, user: dict = Depends(require_user)) -> Response:
    services(request).webhooks.delete(user, hook_id)
    return redirect(_back(request, "", "/webhooks"))
