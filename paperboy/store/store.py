"""The data layer: every read and write of the store goes through ``Store``.

Higher layers never write SQL; a second backend (PostgreSQL) only needs another URL, because
everything here is SQLAlchemy Core and the backend-specific statements live in ``dialect``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.exc import OperationalError

from paperboy.config import Settings
from paperboy.sources.normalize import author_key
from paperboy.sources.record import Item
from paperboy.store import schema as t
from paperboy.store.activity import Activity
from paperboy.store.changes import allocate, current
from paperboy.store.db import make_engine, migrate
from paperboy.store.dialect import in_values, upsert
from paperboy.store.follows import Follows
from paperboy.store.groups import Groups
from paperboy.store.ingest import Ingestor, RunSummary
from paperboy.store.leases import Leases
from paperboy.store.library import Library
from paperboy.store.limits import Limits
from paperboy.store.notes import Notes
from paperboy.store.owners import owner_gone
from paperboy.store.people import People
from paperboy.store.rows import as_dict
from paperboy.store.secrets import Secrets
from paperboy.store.submissions import Submissions
from paperboy.store.subscriptions import Subscriptions
from paperboy.store.topics import TopicStore
from paperboy.store.webhooks import Webhooks


class SourceHashes:
    """``ids -> {id: record hash}`` for one source, as the store holds them now.

    Used by a forked reader process to skip records identical to what the source last gave; it
    opens its own engine on first use, since connections must not cross a fork.
    """

    def __init__(self, url: str, source: str) -> None:
        self.url = url
        self.source = source
        self._engine: Engine | None = None

    def __call__(self, ids: list[str]) -> dict[str, str]:
        if self._engine is None:
            self._engine = make_engine(self.url)
        c = t.paper_sources.c
        with self._engine.connect() as conn:
            query = select(c.paper_id, c.record_hash).where(
                c.source == self.source, in_values(conn, c.paper_id, ids), c.record_hash.is_not(None)
            )
            return {row[0]: row[1] for row in conn.execute(query)}


#: How long a run on another host may go without committing a batch before it counts as dead
#: (a harvest waits for arXiv's rate limit and back-off between pages: minutes at the most).
RUN_LEASE = timedelta(minutes=30)


#: Papers by id, built once: a search page asks for its ten papers on every request, and building
#: the statement each time cost a quarter of the lookup (0.56 against 0.41 ms, measured).
_PAPERS_BY_ID = select(t.papers).where(t.papers.c.id.in_(bindparam("ids", expanding=True)))


class Store:
    """The source of truth: papers, ingest runs and harvest state."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings
        #: Accounts: users, sessions, API tokens, password resets.
        self.people = People(engine)
        #: Votes, comments, submissions, hiding, and the feed listings built on them.
        self.activity = Activity(engine)
        #: Collections, "not interested" feedback, feed tokens and the recommender's reads.
        self.library = Library(engine)
        #: Email digests: subscribers, the send log, papers already sent.
        self.subscriptions = Subscriptions(engine)
        #: A lab's layer (issue 18): follows, groups, private notes, chat webhooks.
        self.follows = Follows(engine)
        self.groups = Groups(engine)
        self.notes = Notes(engine)
        self.webhooks = Webhooks(engine)
        #: Topics, the map and key phrases (services/topics.py).
        self.topics = TopicStore(engine)
        #: Attempts counted for rate limits (sign-ins, sign-ups, reset requests).
        self.limits = Limits(engine)
        #: Submissions by arXiv id, with the state of their fetch (the daily cap counts them).
        self.submissions = Submissions(engine)
        #: Work one process at a time may do for the whole store (the indexer's embedding).
        self.leases = Leases(engine)
        #: Values every process must share (the key that signs mailed links).
        self.secrets = Secrets(engine)

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Open (creating and migrating if needed) the store a settings object names."""
        # The home holds settings, index files and mail even when the store is elsewhere (PostgreSQL).
        Path(settings.home).mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.db_url)
        migrate(engine)
        return cls(engine, settings)

    def close(self) -> None:
        """Release connections (and let SQLite checkpoint its WAL)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------
    def ingest(
        self,
        source: str,
        target: str,
        items: Iterable[Item],
        progress: Callable[[RunSummary], None] | None = None,
        batch_size: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> RunSummary:
        """Import items from one source as one recorded run (``stop``: see ``Ingestor.run``)."""
        size = batch_size or (self.settings.batch_size if self.settings else 2000)
        before = self.max_seq()
        try:
            summary = Ingestor(self.engine, source, target, size).run(items, progress, stop)
        except Exception:  # a failed run's finished batches are in the store: count their votes too
            self.activity.refresh_source_votes(before)
            raise
        except BaseException:  # a hard Ctrl-C: the same, unless the database is not ours again yet
            with suppress(OperationalError):
                self.activity.refresh_source_votes(before)
            raise
        self.activity.refresh_source_votes(before)
        return summary

    def source_hashes(self, source: str) -> SourceHashes:
        """A lookup of the record hashes ``source`` last gave (for ``pipeline.in_reader_process``)."""
        return SourceHashes(self.engine.url.render_as_string(hide_password=False), source)

    # -- papers --------------------------------------------------------------------------
    def get_paper(self, paper_id: str) -> dict[str, Any] | None:
        """One paper by its stored id, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.papers).where(t.papers.c.id == paper_id)).first()
        return as_dict(row) if row else None

    def get_papers(self, ids: list[str]) -> list[dict[str, Any]]:
        """Papers by id, in the order asked (missing ids are skipped)."""
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 5000):
                for row in conn.execute(_PAPERS_BY_ID, {"ids": ids[start : start + 5000]}):
                    found[row.id] = as_dict(row)
        return [found[i] for i in ids if i in found]

    def iter_papers(self, after_seq: int = 0, batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Every paper changed after ``after_seq``, in change order, streamed in pages."""
        last = after_seq
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(t.papers).where(t.papers.c.seq > last).order_by(t.papers.c.seq).limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield as_dict(row)
            last = rows[-1].seq

    def iter_facets(
        self, after_seq: int = 0, batch: int = 20000
    ) -> Iterator[list[tuple[str, int, str | None, str | None, list[str]]]]:
        """What search filters look at, for papers changed after ``after_seq``, in change order:
        pages of ``(id, seq, announced, published, categories)``."""
        c = t.papers.c
        last = after_seq
        while True:
            query = (
                select(c.id, c.seq, c.announced, c.published, c.categories)
                .where(c.seq > last)
                .order_by(c.seq)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = [(r[0], r[1], r[2], r[3], r[4] or []) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1][1]

    def count_papers(self) -> int:
        """How many papers the store holds."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.papers)).scalar_one()

    def max_seq(self) -> int:
        """The newest change counter (0 for an empty store)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(t.papers.c.seq))).scalar() or 0

    def papers_by_author(self, name: str, limit: int = 200) -> list[dict[str, Any]]:
        """Papers of one author (any spelling with the same normalized key), newest first."""
        key = author_key(name)
        query = (
            select(t.papers)
            .join(t.paper_authors, t.paper_authors.c.paper_id == t.papers.c.id)
            .where(t.paper_authors.c.author_key == key)
            .order_by(t.papers.c.announced.desc(), t.papers.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    # -- vectors -------------------------------------------------------------------------
    def papers_to_embed(self, model: str, limit: int = 256) -> list[dict[str, Any]]:
        """Papers with no vector from ``model``, or whose text changed since it was made, oldest change first.

        Embedding is resumable for free: whatever was stored before a crash is not asked for again.
        """
        p, v = t.papers.c, t.paper_vectors.c
        query = (
            select(p.id, p.seq, p.title, p.abstract)
            .select_from(t.papers.outerjoin(t.paper_vectors, v.paper_id == p.id))
            .where((v.paper_id.is_(None)) | (v.model != model) | (v.seq < p.seq))
            .order_by(p.seq)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def iter_papers_to_embed(
        self, model: str, after_seq: int = 0, batch: int = 256
    ) -> Iterator[list[tuple[str, int, str, str]]]:
        """``papers_to_embed`` in one pass: pages of ``(id, seq, title, abstract)`` in seq order.

        Why: asking ``papers_to_embed`` again after every page rescans every paper embedded so far
        (its ``ORDER BY seq`` starts at the first), which grows with the store; this walks the papers'
        key once, from ``after_seq``.  Papers that change while it runs are met again on the next pass.
        """
        p, v = t.papers.c, t.paper_vectors.c
        last = after_seq
        while True:
            query = (
                select(p.id, p.seq, p.title, p.abstract)
                .select_from(t.papers.outerjoin(t.paper_vectors, v.paper_id == p.id))
                .where(p.seq > last, (v.paper_id.is_(None)) | (v.model != model) | (v.seq < p.seq))
                .order_by(p.seq)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1][1]

    def put_vectors(self, model: str, rows: list[tuple[str, int, bytes]]) -> None:
        """Store ``(paper_id, seq embedded, float32 bytes)`` vectors made by ``model``, in one transaction.

        Each row gets the next ``vectors`` change number (``store/changes.py``), so every index that
        follows ``iter_vectors`` sees it, whatever order concurrent writers commit in.
        """
        if not rows:
            return
        with self.engine.begin() as conn:
            first = allocate(conn, "vectors", len(rows))
            data = [
                {"paper_id": pid, "model": model, "seq": seq, "vector": vec, "change": first + i}
                for i, (pid, seq, vec) in enumerate(rows)
            ]
            upsert(conn, t.paper_vectors, data, ["paper_id"])

    def iter_vectors(self, model: str, after: int = 0, batch: int = 10000) -> Iterator[list[tuple[str, int, bytes]]]:
        """Stored vectors of ``model`` written after change number ``after``, as pages of
        ``(paper_id, change, bytes)`` in change order (a reader keeps the last change it saw)."""
        v = t.paper_vectors.c
        last = after
        while True:
            query = (
                select(v.paper_id, v.change, v.vector)
                .where(v.model == model, v.change > last)
                .order_by(v.change)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = [(r[0], r[1], r[2]) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1][1]

    def vector_change(self) -> int:
        """The last change number given to a vector (any model; 0 before the first)."""
        with self.engine.connect() as conn:
            return current(conn, "vectors")

    def vector_counts(self, model: str) -> tuple[int, int]:
        """(papers with a current vector from ``model``, papers in the store)."""
        p, v = t.papers.c, t.paper_vectors.c
        with self.engine.connect() as conn:
            done = conn.execute(
                select(func.count())
                .select_from(t.paper_vectors.join(t.papers, p.id == v.paper_id))
                .where(v.model == model, v.seq >= p.seq)
            ).scalar_one()
            total = conn.execute(select(func.count()).select_from(t.papers)).scalar_one()
        return done, total

    # -- runs and statistics -------------------------------------------------------------
    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest ingest runs, newest first.

        A run still marked ``running`` whose process is gone (``kill -9``, a power cut) is shown
        as ``died``: at once when it ran on this host, else once it has not committed a batch for
        ``RUN_LEASE``.  Its finished batches are in the store; running the import again completes it.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.ingest_runs).order_by(t.ingest_runs.c.id.desc()).limit(limit))
            runs = [as_dict(r) for r in rows]
        stale = (datetime.now(UTC) - RUN_LEASE).strftime("%Y-%m-%dT%H:%M:%SZ")
        for run in runs:
            if run["status"] == "running" and (
                owner_gone(run.get("owner")) or (run.get("heartbeat_at") or run["started_at"]) < stale
            ):
                who = f" ({run['owner']})" if run.get("owner") else ""
                run["status"] = "died"
                run["error"] = run["error"] or f"the importing process{who} ended without finishing; import again"
        return runs

    def rejections(self, run_id: int, limit: int | None = None) -> list[dict[str, Any]]:
        """The rejected records of one run, in the order they were met."""
        query = (
            select(t.rejections.c.place, t.rejections.c.reason)
            .where(t.rejections.c.run_id == run_id)
            .order_by(t.rejections.c.id)
        )
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def stats(self, days: int = 14, top: int = 15) -> dict[str, Any]:
        """What the store holds: totals, papers per announcement day, category and source."""
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.papers)).scalar_one()
            day = t.papers.c.announced
            by_day = conn.execute(
                select(day, func.count()).where(day.is_not(None)).group_by(day).order_by(day.desc()).limit(days)
            ).all()
            n_days, first_day, last_day = conn.execute(
                select(func.count(func.distinct(day)), func.min(day), func.max(day))
            ).one()
            cat = t.paper_categories.c.category
            primary = t.paper_categories.c.is_primary
            by_category = conn.execute(
                select(cat, func.count()).where(primary).group_by(cat).order_by(func.count().desc()).limit(top)
            ).all()
            src = t.paper_sources.c.source
            by_source = conn.execute(select(src, func.count()).group_by(src).order_by(func.count().desc())).all()
            authors = conn.execute(select(func.count(func.distinct(t.paper_authors.c.author_key)))).scalar_one()
        return {
            "papers": total,
            "authors": authors,
            "days": n_days,
            "first_day": first_day,
            "last_day": last_day,
            "by_day": [tuple(r) for r in by_day],
            "by_category": [tuple(r) for r in by_category],
            "by_source": [tuple(r) for r in by_source],
            "runs": self.runs(10),
        }

    # -- harvest state -------------------------------------------------------------------
    def get_state(self, key: str) -> dict[str, Any] | None:
        """A harvester's saved position (written atomically with its records), or ``None``."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.harvest_state.c.state).where(t.harvest_state.c.key == key)).scalar()
