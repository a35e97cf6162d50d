"""The recommendation API: a signed-in user's "for you" papers, and stateless recommendations.

``POST /api/recommendations`` follows Semantic Scholar's recommendations API: positive and
negative paper ids in, ``{"recommendedPapers": [...]}`` out, no account needed (it reads only).
Items have the shape of ``/api/daily_papers`` plus ``score`` and ``why`` (the given papers each
one is closest to, and the words it shares with them).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from paperboy.services.recommend import MAX_LIMIT, BadRequest, Recommendations, Recommender
from paperboy.web.api import PaperItem, api_user, item_json
from paperboy.web.errors import errors
from paperboy.web.render import services

router = APIRouter(prefix="/api", tags=["recommendations"])


class ClosestPaper(BaseModel):
    id: str
    title: str
    similarity: float = Field(..., description="Cosine similarity (embeddings, else TF-IDF).")


class WhyItem(BaseModel):
    closestPapers: list[ClosestPaper] = Field(..., description="The given (or saved) papers it is most like.")
    terms: list[str] = Field(..., description="Words that weigh most in both it and those papers (TF-IDF).")


class RecommendedItem(PaperItem):
    score: float
    why: WhyItem


class Recommended(BaseModel):
    recommendedPapers: list[RecommendedItem]
    unknownPaperIds: list[str] = Field([], description="Ids asked for that are not in this store.")
    since: str | None = Field(None, description="First announcement day of the candidates (null: all papers).")
    until: str | None = None
    candidates: int = Field(0, description="How many papers were ranked.")


class RecommendationRequest(BaseModel):
    positivePaperIds: list[Annotated[str, Field(max_length=300)]] = Field(..., min_length=1, max_length=500)
    negativePaperIds: list[Annotated[str, Field(max_length=300)]] = Field([], max_length=500)
    limit: int = Field(100, ge=1, le=MAX_LIMIT)
    since: str | None = Field(
        None, max_length=40, description="YYYY-MM-DD, or 'all'; default: the last recs_window_days (7) days."
    )


def _recommender(request: Request) -> Recommender:
    return services(request).recommender


def _answer(request: Request, found: Recommendations) -> dict[str, Any]:
    found = _recommender(request).listed(found)
    items = [
        item_json(r.paper) | {"score": r.score, "why": r.why.as_json()} for r in found.results if r.paper is not None
    ]
    return {
        "recommendedPapers": items,
        "unknownPaperIds": found.unknown,
        "since": found.first,
        "until": found.last,
        "candidates": found.candidates,
    }


@router.post("/recommendations", response_model=Recommended, responses=errors(400, 404))
def recommendations(request: Request, body: RecommendationRequest) -> dict[str, Any]:
    """Recent papers like the positive ones and unlike the negative ones (stateless, no account needed)."""
    try:
        found = _recommender(request).recommend(
            body.positivePaperIds, body.negativePaperIds, limit=body.limit, since=body.since
        )
    except BadRequest as exc:
        raise HTTPException(400, str(exc)) from exc
    if not found.positives:
        raise HTTPException(404, f"none of positivePaperIds is in this store: {', '.join(found.unknown[:10])}")
    return _answer(request, found)


@router.get("/for-you", response_model=Recommended, responses=errors(400, 401, 403))
def for_you(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    since: Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD or 'all'.")] = None,
    includeSeen: Annotated[bool, Query(description="Also papers you saved, voted for or got by mail.")] = False,  # noqa: N803
) -> dict[str, Any]:
    """Your "for you" papers, from your saves, votes and "not interested" marks (API token needed)."""
    user = api_user(request)
    try:
        found = _recommender(request).for_user(user["id"], limit=limit, since=since, include_seen=includeSeen)
    except BadRequest as exc:
        raise HTTPException(400, str(exc)) from exc
    return _answer(request, found)
