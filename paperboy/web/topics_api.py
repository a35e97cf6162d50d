"""The JSON API of topics, trends and the map.

``/api/topics`` and ``/api/topics/{id}`` give topics with their weekly trend and growth;
``/api/map`` the map's description (its version, bounds and topic labels) and
``/api/map/points.bin`` every point in six bytes (``services/topic_views.py``: ``MapData``);
``/api/map/papers`` the same points as JSON, paged, for scripts.  The map's small lookups (a
point's paper, a search's points, the reader's saved papers) name points by their place in the
payload, checked against the version the page was given.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from paperboy.services.topic_views import MapData, TopicIndex
from paperboy.web.api import item_json
from paperboy.web.errors import errors
from paperboy.web.render import current_user, services

router = APIRouter(prefix="/api", tags=["topics"])


#: The points' answer in the OpenAPI document: bytes, while its errors are JSON like every route's.
POINTS = {
    "description": "Six bytes a point (uint16 x, y, topic), little-endian.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


#: Most search results a map search marks.
MAP_SEARCH = 300


def _views(request: Request) -> Any:
    return services(request).topics


def _topic_or_404(index: TopicIndex, topic_id: int) -> Any:
    topic = index.by_id.get(topic_id)
    if topic is None:
        raise HTTPException(404, f"no topic {topic_id}")
    return topic


@router.get("/topics", responses=errors())
def topics(
    request: Request,
    sort: Literal["size", "growth", "label"] = "size",
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    weekly: bool = False,
) -> dict[str, Any]:
    """Every topic: label, distinctive phrases, size, colour and map centre, papers in the last 28 days
    and in the 84 before, and the growth of its share; ``weekly=true`` adds papers per ISO week."""
    index: TopicIndex = _views(request).index
    return {
        "build": _build(index),
        "latestDay": index.latest.isoformat() if index.latest else None,
        "topics": [t.as_json(index.weeks if weekly else None) for t in index.sorted(sort)[:limit]],
    }


def _build(index: TopicIndex) -> dict[str, Any] | None:
    build = index.build
    if build is None:
        return None
    params = build.get("params") or {}
    return {
        "id": build["id"],
        "finishedAt": build["finished_at"],
        "papers": build["papers"],
        "topics": build["topics"],
        "clustering": params.get("clustering"),
        "layout": params.get("layout"),
    }


@router.get("/topics/rising", responses=errors())
def rising(request: Request, limit: Annotated[int, Query(ge=1, le=50)] = 5) -> list[dict[str, Any]]:
    """The topics whose share of new papers grew most (last 28 days against the 84 before)."""
    index: TopicIndex = _views(request).index
    return [t.as_json() for t in index.rising(limit)]


@router.get("/topics/{topic_id}", responses=errors(404))
def topic(request: Request, topic_id: Annotated[int, Path(ge=0, le=2**31)]) -> dict[str, Any]:
    """One topic with its weekly trend, its nearest topics and its trending papers (daily-papers shape)."""
    index: TopicIndex = _views(request).index
    summary = _topic_or_404(index, topic_id)
    svc = services(request)
    from datetime import timedelta

    since = (index.latest - timedelta(days=29)).isoformat() if index.latest else None
    trending = svc.store.activity.listed(svc.store.topics.topic_trending(topic_id, since, 10))
    return summary.as_json(index.weeks) | {
        "nearest": [{"id": t.id, "label": t.label, "similarity": round(s, 4)} for t, s in index.nearest(topic_id)],
        "trending": [item_json(p) for p in trending],
    }


@router.get("/topics/{topic_id}/papers", responses=errors(404))
def topic_papers(
    request: Request,
    topic_id: Annotated[int, Path(ge=0, le=2**31)],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    p: Annotated[int, Query(ge=0, le=100_000, description="Page number, from 0.")] = 0,
) -> list[dict[str, Any]]:
    """A topic's papers, newest first, in the daily-papers shape."""
    _topic_or_404(_views(request).index, topic_id)
    svc = services(request)
    ids = svc.store.topics.topic_papers(topic_id, limit=limit, offset=p * limit)
    return [item_json(paper) for paper in svc.store.activity.listed(ids)]


# -- the map ---------------------------------------------------------------------------------------
def _map(request: Request, version: str | None = None) -> MapData:
    data: MapData = _views(request).map
    if version is not None and version != data.version:
        raise HTTPException(409, f"the map changed (now version {data.version}): reload it")
    return data


