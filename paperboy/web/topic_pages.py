"""Topic pages, the map, starting "for you" from the map, and a feed per topic.

* ``/topics``: every topic with its size, label, a sparkline of papers per week and its growth.
* ``/topics/{id}``: its papers by day, trending papers in it, its nearest topics, its trend.
* ``/map``: every paper as a point (``static/map.js`` draws the payload of ``/api/map/points.bin``);
  a signed-in reader with an empty library picks topics or regions there (``POST /map/start``).
* ``/feeds/topics/{id}.atom``: a topic's newest papers.

Cards everywhere show a paper's key phrases (template global ``paper_topics``) and the daily page
the fastest-growing topics (``rising_topics``).  Like ``library_marks``, these globals find the
request's app through a context variable set by a small ASGI middleware.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from paperboy.services.onboarding import BadPick, parse_box, start_from_picks
from paperboy.services.topic_views import TopicIndex, TopicViews
from paperboy.web.context import current_scope, services
from paperboy.web.page_cache import cached_page
from paperboy.web.render import env, redirect, render
from paperboy.web.security import check_csrf, current_user, require_user

router = APIRouter(include_in_schema=False)
TOPIC_PAGE = 30
#: Palette of the map and the topic dots (index = ``topics.color``); static/map.js has the same list.
PALETTE = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
    "#f032e6", "#9a6324", "#469990", "#808000", "#000075", "#e6a800",
]  # fmt: skip


def views(request: Request) -> TopicViews:
    return services(request).topics


def _current_views() -> TopicViews | None:
    """The topic views of the app serving this request (None outside a request)."""
    scope = current_scope()
    app = scope.get("app") if scope else None
    state = getattr(app, "state", None)
    return state.services.topics if state is not None and hasattr(state, "services") else None


def paper_topics(paper_id: str) -> dict[str, Any] | None:
    """``{"keywords": [...], "topic": summary or None}`` of a paper, for cards; None when there is nothing."""
    topic_views = _current_views()
    if topic_views is None:
        return None
    phrases, topic_id = topic_views.papers.get([paper_id])[paper_id]
    topic = topic_views.index.by_id.get(topic_id) if topic_id is not None else None
    if not phrases and topic is None:
        return None
    return {"keywords": phrases, "topic": topic}


def paper_keywords(paper_id: str) -> list[str]:
    """A paper's key phrases (``ai_keywords`` in the API); [] outside a request or before any are made."""
    topic_views = _current_views()
    return topic_views.papers.get([paper_id])[paper_id][0] if topic_views is not None else []


def rising_topics(n: int = 5) -> list[Any]:
    """The topics growing fastest this month (for the daily page)."""
    topic_views = _current_views()
    return topic_views.index.rising(n) if topic_views is not None else []


def sparkline(weekly: list[int], width: int = 120, height: int = 26, color: str = "#0b57d0") -> Markup:
    """Papers per week as a small inline SVG line (numbers only: nothing from the data is written into it)."""
    values = list(weekly[-26:]) or [0]
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (height - 4) * v / top:.1f}" for i, v in enumerate(values))
    color = color if color in PALETTE or color == "#0b57d0" else "#0b57d0"
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="papers per week, last {len(values)} weeks"><polyline fill="none" stroke="{color}" '
        f'stroke-width="1.6" points="{points}"/></svg>'
    )


def trend_chart(index: TopicIndex, weekly: list[int], width: int = 880, height: int = 180) -> Markup:
    """Papers per week as an SVG bar chart with month labels and a tooltip per bar."""
    weeks = index.weeks
    if not weeks:
        return Markup("")
    top = max(weekly) or 1
    bar = width / len(weeks)
    parts = [f'<svg class="trend" viewBox="0 0 {width} {height + 22}" role="img" aria-label="papers per week">']
    for i, (week, n) in enumerate(zip(weeks, weekly, strict=True)):
        h = (height - 10) * n / top
        parts.append(
            f'<rect x="{i * bar + 0.5:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 0.8):.1f}" height="{h:.1f}">'
            f"<title>week of {week.isoformat()}: {n} paper{'' if n == 1 else 's'}</title></rect>"
        )
        if week.day <= 7 and (week.month in (1, 4, 7, 10) or len(weeks) <= 30):
            parts.append(f'<text x="{i * bar:.1f}" y="{height + 16}">{week:%b %Y}</text>')
    parts.append(f'<text class="top" x="0" y="10">{top} / week</text></svg>')
    return Markup("".join(parts))


def growth_text(value: float | None) -> str:
    return "new" if value is None else f"{100 * value:+.0f} %"


env.globals["paper_topics"] = paper_topics
env.globals["rising_topics"] = rising_topics
env.globals["topic_color"] = lambda index: PALETTE[int(index) % len(PALETTE)]
env.filters["sparkline"] = sparkline
env.filters["growth"] = growth_text


