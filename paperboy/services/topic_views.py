"""What pages, the API, the CLI and digests show of the topics: sizes, weekly trends, growth, rising
topics, nearest topics, and the map's points as one compact binary payload.

Growth compares a topic's **share** of the papers announced in the last 28 days with its share in
the 84 days before (the issue's "last 4 weeks vs the 12 before"): shares rather than counts, so a
quiet holiday week or a corpus that thins out at its end does not make every topic look like it
is shrinking.  ``(recent share / earlier share) - 1``, left out (None) when the topic had fewer
than ``MIN_BEFORE`` papers before, where the ratio would be noise.

Both views are computed once per change to the topics (``TopicStore.mark``, looked at every few
seconds) and kept in memory; a stale one keeps answering while its successor is made in a thread.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

import numpy as np

from paperboy.store import Store

log = logging.getLogger(__name__)
RECENT_DAYS = 28
BEFORE_DAYS = 84
#: Fewest papers in the earlier window for a growth figure to mean something.
MIN_BEFORE = 5
#: Fewest papers in the last 28 days for a topic to be called rising.
MIN_RECENT = 5
#: Weeks a sparkline shows.
SPARK_WEEKS = 26


@dataclass
class TopicSummary:
    """One topic as pages show it."""

    id: int
    label: str
    terms: list[str]
    size: int
    color: int
    x: float
    y: float
    #: Papers per ISO week, over ``TopicIndex.weeks``.
    weekly: list[int]
    recent: int
    before: int
    #: Share growth of the last 28 days against the 84 before (0.5 = half again as large); None: too few papers.
    growth: float | None
    centroid: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=np.float32))

    def as_json(self, weeks: list[date] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "label": self.label,
            "terms": self.terms,
            "size": self.size,
            "color": self.color,
            "center": [round(self.x, 4), round(self.y, 4)],
            "recentPapers": self.recent,
            "earlierPapers": self.before,
            "growth": None if self.growth is None else round(self.growth, 4),
        }
        if weeks is not None:
            out["weekly"] = [{"week": w.isoformat(), "papers": n} for w, n in zip(weeks, self.weekly, strict=True)]
        return out


@dataclass
class TopicIndex:
    """Every topic's summary at one moment."""

    mark: int
    topics: list[TopicSummary]
    #: Monday of each week the trends cover, oldest first.
    weeks: list[date]
    latest: date | None
    build: dict[str, Any] | None
    by_id: dict[int, TopicSummary] = field(default_factory=dict)
    _centroids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.by_id = {t.id: t for t in self.topics}
        if self.topics and all(len(t.centroid) for t in self.topics):
            self._centroids = np.stack([t.centroid for t in self.topics])

    def rising(self, n: int = 5) -> list[TopicSummary]:
        """The topics growing fastest (by share) with enough recent papers to say so."""
        grown = [t for t in self.topics if t.growth is not None and t.growth > 0 and t.recent >= MIN_RECENT]
        return sorted(grown, key=lambda t: (-(t.growth or 0.0), -t.recent, t.id))[:n]

    def nearest(self, topic_id: int, n: int = 6) -> list[tuple[TopicSummary, float]]:
        """The topics whose centroids are closest to this one's, with the cosine."""
        topic = self.by_id.get(topic_id)
        if topic is None or self._centroids is None:
            return []
        sims = self._centroids @ topic.centroid
        order = [i for i in np.argsort(-sims) if self.topics[i].id != topic_id][:n]
        return [(self.topics[i], float(sims[i])) for i in order]

    def sorted(self, by: str) -> list[TopicSummary]:
        """``size`` (largest first), ``growth`` (fastest growing first, unknown last) or ``label``."""
        if by == "growth":
            return sorted(self.topics, key=lambda t: (t.growth is None, -(t.growth or 0.0), -t.size))
        if by == "label":
            return sorted(self.topics, key=lambda t: t.label.lower())
        return sorted(self.topics, key=lambda t: (-t.size, t.id))


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def build_index(store: Store) -> TopicIndex:
    """Summaries of every topic from the store (one grouped read of papers per topic and day)."""
    mark = store.topics.mark()
    rows = store.topics.topics(with_centroids=True)
    counts = store.topics.day_counts()
    days: dict[date, int] = {}
    per_topic: dict[int, dict[date, int]] = {}
    for topic_id, day_text, n in counts:
        try:
            day = date.fromisoformat(str(day_text)[:10])
        except ValueError:
            continue
        per_topic.setdefault(topic_id, {})[day] = per_topic.get(topic_id, {}).get(day, 0) + n
        days[day] = days.get(day, 0) + n
    latest = max(days) if days else None
    weeks: list[date] = []
    if days:
        week, last = _monday(min(days)), _monday(max(days))
        while week <= last:
            weeks.append(week)
            week += timedelta(days=7)
    week_at = {w: i for i, w in enumerate(weeks)}
    recent_from = before_from = None
    if latest is not None:
        recent_from = latest - timedelta(days=RECENT_DAYS - 1)
        before_from = recent_from - timedelta(days=BEFORE_DAYS)
    total_recent = sum(n for d, n in days.items() if recent_from and d >= recent_from)
    total_before = sum(n for d, n in days.items() if before_from and recent_from and before_from <= d < recent_from)
    summaries = []
    for row in rows:
        mine = per_topic.get(row["id"], {})
        weekly = [0] * len(weeks)
        for day, n in mine.items():
            weekly[week_at[_monday(day)]] += n
        recent = sum(n for d, n in mine.items() if recent_from and d >= recent_from)
        before = sum(n for d, n in mine.items() if before_from and recent_from and before_from <= d < recent_from)
        growth = None
        if before >= MIN_BEFORE and total_recent and total_before:
            growth = (recent / total_recent) / (before / total_before) - 1.0
        summaries.append(
            TopicSummary(
                id=row["id"],
                label=row["label"],
                terms=[term for term, _ in row["terms"]],
                size=row["size"],
                color=row["color"],
                x=row["x"],
                y=row["y"],
                weekly=weekly,
                recent=recent,
                before=before,
                growth=growth,
                centroid=np.frombuffer(row["centroid"], dtype=np.float32),
            )
        )
    return TopicIndex(mark, summaries, weeks, latest, store.topics.latest_build())


