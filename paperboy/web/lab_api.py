"""The JSON API of a lab's layer: follows, groups and notes (a personal API token, as for writes).

A group's answers are for its members only: anybody else gets 404 ``{"error": …}``, as for a
group that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from paperboy.web.api import api_user, item_json, reader
from paperboy.web.context import services
from paperboy.web.errors import errors
from paperboy.web.security import RowId
from paperboy.web.shapes import PaperItem

router = APIRouter(prefix="/api", tags=["lab"])


class FollowRequest(BaseModel):
    kind: str = Field(..., max_length=16, description="author, category or search (topic once topics exist).")
    value: str = Field(..., max_length=500, description="An author's name, a category (cs.LG, or cs), a query.")


class PaperRef(BaseModel):
    id: str = Field(..., max_length=300)


class QueueRequest(BaseModel):
    id: str = Field(..., max_length=300)
    day: str = Field(..., max_length=20, description="YYYY-MM-DD")


class NoteRequest(BaseModel):
    text: str = Field(..., max_length=25_000, description="Markdown; empty deletes the note.")


class Followed(BaseModel):
    kind: str = Field(..., description="author, category, topic or search")
    value: str = Field(..., description="What is followed, as shown (a topic by its label).")


class FollowResult(Followed):
    new: bool = Field(..., description="False when it was followed already.")


class Removed(BaseModel):
    removed: bool


class FollowedPaper(PaperItem):
    why: list[str] = Field(..., description="Which of your follows brought this paper.")


class Following(BaseModel):
    follows: list[Followed]
    papers: list[FollowedPaper]


class Note(BaseModel):
    id: str
    text: str | None = Field(..., description="Markdown; null once an empty text deleted the note.")


class GroupSummary(BaseModel):
    id: int
    name: str
    role: str = Field(..., description="owner or member")
    members: int


class Member(BaseModel):
    name: str
    role: str


class CollectionSummary(BaseModel):
    id: int
    name: str
    count: int


class QueueDay(BaseModel):
    day: str
    papers: list[PaperItem]


class Group(BaseModel):
    id: int
    name: str
    description: str | None
    role: str
    members: list[Member]
    collections: list[CollectionSummary]
    queue: list[QueueDay]


class SavedPaper(PaperItem):
    savedBy: str | None = Field(None, description="The member who saved it.")
    savedAt: str | None = None


class SharedCollection(BaseModel):
    id: int
    name: str
    papers: list[SavedPaper]


class Saved(BaseModel):
    id: str
    new: bool


class Queued(Saved):
    day: str


class Act(BaseModel):
    name: str
    how: str = Field(..., description="saved or upvoted")


class WeekPaper(PaperItem):
    by: list[Act]


def _items(papers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item_json(p) for p in papers]


# -- follows ---------------------------------------------------------------------------------------
@router.get("/following", response_model=Following, responses=errors(401))
def following(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 50, user: dict = Depends(reader)) -> dict:
    """What you follow, and the new papers from it (each with ``why``)."""
    svc = services(request).follows
    found = svc.papers(user, limit=limit)
    return {
        "follows": [
            {"kind": r["kind"], "value": r["label"]}
            for r in request.app.state.services.store.follows.of_user(user["id"])
        ],
        "papers": [{**item_json(f.paper), "why": f.why} for f in found],
    }


@router.post("/follows", response_model=FollowResult, responses=errors(400, 401, 403, 404, 409))
def follow(request: Request, body: FollowRequest, user: dict = Depends(api_user)) -> dict:
    done = services(request).follows.follow(user, body.kind, body.value)
    return {"kind": done["kind"], "value": done["label"], "new": done["new"]}


@router.delete("/follows", response_model=Removed, responses=errors(400, 401, 403))
def unfollow(
    request: Request,
    kind: Annotated[str, Query(max_length=16)],
    value: Annotated[str, Query(max_length=500)],
    user: dict = Depends(api_user),
) -> dict:
    gone = services(request).follows.unfollow(user, kind, value)
    return {"removed": gone}


# -- notes -----------------------------------------------------------------------------------------
@router.get("/papers/{paper_id:path}/note", response_model=Note, responses=errors(401, 404))
def get_note(request: Request, paper_id: str, user: dict = Depends(reader)) -> dict:
    text = services(request).notes.get(user, paper_id)
    if text is None:
        raise HTTPException(404, "no note of yours on this paper")
    return {"id": paper_id, "text": text}


@router.put("/papers/{paper_id:path}/note", response_model=Note, responses=errors(400, 401, 403, 404, 409))
def put_note(request: Request, paper_id: str, body: NoteRequest, user: dict = Depends(api_user)) -> dict:
    text = services(request).notes.put(user, paper_id, body.text)
    return {"id": paper_id, "text": text}


# -- groups ----------------------------------------------------------------------------------------
@router.get("/groups", response_model=list[GroupSummary], responses=errors(401))
def my_groups(request: Request, user: dict = Depends(reader)) -> list[dict]:
    return [
        {"id": g["id"], "name": g["name"], "role": g["role"], "members": g["members"]}
        for g in services(request).groups.mine(user)
    ]


@router.get("/groups/{group_id}", response_model=Group, responses=errors(401, 404))
def group(request: Request, group_id: RowId, user: dict = Depends(reader)) -> dict:
    svc = services(request).groups
    found = svc.group(user, group_id)
    collections = svc.collections(user, group_id)
    members = svc.members(user, group_id)
    queue = svc.queue(user, group_id)
    return {
        "id": found["id"],
        "name": found["name"],
        "description": found["description"],
        "role": found["role"],
        "members": [{"name": m["username"], "role": m["role"]} for m in members],
        "collections": [{"id": c["id"], "name": c["name"], "count": c["count"]} for c in collections],
        "queue": [{"day": d["day"], "papers": _items(d["papers"])} for d in queue],
    }


@router.get(
    "/groups/{group_id}/collections/{collection_id}", response_model=SharedCollection, responses=errors(401, 404)
)
def shared_collection(request: Request, group_id: RowId, collection_id: RowId, user: dict = Depends(reader)) -> dict:
    svc = services(request).groups
    found = svc.collection(user, group_id, collection_id)
    papers = svc.collection_papers(user, group_id, collection_id)
    return {
        "id": found["id"],
        "name": found["name"],
        "papers": [{**item_json(p), "savedBy": p["saved_by"], "savedAt": p["saved_at"]} for p in papers],
    }


@router.post(
    "/groups/{group_id}/collections/{collection_id}/papers",
    response_model=Saved,
    responses=errors(400, 401, 403, 404, 409),
)
def save_shared(
    request: Request, group_id: RowId, collection_id: RowId, body: PaperRef, user: dict = Depends(api_user)
) -> dict:
    new = services(request).groups.save(user, group_id, collection_id, body.id)
    return {"id": body.id, "new": new}


@router.post("/groups/{group_id}/queue", response_model=Queued, responses=errors(400, 401, 403, 404, 409))
def queue_add(request: Request, group_id: RowId, body: QueueRequest, user: dict = Depends(api_user)) -> dict:
    new = services(request).groups.queue_add(user, group_id, body.day, body.id)
    return {"id": body.id, "day": body.day, "new": new}


@router.get("/groups/{group_id}/week", response_model=list[WeekPaper], responses=errors(401, 404))
def week(request: Request, group_id: RowId, user: dict = Depends(reader)) -> list[dict]:
    papers = services(request).groups.week(user, group_id)
    return [{**item_json(p), "by": [{"name": who, "how": how} for who, how in p["acts"]]} for p in papers]