@router.get("/map", responses=errors())
def map_meta(request: Request) -> dict[str, Any]:
    """What the map needs besides its points: version, number of points, bounds, and the topics' labels."""
    data = _map(request)
    index: TopicIndex = _views(request).index
    at = {topic_id: i for i, topic_id in enumerate(data.topic_ids)}
    return {
        "version": data.version,
        "count": len(data.ids),
        "bounds": data.bounds,
        "points": f"/api/map/points.bin?v={data.version}",
        "format": "uint16 x[count], uint16 y[count] over bounds (0..65535), uint16 topic[count] (index in topics)",
        "topics": [
            {
                "index": at[t.id],
                "id": t.id,
                "label": t.label,
                "short": ", ".join(t.terms[:2]),
                "size": t.size,
                "color": t.color,
                "x": t.x,
                "y": t.y,
                "growth": None if t.growth is None else round(t.growth, 3),
            }
            for t in index.topics
            if t.id in at
        ],
    }


@router.get("/map/points.bin", responses={200: POINTS, **errors()})
def map_points(request: Request, v: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """Every point, six bytes each (see ``/api/map``'s ``format``); gzip when the browser takes it."""
    data = _map(request)
    headers = {"X-Map-Version": data.version, "Vary": "Accept-Encoding"}
    # a versioned address never changes: cached for good; the bare one is checked each time
    headers["Cache-Control"] = "public, max-age=31536000, immutable" if v == data.version else "no-cache"
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(data.gzipped, media_type="application/octet-stream", headers=headers)
    return Response(data.points, media_type="application/octet-stream", headers=headers)


@router.get("/map/points/{i}", responses=errors(404, 409))
def map_point(
    request: Request, i: Annotated[int, Path(ge=0, le=10**8)], v: Annotated[str | None, Query(max_length=40)] = None
) -> dict[str, Any]:
    """The paper at point ``i``: id, title, topic (what the map shows on hover)."""
    data = _map(request, v)
    if i >= len(data.ids):
        raise HTTPException(404, f"no point {i}")
    pid = data.ids[i]
    paper = services(request).store.get_paper(pid)
    if paper is None:
        raise HTTPException(404, f"no point {i}")
    phrases, topic_id = _views(request).papers.get([pid])[pid]
    topic_summary = _views(request).index.by_id.get(topic_id)
    return {
        "i": i,
        "id": pid,
        "title": paper["title"],
        "announced": paper.get("announced"),
        "topic": None if topic_summary is None else {"id": topic_summary.id, "label": topic_summary.label},
        "keywords": phrases,
        "url": "/papers/" + pid,
    }


@router.get("/map/search", responses=errors(409))
def map_search(
    request: Request,
    q: Annotated[str, Query(max_length=2000)] = "",
    v: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """The points of a search's best results (hybrid, up to 300), best first, with the first ten listed."""
    data = _map(request, v)
    if not q.strip():
        return {"points": [], "results": [], "warnings": []}
    svc = services(request)
    found = svc.search.search(q, "hybrid", MAP_SEARCH)
    ids = [r.id for r in found.results if r.id in data.index]
    return {
        "points": data.indices(ids),
        "results": [
            {"i": data.index[r.id], "id": r.id, "title": r.paper["title"]}
            for r in found.results[:10]
            if r.id in data.index
        ],
        "warnings": found.warnings,
    }


@router.get("/map/mine", responses=errors(401, 409))
def map_mine(request: Request, v: Annotated[str | None, Query(max_length=40)] = None) -> dict[str, Any]:
    """The points of the signed-in reader's saved papers (401 for visitors)."""
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "sign in to see your papers on the map")
    data = _map(request, v)
    saved = [pid for pid, _, how in services(request).store.library.positives(user["id"]) if how == "save"]
    response = {"points": data.indices(saved)}
    return response


@router.get("/map/papers", responses=errors())
def map_papers(
    request: Request,
    offset: Annotated[int, Query(ge=0, le=10**8)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """The map's coordinates as JSON, paged: ``{"id", "x", "y", "topic"}`` per paper."""
    data = _map(request)
    window = data.ids[offset : offset + limit]
    placed = {pid: (x, y, t) for pid, x, y, t in services(request).store.topics.placements_of(window)}
    return {
        "version": data.version,
        "total": len(data.ids),
        "offset": offset,
        "papers": [
            {"id": pid, "x": round(placed[pid][0], 5), "y": round(placed[pid][1], 5), "topic": placed[pid][2]}
            for pid in window
            if pid in placed
        ],
    }