# -- the map's payload ---------------------------------------------------------------------------------
@dataclass
class MapData:
    """Every placed, visible paper's point, as the browser draws it.

    ``points``: little-endian binary, three arrays one after the other: x and y as uint16 over
    ``bounds`` (0 .. 65535), then the topic's index in ``topics`` as uint16.  Six bytes a paper:
    118k papers are 0.7 MB before gzip.  Paper ``i`` of the payload is ``ids[i]``.
    """

    mark: int
    ids: list[str]
    index: dict[str, int]
    points: bytes
    gzipped: bytes
    bounds: tuple[float, float, float, float]
    topic_ids: list[int]

    @property
    def version(self) -> str:
        return f"{self.mark}-{len(self.ids)}"

    def indices(self, ids: list[str]) -> list[int]:
        """Payload positions of these papers (those on the map), in the order given."""
        return [self.index[pid] for pid in ids if pid in self.index]


def build_map(store: Store, hidden: set[str] | frozenset[str] = frozenset()) -> MapData:
    """The map's payload from the stored placements, hidden papers left out."""
    mark = store.topics.mark()
    rows = [r for r in store.topics.placements() if r[0] not in hidden]
    topic_ids = [t["id"] for t in store.topics.topics()]
    at = {topic_id: i for i, topic_id in enumerate(topic_ids)}
    ids = [r[0] for r in rows]
    if rows:
        xy = np.asarray([(r[1], r[2]) for r in rows], dtype=np.float64)
        lo, hi = xy.min(axis=0), xy.max(axis=0)
    else:
        xy = np.zeros((0, 2))
        lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    quantized = np.clip(np.round((xy - lo) / span * 65535), 0, 65535).astype("<u2")
    topics = np.asarray([at.get(r[3], 0) for r in rows], dtype="<u2")
    payload = quantized[:, 0].tobytes() + quantized[:, 1].tobytes() + topics.tobytes()
    return MapData(
        mark=mark,
        ids=ids,
        index={pid: i for i, pid in enumerate(ids)},
        points=payload,
        gzipped=gzip.compress(payload, 6),
        bounds=(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
        topic_ids=topic_ids,
    )


# -- keeping them fresh -------------------------------------------------------------------------------
T = TypeVar("T")


class Fresh(Generic[T]):
    """A value made from the store, remade when ``mark()`` moves (looked at every ``every`` s).

    The first value is made on the caller's thread; later ones in a thread of their own while the
    old value keeps answering, so no request waits for a rebuild.
    """

    def __init__(
        self, make: Callable[[], T], mark: Callable[[], Any], every: float = 2.0, background: bool = True
    ) -> None:
        self.make, self.mark, self.every, self.background = make, mark, every, background
        self.value: T | None = None
        self.value_mark: Any = None
        self.checked = -1e9
        self.lock = threading.Lock()
        self.building = False

    def get(self) -> T:
        now = time.monotonic()
        value = self.value
        if value is not None and now - self.checked < self.every:
            return value
        mark = self.mark()
        self.checked = now
        if value is not None and mark == self.value_mark:
            return value
        if value is not None and self.background:
            self._soon(mark)
            return value
        with self.lock:
            if self.value is None or self.value_mark != mark:
                self.value, self.value_mark = self.make(), mark
            assert self.value is not None
            return self.value

    def _soon(self, mark: Any) -> None:
        with self.lock:
            if self.building:
                return
            self.building = True

        def run() -> None:
            try:
                value = self.make()
                with self.lock:
                    self.value, self.value_mark = value, mark
            except Exception:  # noqa: BLE001 - the old value keeps answering; the next look retries
                log.exception("refreshing a topic view failed")
            finally:
                with self.lock:
                    self.building = False

        threading.Thread(target=run, name="paperboy-topic-view", daemon=True).start()


class TopicViews:
    """The topic summaries, the map and single papers' topics of one process, kept level with the store."""

    def __init__(self, store: Store, every: float = 2.0, background: bool = True) -> None:
        self.store = store
        self.papers = PaperTopics(store, every)
        self._index = Fresh(lambda: build_index(store), store.topics.mark, every, background)
        self._map = Fresh(
            lambda: build_map(store, store.activity.hidden_ids()),
            lambda: (store.topics.mark(), frozenset(store.activity.hidden_ids())),
            every,
            background,
        )

    @property
    def index(self) -> TopicIndex:
        return self._index.get()

    @property
    def map(self) -> MapData:
        return self._map.get()


class PaperTopics:
    """Key phrases and topic of single papers, for cards: looked up once, kept until the topics change."""

    SIZE = 50_000

    def __init__(self, store: Store, every: float = 2.0) -> None:
        self.store, self.every = store, every
        self._cache: OrderedDict[str, tuple[list[str], int | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._mark: Any = None
        self._checked = -1e9

    def _fresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.every:
            return
        mark = self.store.topics.mark()
        with self._lock:
            self._checked = now
            if mark != self._mark:
                self._mark = mark
                self._cache.clear()

    def get(self, ids: list[str]) -> dict[str, tuple[list[str], int | None]]:
        """``{id: (key phrases, topic id or None)}`` for each of ``ids``."""
        self._fresh()
        out: dict[str, tuple[list[str], int | None]] = {}
        missing = []
        with self._lock:
            for pid in ids:
                hit = self._cache.get(pid)
                if hit is None:
                    missing.append(pid)
                else:
                    out[pid] = hit
        if missing:
            phrases = self.store.topics.keywords(missing)
            topics = self.store.topics.topic_of(missing)
            with self._lock:
                for pid in missing:
                    out[pid] = self._cache[pid] = (phrases.get(pid, []), topics.get(pid))
                while len(self._cache) > self.SIZE:
                    self._cache.popitem(last=False)
        return out
