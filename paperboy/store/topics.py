"""Topics, the papers' places on the map and their key phrases: reads and writes.

Written by ``services/topics.py`` only (the background indexer or ``paperboy topics rebuild``).
A full build replaces everything in one transaction; an incremental update places new papers
(upserts) and recounts topic sizes in another.  Both bump the ``activity`` counter, so cached
pages (which show topics and key phrases) are made again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from paperboy.store import schema as t
from paperboy.store.activity import _bump
from paperboy.store.dialect import in_values, insert_for, insert_tuples
from paperboy.store.rows import as_dict

b, tp, pt, pk, kp = t.topic_builds.c, t.topics.c, t.paper_topics.c, t.paper_keywords.c, t.keyword_papers.c
p, v, s = t.papers.c, t.paper_vectors.c, t.paper_stats.c
_CHUNK = 5000
#: A placed paper: ``(paper_id, topic_id, vector seq, x, y, score)``.
Placement = tuple[str, int, int, float, float, float]


def _bump_topics(conn: Any) -> None:
    """Count one more change to topics (``TopicStore.mark``) and to what pages show (``activity``)."""
    _bump(conn)
    stmt = insert_for(conn)(t.counters).values(name="topics", value=1)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": t.counters.c.value + 1}))


class TopicStore:
    """Everything the store keeps about topics, the map and key phrases."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def mark(self) -> int:
        """Goes up with every change to topics, placements or key phrases: caches of them compare it."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.counters.c.value).where(t.counters.c.name == "topics")).scalar() or 0

    # -- builds --------------------------------------------------------------------------
    def latest_build(self) -> dict[str, Any] | None:
        """The newest finished build (without its vocabulary), or None."""
        cols = [c for c in t.topic_builds.c if c.name != "vocabulary"]
        with self.engine.connect() as conn:
            row = conn.execute(select(*cols).order_by(b.id.desc()).limit(1)).first()
        return as_dict(row) if row else None

    def vocabulary(self, build_id: int) -> bytes | None:
        """A build's compressed vocabulary (see ``indices/topic_model.py``)."""
        with self.engine.connect() as conn:
            return conn.execute(select(b.vocabulary).where(b.id == build_id)).scalar()

    def write_build(
        self,
        build: dict[str, Any],
        topics: list[dict[str, Any]],
        placements: Sequence[Placement],
        keywords: Sequence[tuple[str, int, list[str], list[str]]],
    ) -> int:
        """Replace every topic, placement and key phrase with a new build's, in one transaction.

        ``keywords``: ``(paper_id, paper seq, phrases as shown, their normalized keys)``.
        Returns the build's id.
        """
        with self.engine.begin() as conn:
            _bump_topics(conn)  # first: the write lock is taken before anything is read (see store/activity.py)
            build_id = conn.execute(insert(t.topic_builds).values(**build)).inserted_primary_key[0]
            for table in (t.topics, t.paper_topics, t.paper_keywords, t.keyword_papers):
                conn.execute(delete(table))
            if topics:
                conn.execute(insert(t.topics), [{**row, "build_id": build_id} for row in topics])
            self._insert_placements(conn, placements)
            self._insert_keywords(conn, keywords)
        return int(build_id)

    def write_update(
        self, placements: Sequence[Placement], keywords: Sequence[tuple[str, int, list[str], list[str]]]
    ) -> None:
        """Place papers (new ones, or ones whose vector changed) and store their key phrases; recount sizes."""
        if not placements and not keywords:
            return
        with self.engine.begin() as conn:
            _bump_topics(conn)
            ids = list({row[0] for row in placements} | {row[0] for row in keywords})
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                conn.execute(delete(t.paper_topics).where(in_values(conn, pt.paper_id, chunk)))
                if keywords:
                    conn.execute(delete(t.paper_keywords).where(in_values(conn, pk.paper_id, chunk)))
                    conn.execute(delete(t.keyword_papers).where(in_values(conn, kp.paper_id, chunk)))
            self._insert_placements(conn, placements)
            self._insert_keywords(conn, keywords)
            sizes = dict(conn.execute(select(pt.topic_id, func.count()).group_by(pt.topic_id)).all())
            for topic_id in conn.execute(select(tp.id)).scalars().all():
                conn.execute(update(t.topics).where(tp.id == topic_id).values(size=sizes.get(topic_id, 0)))

    @staticmethod
    def _insert_placements(conn: Any, placements: Sequence[Placement]) -> None:
        columns = ("paper_id", "topic_id", "seq", "x", "y", "score")
        for start in range(0, len(placements), 20000):
            insert_tuples(conn, t.paper_topics, columns, list(placements[start : start + 20000]))

    @staticmethod
    def _insert_keywords(conn: Any, keywords: Sequence[tuple[str, int, list[str], list[str]]]) -> None:
        rows = [{"paper_id": pid, "seq": seq, "keywords": shown} for pid, seq, shown, _ in keywords]
        for start in range(0, len(rows), 20000):
            conn.execute(insert(t.paper_keywords), rows[start : start + 20000])
        pairs = sorted({(key, pid) for pid, _, _, keys in keywords for key in keys})
        for start in range(0, len(pairs), 20000):
            insert_tuples(conn, t.keyword_papers, ("key", "paper_id"), pairs[start : start + 20000])

    def remove_missing(self) -> int:
        """Forget placements and key phrases of papers no longer in the store (re-keyed); returns how many."""
        gone = select(p.id).where(p.id == pt.paper_id).exists()
        phrases_gone = select(p.id).where(p.id == kp.paper_id).exists()
        with self.engine.begin() as conn:
            # key phrases have no foreign key: on PostgreSQL the cascade took the placement already
            found = set(conn.execute(select(pt.paper_id).where(~gone)).scalars())
            found |= set(conn.execute(select(kp.paper_id).distinct().where(~phrases_gone)).scalars())
            ids = sorted(found)
            if not ids:
                return 0
            _bump_topics(conn)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                for table, col in ((t.paper_topics, pt.paper_id), (t.paper_keywords, pk.paper_id)):
                    conn.execute(delete(table).where(in_values(conn, col, chunk)))
                conn.execute(delete(t.keyword_papers).where(in_values(conn, kp.paper_id, chunk)))
        return len(ids)

    # -- what needs doing ----------------------------------------------------------------
    def pending(self, model: str, limit: int = 100_000) -> list[tuple[str, int, bytes]]:
        """Vectors of ``model`` not placed yet, or newer than their placement: ``(paper_id, seq, bytes)``."""
        query = (
            select(v.paper_id, v.seq, v.vector)
            .select_from(t.paper_vectors.outerjoin(t.paper_topics, pt.paper_id == v.paper_id))
            .where(v.model == model, (pt.paper_id.is_(None)) | (pt.seq < v.seq))
            .order_by(v.seq)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(query)]

    def placed_count(self) -> int:
        """Papers with a place on the map."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.paper_topics)).scalar_one()

    def iter_all_vectors(self, model: str, batch: int = 20000) -> Iterator[list[tuple[str, int, bytes]]]:
        """Every vector of ``model`` whose paper is in the store, as pages of ``(paper_id, seq, bytes)``."""
        last = ""
        while True:
            query = (
                select(v.paper_id, v.seq, v.vector)
                .where(v.model == model, v.paper_id > last)
                .order_by(v.paper_id)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = [(r[0], r[1], r[2]) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def texts(self, ids: Iterable[str]) -> dict[str, tuple[int, str, str]]:
        """``{id: (seq, title, abstract)}`` of the papers among ``ids``."""
        ids = list(ids)
        out: dict[str, tuple[int, str, str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                query = select(p.id, p.seq, p.title, p.abstract).where(
                    in_values(conn, p.id, ids[start : start + _CHUNK])
                )
                out.update((r[0], (r[1], r[2] or "", r[3] or "")) for r in conn.execute(query))
        return out

    # -- reading topics ------------------------------------------------------------------
    def topics(self, with_centroids: bool = False) -> list[dict[str, Any]]:
        """Every topic, largest first."""
        cols = [c for c in t.topics.c if with_centroids or c.name != "centroid"]
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(select(*cols).order_by(tp.size.desc(), tp.id))]

    def placements(self) -> list[tuple[str, float, float, int]]:
        """``(paper_id, x, y, topic_id)`` of every placed paper still in the store, oldest first."""
        query = (
            select(pt.paper_id, pt.x, pt.y, pt.topic_id)
            .select_from(t.paper_topics.join(t.papers, p.id == pt.paper_id))
            .order_by(p.seq)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]

    def placements_of(self, ids: Iterable[str]) -> list[tuple[str, float, float, int]]:
        """``(paper_id, x, y, topic_id)`` of the placed papers among ``ids``."""
        ids = list(ids)
        out: list[tuple[str, float, float, int]] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                query = select(pt.paper_id, pt.x, pt.y, pt.topic_id).where(in_values(conn, pt.paper_id, chunk))
                out += [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]
        return out

    def placed_vectors(self, model: str) -> Iterator[list[tuple[str, float, float, int, bytes]]]:
        """Placed papers with their vectors, in pages: ``(paper_id, x, y, topic_id, vector bytes)``."""
        last = ""
        while True:
            query = (
                select(pt.paper_id, pt.x, pt.y, pt.topic_id, v.vector)
                .select_from(t.paper_topics.join(t.paper_vectors, v.paper_id == pt.paper_id))
                .where(v.model == model, pt.paper_id > last)
                .order_by(pt.paper_id)
                .limit(20000)
            )
            with self.engine.connect() as conn:
                rows = [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def day_counts(self) -> list[tuple[int, str, int]]:
        """``(topic_id, announcement day, papers)`` for every topic and day."""
        query = (
            select(pt.topic_id, p.announced, func.count())
            .select_from(t.paper_topics.join(t.papers, p.id == pt.paper_id))
            .where(p.announced.is_not(None))
            .group_by(pt.topic_id, p.announced)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(query)]

    def topic_papers(self, topic_id: int, limit: int = 50, offset: int = 0) -> list[str]:
        """A topic's papers, newest announcement first."""
        query = (
            select(pt.paper_id)
            .select_from(t.paper_topics.join(t.papers, p.id == pt.paper_id))
            .where(pt.topic_id == topic_id)
            .order_by(p.announced.desc(), p.seq.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def topic_trending(self, topic_id: int, since: str | None, limit: int = 10) -> list[str]:
        """A topic's papers announced since ``since`` by the stored hot score, then newest first."""
        query = (
            select(pt.paper_id)
            .select_from(
                t.paper_topics.join(t.papers, p.id == pt.paper_id).outerjoin(t.paper_stats, s.paper_id == pt.paper_id)
            )
            .where(pt.topic_id == topic_id)
            .order_by(func.coalesce(s.hot, -1e9).desc(), p.announced.desc(), p.seq.desc())
            .limit(limit)
        )
        if since:
            query = query.where(p.announced >= since)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def typical(self, topic_ids: Iterable[int], per_topic: int) -> list[str]:
        """The papers closest to each topic's centroid, ``per_topic`` of each."""
        out: list[str] = []
        with self.engine.connect() as conn:
            for topic_id in topic_ids:
                query = select(pt.paper_id).where(pt.topic_id == topic_id).order_by(pt.score.desc()).limit(per_topic)
                out += conn.execute(query).scalars().all()
        return out

    def in_box(self, x0: float, y0: float, x1: float, y1: float) -> list[tuple[str, int, float]]:
        """``(paper_id, topic_id, score)`` of the papers whose map points lie in the box, most typical first."""
        query = (
            select(pt.paper_id, pt.topic_id, pt.score)
            .select_from(t.paper_topics.join(t.papers, p.id == pt.paper_id))
            .where(pt.x >= min(x0, x1), pt.x <= max(x0, x1), pt.y >= min(y0, y1), pt.y <= max(y0, y1))
            .order_by(pt.score.desc())
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(query)]

    def topic_of(self, ids: Iterable[str]) -> dict[str, int]:
        """``{paper_id: topic_id}`` for the placed papers among ``ids``."""
        ids = list(ids)
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                query = select(pt.paper_id, pt.topic_id).where(
                    in_values(conn, pt.paper_id, ids[start : start + _CHUNK])
                )
                out.update((r[0], r[1]) for r in conn.execute(query))
        return out

    def keywords(self, ids: Iterable[str]) -> dict[str, list[str]]:
        """``{paper_id: key phrases}`` for the papers among ``ids`` that have them."""
        ids = list(ids)
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                query = select(pk.paper_id, pk.keywords).where(
                    in_values(conn, pk.paper_id, ids[start : start + _CHUNK])
                )
                out.update((r[0], list(r[1] or [])) for r in conn.execute(query))
        return out

    # -- the topic: filter -----------------------------------------------------------------
    def papers_in_topics(self, topic_ids: Iterable[int]) -> set[str]:
        """Every paper placed in one of the topics."""
        ids = list(topic_ids)
        if not ids:
            return set()
        with self.engine.connect() as conn:
            return set(conn.execute(select(pt.paper_id).where(pt.topic_id.in_(ids))).scalars())

    def papers_with_keys(self, keys: Iterable[str]) -> set[str]:
        """Every paper with one of these normalized key phrases."""
        keys = list(keys)
        if not keys:
            return set()
        with self.engine.connect() as conn:
            return set(conn.execute(select(kp.paper_id).where(kp.key.in_(keys))).scalars())
