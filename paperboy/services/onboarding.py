"""Starting "for you" from the map: a new reader picks topics or regions, and their most typical
papers are saved into a collection of the reader's library ("Picked on the map").

Why saves: the recommender learns from the library (services/recommend.py), so the picks need no
model of their own, show in the library where they can be looked at and removed, and fade like
any other save as the reader's own saves accumulate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from paperboy.store import Store

COLLECTION = "Picked on the map"
#: Papers saved per picked topic, and per picked region (at most two from any one topic in it).
PER_TOPIC = 5
PER_REGION = 6
PER_TOPIC_IN_REGION = 2
#: Most topics and regions one pick may hold.
MAX_PICKS = 20


class BadPick(ValueError):
    """A pick that names nothing on the map."""


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x0,y0,x1,y1"`` in map coordinates (each within [-1.5, 1.5]); ``BadPick`` otherwise."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise BadPick(f"a region is four numbers x0,y0,x1,y1, not {text[:60]!r}") from exc
    if len(values) != 4 or not all(-1.5 <= v <= 1.5 for v in values):
        raise BadPick(f"a region is four numbers x0,y0,x1,y1 between -1.5 and 1.5, not {text[:60]!r}")
    return values[0], values[1], values[2], values[3]


def picked_papers(store: Store, topics: Sequence[int], boxes: Sequence[tuple[float, float, float, float]]) -> list[str]:
    """The papers a pick stands for: each topic's most typical ones, and each region's (spread over its topics)."""
    known = {t["id"] for t in store.topics.topics()}
    chosen = [t for t in dict.fromkeys(topics) if t in known][:MAX_PICKS]
    papers = store.topics.typical(chosen, PER_TOPIC)
    for box in list(boxes)[:MAX_PICKS]:
        taken: dict[int, int] = {}
        found = 0
        for pid, topic_id, _ in store.topics.in_box(*box):
            if taken.get(topic_id, 0) >= PER_TOPIC_IN_REGION:
                continue
            taken[topic_id] = taken.get(topic_id, 0) + 1
            papers.append(pid)
            found += 1
            if found == PER_REGION:
                break
    return list(dict.fromkeys(papers))


def start_from_picks(
    store: Store, user_id: int, topics: Sequence[int], boxes: Sequence[tuple[float, float, float, float]]
) -> int:
    """Save the picked papers into the reader's "Picked on the map" collection; returns how many were saved."""
    papers = picked_papers(store, topics, boxes)
    if not papers:
        raise BadPick("pick at least one topic, or draw a region around some papers on the map")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    collection = store.library.ensure_collection(user_id, COLLECTION, now)
    store.library.add_items(collection, papers, now)
    return len(papers)