# -- /topics ------------------------------------------------------------------------------------------
def _library_empty(request: Request, user: dict[str, Any] | None) -> bool:
    return bool(user) and not services(request).store.library.positives(user["id"])


@router.get("/topics", response_class=HTMLResponse)
def topics_page(request: Request, sort: str = "size") -> Response:
    """Every topic: size, label, papers per week, growth."""
    sort = sort if sort in {"size", "growth", "label"} else "size"
    index = views(request).index

    def build(csrf: str) -> HTMLResponse:
        user = current_user(request)
        return render(
            request,
            "topics.html",
            _csrf=csrf,
            index=index,
            topics=index.sorted(sort),
            sort=sort,
            onboarding=_library_empty(request, user),
        )

    return cached_page(request, build)


@router.get("/topics/{topic_id}", response_class=HTMLResponse)
def topic_page(
    request: Request, topic_id: Annotated[int, Path(ge=0, le=2**31)], p: Annotated[int, Query(ge=1, le=1000)] = 1
) -> Response:
    """One topic: its papers by day, trending papers in it, its nearest topics and its trend."""
    svc = services(request)
    index = views(request).index
    topic = index.by_id.get(topic_id)
    if topic is None:
        raise HTTPException(404, f"No topic {topic_id}: the topics are listed on /topics.")

    def build(csrf: str) -> HTMLResponse:
        ids = svc.store.topics.topic_papers(topic_id, limit=TOPIC_PAGE + 1, offset=(p - 1) * TOPIC_PAGE)
        papers = svc.store.activity.listed(ids[:TOPIC_PAGE])
        by_day: dict[str, list[dict[str, Any]]] = {}
        for paper in papers:
            by_day.setdefault(paper.get("announced") or "", []).append(paper)
        since = (index.latest - timedelta(days=29)).isoformat() if index.latest else None
        trending = svc.store.activity.listed(svc.store.topics.topic_trending(topic_id, since, 8))
        from paperboy.web.pages import voted_ids

        shown = papers + trending
        return render(
            request,
            "topic.html",
            _csrf=csrf,
            index=index,
            topic=topic,
            by_day=by_day,
            trending=trending,
            nearest=index.nearest(topic_id, 6),
            page=p,
            more=len(ids) > TOPIC_PAGE,
            voted=voted_ids(request, shown),
            chart=trend_chart(index, topic.weekly),
            onboarding=_library_empty(request, current_user(request)),
            following_topic=services(request).follows.is_following(current_user(request), "topic", str(topic_id)),
        )

    return cached_page(request, build)


# -- /map --------------------------------------------------------------------------------------------
@router.get("/map", response_class=HTMLResponse)
def map_page(
    request: Request,
    q: Annotated[str, Query(max_length=500)] = "",
    topic: Annotated[int | None, Query(ge=0, le=2**31)] = None,
    start: Annotated[int, Query(ge=0, le=1)] = 0,
) -> HTMLResponse:
    """Every paper as a point, coloured by topic; search results and the reader's saved papers marked."""
    user = current_user(request)
    data = views(request).map
    return render(
        request,
        "map.html",
        q=q,
        topic=topic,
        version=data.version,
        count=len(data.ids),
        onboarding=bool(start) or _library_empty(request, user),
        index=views(request).index,
    )


@router.post("/map/start", dependencies=[Depends(check_csrf)])
def start(
    request: Request,
    topic: Annotated[list[int] | None, Form()] = None,
    region: Annotated[list[str] | None, Form()] = None,
    user: dict = Depends(require_user),
) -> Response:
    """Save the most typical papers of the picked topics and regions; "for you" starts from them."""
    try:
        boxes = [parse_box(text) for text in (region or []) if text.strip()]
        start_from_picks(services(request).store, user["id"], topic or [], boxes)
    except BadPick as exc:
        raise HTTPException(400, str(exc)) from exc
    return redirect("/for-you")


# -- a feed per topic ---------------------------------------------------------------------------------
@router.get("/feeds/topics/{topic_id}.atom")
def topic_feed(request: Request, topic_id: Annotated[int, Path(ge=0, le=2**31)]) -> Response:
    """A topic's newest papers as Atom."""
    from paperboy.web.feeds import FEED_SIZE, atom_body, atom_response

    topic = views(request).index.by_id.get(topic_id)
    if topic is None:
        raise HTTPException(404, f"no topic {topic_id}")
    svc = services(request)

    def make() -> bytes:
        papers = svc.store.activity.listed(svc.store.topics.topic_papers(topic_id, limit=FEED_SIZE))
        return atom_body(
            request,
            f"topic-{topic_id}",
            f"paperboy: {topic.label}",
            f"Newest papers in the topic “{topic.label}”",
            f"/topics/{topic_id}",
            papers,
        )

    return atom_response(request, make)
