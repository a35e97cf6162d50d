"""Libraries in the store: collections of saved papers, "not interested" feedback, private feed
tokens, and the reads the recommender is built on (its positives, negatives, candidates, vectors
and texts).

SQLite runs with foreign keys off (see db.py), so deleting a collection deletes its items here
rather than relying on ``ON DELETE CASCADE``.  Reads join ``papers`` so that rows left behind by
a re-keyed or removed paper are simply not seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy.store import schema as t
from paperboy.store.dialect import in_values, insert_ignore, lock, upsert
from paperboy.store.rows import as_dict

p, c, ci, fb = t.papers.c, t.collections.c, t.collection_items.c, t.paper_feedback.c
NOT_INTERESTED = "not_interested"


class DuplicateName(ValueError):
    """The user already has a collection of that name."""


def _visible() -> Any:
    return func.coalesce(t.paper_stats.c.hidden, False) == False  # noqa: E712 - SQL, not Python


class Library:
    """Reads and writes of collections, feedback and feed tokens."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- collections -----------------------------------------------------------------------
    def collections(self, user_id: int) -> list[dict[str, Any]]:
        """A user's collections, oldest first, each with how many papers it holds and when it last grew."""
        count = select(func.count()).where(ci.collection_id == c.id).scalar_subquery()
        latest = select(func.max(ci.added_at)).where(ci.collection_id == c.id).scalar_subquery()
        query = (
            select(c.id, c.name, c.created_at, count.label("count"), latest.label("last_added"))
            .where(c.user_id == user_id)
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def collection(self, user_id: int, collection_id: int) -> dict[str, Any] | None:
        """One of the user's collections (None when it is not theirs)."""
        query = select(c.id, c.user_id, c.name, c.created_at).where(c.id == collection_id, c.user_id == user_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return as_dict(row) if row else None

    def collection_by_name(self, user_id: int, name: str) -> dict[str, Any] | None:
        """The user's collection of that name, in any case."""
        query = select(c.id, c.user_id, c.name, c.created_at).where(c.user_id == user_id, c.name_key == name.lower())
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return as_dict(row) if row else None

    def create_collection(self, user_id: int, name: str, now: str) -> int:
        """A new collection's id; ``DuplicateName`` when the user has one of that name."""
        row = {"user_id": user_id, "name": name, "name_key": name.lower(), "created_at": now}
        try:
            with self.engine.begin() as conn:
                return conn.execute(insert(t.collections).values(row)).inserted_primary_key[0]
        except IntegrityError as exc:
            raise DuplicateName(name) from exc

    def ensure_collection(self, user_id: int, name: str, now: str) -> int:
        """The id of the user's collection of that name, made if missing (safe under concurrent calls)."""
        row = {"user_id": user_id, "name": name, "name_key": name.lower(), "created_at": now}
        with self.engine.begin() as conn:
            insert_ignore(conn, t.collections, [row], ["user_id", "name_key"])
            return conn.execute(select(c.id).where(c.user_id == user_id, c.name_key == name.lower())).scalar_one()

    def rename_collection(self, collection_id: int, name: str) -> None:
        """Rename; ``DuplicateName`` when the user already has that name."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(t.collections).where(c.id == collection_id).values(name=name, name_key=name.lower())
                )
        except IntegrityError as exc:
            raise DuplicateName(name) from exc

    def delete_collection(self, collection_id: int) -> None:
        """Remove a collection and its items (the papers themselves stay)."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.collection_items).where(ci.collection_id == collection_id))
            conn.execute(delete(t.collections).where(c.id == collection_id))

    def add_items(self, collection_id: int, paper_ids: Iterable[str], now: str) -> int:
        """Save papers into a collection; returns how many were not in it yet."""
        ids = list(dict.fromkeys(paper_ids))
        if not ids:
            return 0
        with self.engine.begin() as conn:
            lock(conn, f"collection:{collection_id}")  # before and after count this transaction's saves only
            before = conn.execute(select(func.count()).where(ci.collection_id == collection_id)).scalar_one()
            rows = [{"collection_id": collection_id, "paper_id": pid, "added_at": now} for pid in ids]
            for start in range(0, len(rows), 5000):
                insert_ignore(conn, t.collection_items, rows[start : start + 5000], ["collection_id", "paper_id"])
            after = conn.execute(select(func.count()).where(ci.collection_id == collection_id)).scalar_one()
        return after - before

    def remove_items(self, collection_id: int, paper_ids: Iterable[str]) -> int:
        """Take papers out of a collection; returns how many were in it."""
        ids = list(paper_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(t.collection_items).where(ci.collection_id == collection_id, ci.paper_id.in_(ids))
            )
            return gone.rowcount

    def unsave(self, user_id: int, paper_id: str) -> int:
        """Take a paper out of every collection of the user; returns from how many."""
        mine = select(c.id).where(c.user_id == user_id)
        with self.engine.begin() as conn:
            gone = conn.execute(delete(t.collection_items).where(ci.paper_id == paper_id, ci.collection_id.in_(mine)))
            return gone.rowcount

    def collection_paper_ids(self, collection_id: int, limit: int = 1000, offset: int = 0) -> list[str]:
        """Paper ids of a collection, latest saved first (papers no longer in the store left out)."""
        query = (
            select(ci.paper_id)
            .join(t.papers, p.id == ci.paper_id)
            .where(ci.collection_id == collection_id)
            .order_by(ci.added_at.desc(), ci.paper_id)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def collections_holding(self, user_id: int, paper_id: str) -> set[int]:
        """Which of the user's collections hold the paper."""
        query = (
            select(ci.collection_id)
            .join(t.collections, c.id == ci.collection_id)
            .where(c.user_id == user_id, ci.paper_id == paper_id)
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def saved_ids(self, user_id: int, ids: Iterable[str] | None = None) -> set[str]:
        """Papers the user saved in any collection (only among ``ids`` when given)."""
        query = select(ci.paper_id).join(t.collections, c.id == ci.collection_id).where(c.user_id == user_id)
        return self._ids(query, ci.paper_id, ids)

    # -- feedback --------------------------------------------------------------------------
    def set_feedback(self, user_id: int, paper_id: str, kind: str, now: str) -> None:
        """Record (or replace) the user's feedback on a paper."""
        row = {"user_id": user_id, "paper_id": paper_id, "kind": kind, "created_at": now}
        with self.engine.begin() as conn:
            upsert(conn, t.paper_feedback, [row], ["user_id", "paper_id"])

    def clear_feedback(self, user_id: int, paper_id: str) -> bool:
        """Withdraw the user's feedback on a paper; False when there was none."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(t.paper_feedback).where(fb.user_id == user_id, fb.paper_id == paper_id))
            return gone.rowcount > 0

    def feedback_ids(self, user_id: int, kind: str = NOT_INTERESTED, ids: Iterable[str] | None = None) -> set[str]:
        """Papers the user gave this feedback on (only among ``ids`` when given)."""
        query = select(fb.paper_id).where(fb.user_id == user_id, fb.kind == kind)
        return self._ids(query, fb.paper_id, ids)

    def feedback(self, user_id: int, kind: str = NOT_INTERESTED, limit: int = 200) -> list[dict[str, Any]]:
        """The user's feedback of one kind, latest first: ``{paper_id, created_at}``."""
        query = (
            select(fb.paper_id, fb.created_at)
            .join(t.papers, p.id == fb.paper_id)
            .where(fb.user_id == user_id, fb.kind == kind)
            .order_by(fb.created_at.desc(), fb.paper_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    # -- what the recommender learns from ---------------------------------------------------
    def positives(self, user_id: int) -> list[tuple[str, str, str]]:
        """``(paper_id, when, how)`` for every paper the user saved (``save``) or upvoted (``vote``).

        A paper both saved and voted for appears once, as a save, at its latest save.
        """
        saves = (
            select(ci.paper_id, func.max(ci.added_at))
            .join(t.collections, c.id == ci.collection_id)
            .join(t.papers, p.id == ci.paper_id)
            .where(c.user_id == user_id)
            .group_by(ci.paper_id)
        )
        v = t.votes.c
        votes = select(v.paper_id, v.created_at).join(t.papers, p.id == v.paper_id).where(v.user_id == user_id)
        with self.engine.connect() as conn:
            found = {pid: (pid, when, "save") for pid, when in conn.execute(saves)}
            for pid, when in conn.execute(votes):
                found.setdefault(pid, (pid, when, "vote"))
        return sorted(found.values(), key=lambda row: (row[1], row[0]), reverse=True)

    def negatives(self, user_id: int) -> list[tuple[str, str]]:
        """``(paper_id, when)`` of the papers the user marked "not interested"."""
        return [(row["paper_id"], row["created_at"]) for row in self.feedback(user_id, NOT_INTERESTED, 10_000)]

    def sent_ids(self, user_id: int) -> set[str]:
        """Papers already mailed to the user in an email digest (subscriptions are by address)."""
        d, s, u = t.digest_papers.c, t.subscribers.c, t.users.c
        query = (
            select(d.paper_id)
            .join(t.subscribers, s.id == d.subscriber_id)
            .join(t.users, u.email == s.email)
            .where(u.id == user_id)
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def candidate_ids(self, first: str | None, last: str | None) -> list[str]:
        """Visible papers announced on days ``first``..``last`` (every paper when both are None), newest first."""
        query = (
            select(p.id)
            .select_from(t.papers)
            .outerjoin(t.paper_stats, t.paper_stats.c.paper_id == p.id)
            .where(_visible())
            .order_by(p.announced.desc(), p.seq.desc())
        )
        if first is not None:
            query = query.where(p.announced >= first)
        if last is not None:
            query = query.where(p.announced <= last)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` the store holds."""
        return self._ids(select(p.id), p.id, ids)

    def texts(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``{id: (title, abstract)}`` of the papers among ``ids``."""
        ids = list(ids)
        out: dict[str, tuple[str, str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 5000):
                query = select(p.id, p.title, p.abstract).where(in_values(conn, p.id, ids[start : start + 5000]))
                out.update((pid, (title, abstract or "")) for pid, title, abstract in conn.execute(query))
        return out

    def iter_texts(self, batch: int = 20000) -> Iterator[list[tuple[str, str, str]]]:
        """Every paper's ``(id, title, abstract)``, in pages, in change order."""
        last = 0
        while True:
            query = select(p.seq, p.id, p.title, p.abstract).where(p.seq > last).order_by(p.seq).limit(batch)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            yield [(pid, title, abstract or "") for _, pid, title, abstract in rows]
            last = rows[-1][0]

    def vectors(self, model: str, ids: Iterable[str]) -> dict[str, bytes]:
        """Stored vectors of ``model`` for the papers among ``ids`` (float32 bytes).

        Looked up by paper id alone (a paper has one vector row) and the model compared here: with
        the model in the WHERE clause SQLite walks the (model, seq) index, every vector of the model.
        """
        ids = list(ids)
        v = t.paper_vectors.c
        out: dict[str, bytes] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 5000):
                query = select(v.paper_id, v.model, v.vector).where(
                    in_values(conn, v.paper_id, ids[start : start + 5000])
                )
                out.update((pid, vec) for pid, made_by, vec in conn.execute(query) if made_by == model)
        return out

    def vector_models(self) -> dict[str, int]:
        """How many vectors each model has in the store."""
        v = t.paper_vectors.c
        with self.engine.connect() as conn:
            return {model: n for model, n in conn.execute(select(v.model, func.count()).group_by(v.model))}

    def vector_mark(self, model: str) -> tuple[int, int]:
        """(vectors of ``model``, the newest change number among them): changes whenever vectors are
        added or redone, in whatever order they were committed."""
        v = t.paper_vectors.c
        with self.engine.connect() as conn:
            n, top = conn.execute(select(func.count(), func.max(v.change)).where(v.model == model)).one()
        return int(n or 0), int(top or 0)

    def author_libraries(self, min_papers: int = 5) -> dict[str, list[str]]:
        """``{author key: [paper ids]}`` of every author with at least ``min_papers`` papers.

        Why: an author's papers are a real "library" of related interests, the interaction set
        ``paperboy eval-recs`` is measured on (bench/make_author_interactions.py).
        """
        a = t.paper_authors.c
        prolific = (
            select(a.author_key)
            .where(a.author_key != "")
            .group_by(a.author_key)
            .having(func.count(func.distinct(a.paper_id)) >= min_papers)
        )
        query = (
            select(a.author_key, a.paper_id)
            .distinct()
            .where(a.author_key.in_(prolific))
            .order_by(a.author_key, a.paper_id)
        )
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for key, pid in conn.execute(query):
                out.setdefault(key, []).append(pid)
        return out

    # -- matching imported entries -----------------------------------------------------------
    def ids_by_doi(self, dois: Iterable[str]) -> dict[str, str]:
        """``{doi: paper id}`` for stored papers with these (normalized, lower-case) DOIs; stored DOIs
        keep their case, so they are compared in lower case (``ix_papers_doi_key``)."""
        return self._lookup(func.lower(p.doi), dois)

    def ids_by_title_key(self, keys: Iterable[str]) -> dict[str, str]:
        """``{normalized title: paper id}`` for stored papers with these title keys (the newest when several)."""
        return self._lookup(p.title_key, keys)

    def _lookup(self, column: Any, values: Iterable[str]) -> dict[str, str]:
        values = list(dict.fromkeys(v for v in values if v))
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(values), 5000):
                query = (
                    select(column, p.id)
                    .where(in_values(conn, column, values[start : start + 5000]))
                    .order_by(p.seq)  # the newest row wins below
                )
                out.update((key, pid) for key, pid in conn.execute(query))
        return out

    # -- private feed tokens -----------------------------------------------------------------
    def set_feed_token(self, user_id: int, token_hash: str, now: str) -> None:
        """Give the user a new feed token (the old link stops working)."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.feed_tokens).where(t.feed_tokens.c.user_id == user_id))
            conn.execute(insert(t.feed_tokens).values(token_hash=token_hash, user_id=user_id, created_at=now))

    def feed_token(self, user_id: int) -> dict[str, Any] | None:
        """When the user's feed link was made and last read (never the token)."""
        f = t.feed_tokens.c
        with self.engine.connect() as conn:
            row = conn.execute(select(f.created_at, f.last_used_at).where(f.user_id == user_id)).first()
        return as_dict(row) if row else None

    def delete_feed_token(self, user_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.feed_tokens).where(t.feed_tokens.c.user_id == user_id))

    def feed_token_user(self, token_hash: str, now: str) -> int | None:
        """The user a feed token belongs to (noting when it was read)."""
        f = t.feed_tokens.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t.feed_tokens).where(f.token_hash == token_hash).values(last_used_at=now))
            if done.rowcount != 1:
                return None
            return conn.execute(select(f.user_id).where(f.token_hash == token_hash)).scalar()

    # -- internals ---------------------------------------------------------------------------
    def _ids(self, query: Any, column: Any, ids: Iterable[str] | None) -> set[str]:
        with self.engine.connect() as conn:
            if ids is None:
                return set(conn.execute(query).scalars())
            wanted = list(ids)
            found: set[str] = set()
            for start in range(0, len(wanted), 5000):
                found.update(conn.execute(query.where(in_values(conn, column, wanted[start : start + 5000]))).scalars())
            return found
