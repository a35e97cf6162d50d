"""The import pipeline: records in, deduplicated paper rows out, one transaction per batch.

Each batch is matched, merged and written in a single transaction together with the run's
counters, its rejections and any harvest checkpoint, so a crash (even ``kill -9``) loses at most
the open batch and a second run completes the work without duplicates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, count, repeat
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import OperationalError

from paperboy.sources.normalize import author_key, is_arxiv_id
from paperboy.sources.record import Checkpoint, Item, PaperRecord, Rejection
from paperboy.store import schema as t
from paperboy.store.dialect import batch_commit, bulk_insert, in_values, insert_tuples, lock, upsert
from paperboy.store.merge import matching_id, merge, prefer, same_content
from paperboy.store.owners import this_owner
from paperboy.store.pipeline import Prepared
from paperboy.store.rows import as_dict

#: SQLite accepts 32,766 bound parameters; stay well below for every backend.
IN_CHUNK = 5000


def utcnow() -> str:
    """Current UTC time as stored: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunSummary:
    """What one import did; also what ``ingest_runs`` holds for it."""

    run_id: int
    source: str
    target: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    status: str = "running"
    error: str | None = None
    #: The first rejections, for the summary printed after an import.
    sample_rejections: list[Rejection] = field(default_factory=list)

    @property
    def seen(self) -> int:
        """Records read, good or bad."""
        return self.new + self.updated + self.unchanged + self.rejected


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _synthetic_id(row: dict[str, Any]) -> str:
    """Id for a paper no source has named: its DOI, else a digest of its normalized title."""
    if row["doi"]:
        return f"doi:{row['doi'].lower()}"
    return "title:" + hashlib.sha1(row["title_key"].encode()).hexdigest()[:16]


class _Batch:
    """Records of one transaction, matched against the store and each other, then written."""

    def __init__(self, conn: Connection, source: str, has_non_arxiv: bool) -> None:
        self.conn = conn
        self.source = source
        self.has_non_arxiv = has_non_arxiv
        self.rows: dict[str, dict[str, Any]] = {}  # id -> merged row
        self.stored: dict[str, dict[str, Any]] = {}  # id -> row as it is in the store
        self.status: dict[str, str] = {}  # id -> new | updated | unchanged
        self.renamed: dict[str, str] = {}  # stored id -> new id (title-only paper got its arXiv id)
        self.hashes: dict[str, str] = {}  # id -> hash of this source's record
        self.pending_doi: dict[str, str] = {}  # DOI -> id, for rows of this batch
        #: title key -> id, for rows of this batch; built on the first lookup that needs it
        self.pending_title: dict[str, str] | None = None
        self.has_non_arxiv_rows = False
        #: ids the reader skipped as unchanged that changed before they were written
        self.stale: list[str] = []
        self.author_keys: dict[str, tuple[list[str], list[str]]] = {}  # id -> (authors, their keys)

    # -- reading ---------------------------------------------------------------------------
    def _load_rows(self, column: Any, values: list[Any], extra: Any = None) -> list[dict[str, Any]]:
        found = []
        for chunk in _chunks(values):
            query = select(t.papers).where(in_values(self.conn, column, chunk))
            if extra is not None:
                query = query.where(extra)
            found.extend(as_dict(r) for r in self.conn.execute(query))
        return found

    def classify(self, records: list[Prepared]) -> list[tuple[Prepared, str | None]]:
        """Pair each record with the stored id it matches (or None), skipping identical re-imports."""
        todo = self._changed(records)
        for row in self._load_rows(t.papers.c.id, [p.row["id"] for p in todo if p.row["id"]]):
            self.stored[row["id"]] = row
        by_doi, by_title = self._candidates(todo)
        return [(p, matching_id(p.row, self.stored, by_doi, by_title)) for p in todo]

    def _changed(self, records: list[Prepared]) -> list[Prepared]:
        """The records that are not exactly what this source gave last time (those count as unchanged)."""
        known: dict[str, str | None] = {}
        for chunk in _chunks(list({p.row["id"] for p in records if p.row["id"]})):
            query = select(t.paper_sources.c.paper_id, t.paper_sources.c.record_hash).where(
                t.paper_sources.c.source == self.source, in_values(self.conn, t.paper_sources.c.paper_id, chunk)
            )
            known.update((r[0], r[1]) for r in self.conn.execute(query))
        todo: list[Prepared] = []
        for p in records:
            rid = p.row["id"]
            if rid and known.get(rid) == p.hash and rid not in self.rows:
                self.status.setdefault(rid, "unchanged")
                continue
            if p.seen:  # the reader saw this hash, but the paper changed since (same id twice in a run)
                self.stale.append(rid)
                continue
            todo.append(p)
            if rid:
                self.hashes[rid] = p.hash
        return todo

    def _candidates(self, todo: list[Prepared]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Stored papers that records without a stored id may be (by DOI, lower-cased; by title key).

        Records without an id match by DOI, then by normalized title; so do arXiv records whose
        paper is in the store only under a made-up id (e.g. from a Hugging Face page).
        """
        orphans = [
            p
            for p in todo
            if not p.row["id"] or (self.has_non_arxiv and p.row["is_arxiv"] and p.row["id"] not in self.stored)
        ]
        by_doi: dict[str, dict[str, Any]] = {}
        by_title: dict[str, dict[str, Any]] = {}
        if not orphans:
            return by_doi, by_title
        dois = list({p.row["doi"].lower() for p in orphans if p.row["doi"]})
        keys = list({p.row["title_key"] for p in orphans})
        for row in self._load_rows(func.lower(t.papers.c.doi), dois) + self._load_rows(t.papers.c.title_key, keys):
            self.stored.setdefault(row["id"], row)
            if row["doi"]:
                by_doi.setdefault(row["doi"].lower(), row)
            best = by_title.get(row["title_key"])
            if best is None or prefer(row, best):
                by_title[row["title_key"]] = row
        return by_doi, by_title

    # -- merging ---------------------------------------------------------------------------
    def add(self, prep: Prepared, match: str | None) -> None:
        """Merge one record into the batch's rows (earlier records of the batch included)."""
        incoming = prep.row
        rid = incoming["id"]
        key = match
        if key is None and rid and rid in self.rows:
            key = rid
        elif key is None:
            # an arXiv record may be a title-only row of this same batch; an id-less one anything
            lookup = rid is None or (incoming["is_arxiv"] and self.has_non_arxiv_rows)
            pending = self._pending_match(incoming) if lookup else None
            if pending and (rid is None or not self.rows[pending]["is_arxiv"]):
                key = pending
            else:
                key = rid or _synthetic_id(incoming)
        key = self.renamed.get(key, key)
        current = self.rows.get(key) or self.stored.get(key)
        if current is None:
            row = incoming if rid == key else {**incoming, "id": key, "is_arxiv": is_arxiv_id(key)}
            self.author_keys[key] = (row["authors"], prep.author_keys)
            self._put(row)
            self.status[key] = "new"
            return
        target = key
        if rid and rid != key and incoming["is_arxiv"] and not current["is_arxiv"]:
            target = rid  # the paper finally has its arXiv id: re-key it
            self.renamed[key] = target
            self.rows.pop(key, None)
            current = {**current, "id": target, "is_arxiv": True}
            self.status[target] = "new" if self.status.pop(key, None) == "new" else "updated"
            if key in self.hashes:
                self.hashes[target] = self.hashes.pop(key)
        merged = merge(current, incoming)
        self._put(merged)
        if self.status.get(target) not in ("new", "updated") or target in self.stored:
            original = self.stored.get(target)
            if original is not None:
                self.status[target] = "unchanged" if same_content(original, merged) else "updated"

    def _put(self, row: dict[str, Any]) -> None:
        self.rows[row["id"]] = row
        if not row["is_arxiv"]:
            self.has_non_arxiv_rows = True
        if self.pending_title is not None:
            self._index_pending(row)

    def _index_pending(self, row: dict[str, Any]) -> None:
        if row["doi"]:
            self.pending_doi[row["doi"].lower()] = row["id"]
        self.pending_title.setdefault(row["title_key"], row["id"])  # type: ignore[union-attr]

    def _pending_match(self, incoming: dict[str, Any]) -> str | None:
        if self.pending_title is None:  # first lookup in this batch: index what is there so far
            self.pending_title = {}
            for row in self.rows.values():
                self._index_pending(row)
        doi = incoming["doi"]
        found = (self.pending_doi.get(doi.lower()) if doi else None) or self.pending_title.get(incoming["title_key"])
        return self.renamed.get(found, found) if found else None

    # -- writing ---------------------------------------------------------------------------
    def write(self, now: str) -> None:
        """Write the batch's new and changed rows and the per-source record hashes."""
        conn = self.conn
        new_ids = [i for i, s in self.status.items() if s == "new"]
        changed_ids = [i for i, s in self.status.items() if s == "updated"]
        if self.renamed:  # drop the made-up ids; their rows come back under the arXiv id
            gone = [self.stored[old] for old in self.renamed if old in self.stored]
            self._delete_links(gone, sources=True)
            conn.execute(t.papers.delete().where(t.papers.c.id.in_([row["id"] for row in gone])))
            moved = [i for i in changed_ids if i in self.renamed.values()]
            changed_ids = [i for i in changed_ids if i not in moved]
            for new_id in moved:
                old_id = next(k for k, v in self.renamed.items() if v == new_id)
                self.rows[new_id]["first_seen"] = self.stored[old_id]["first_seen"]
            new_ids += moved
        seq = (conn.execute(select(func.max(t.papers.c.seq))).scalar() or 0) + 1
        inserts = []
        for pid in new_ids:
            row = self.rows[pid]
            row.setdefault("first_seen", now)
            row["last_changed"] = now
            row["seq"] = seq
            seq += 1
            inserts.append(row)
        if inserts:
            bulk_insert(conn, t.papers, inserts)
        if changed_ids:
            updates = []
            for pid in changed_ids:
                row = self.rows[pid]
                row["last_changed"] = now
                row["seq"] = seq
                seq += 1
                updates.append({**row, "b_id": pid})
            stmt = update(t.papers).where(t.papers.c.id == bindparam("b_id"))
            conn.execute(stmt, [{k: v for k, v in u.items() if k != "id"} for u in updates])
            relisted = [pid for pid in changed_ids if self._lists_changed(pid)]
            self._delete_links([self.stored[pid] for pid in relisted])
        else:
            relisted = []
        self._write_lists(new_ids + relisted)
        self._write_sources(new_ids, changed_ids, now)

    def _lists_changed(self, pid: str) -> bool:
        old = self.stored.get(pid)
        row = self.rows[pid]
        return old is None or old["authors"] != row["authors"] or old["categories"] != row["categories"]

    def _delete_links(self, rows: list[dict[str, Any]], sources: bool = False) -> None:
        """Delete the author and category links of stored rows (by their clustered keys)."""
        if not rows:
            return
        authors = [
            {"k": author_key(name), "p": row["id"], "i": i} for row in rows for i, name in enumerate(row["authors"])
        ]
        categories = [{"k": cat, "p": row["id"]} for row in rows for cat in row["categories"]]
        a, c = t.paper_authors.c, t.paper_categories.c
        if authors:
            self.conn.execute(
                t.paper_authors.delete().where(
                    a.author_key == bindparam("k"), a.paper_id == bindparam("p"), a.position == bindparam("i")
                ),
                authors,
            )
        if categories:
            self.conn.execute(
                t.paper_categories.delete().where(c.category == bindparam("k"), c.paper_id == bindparam("p")),
                categories,
            )
        if sources:  # the paper itself goes: so do its sources and its vector
            ids = [row["id"] for row in rows]
            self.conn.execute(t.paper_sources.delete().where(t.paper_sources.c.paper_id.in_(ids)))
            self.conn.execute(t.paper_vectors.delete().where(t.paper_vectors.c.paper_id.in_(ids)))

    def _write_lists(self, ids: list[str]) -> None:
        authors = []
        categories = []
        for pid in ids:
            row = self.rows[pid]
            names, keys = self.author_keys.get(pid, (None, None))
            if names is not row["authors"]:  # merged from several records: keys not prepared
                keys = [author_key(name) for name in row["authors"]]
            authors.extend(zip(keys, repeat(pid), count(), strict=False))  # count() is endless
            primary = chain((True,), repeat(False))  # only the first category is the primary one
            categories.extend(zip(row["categories"], repeat(pid), primary, strict=False))
        insert_tuples(self.conn, t.paper_authors, ("author_key", "paper_id", "position"), authors)
        insert_tuples(self.conn, t.paper_categories, ("category", "paper_id", "is_primary"), categories)

    def _write_sources(self, new_ids: list[str], changed_ids: list[str], now: str) -> None:
        """Record which sources gave each paper, with this source's record hash."""
        fresh = [self._source_row(pid, source, now) for pid in new_ids for source in self.rows[pid]["sources"]]
        bulk_insert(self.conn, t.paper_sources, fresh)
        rows = [self._source_row(pid, source, now) for pid in changed_ids for source in self.rows[pid]["sources"]]
        # Unchanged papers whose record from this source differed only in ways the merge ignores
        # still get the new hash, so the next identical import takes the fast path.
        rows += [
            self._source_row(pid, self.source, now)
            for pid, status in self.status.items()
            if status == "unchanged" and pid in self.hashes
        ]
        upsert(self.conn, t.paper_sources, rows, ["paper_id", "source"], keep=["first_seen"])

    def _source_row(self, pid: str, source: str, now: str) -> dict[str, Any]:
        digest = self.hashes.get(pid) if source == self.source else None
        return {"paper_id": pid, "source": source, "record_hash": digest, "first_seen": now, "last_seen": now}


class Ingestor:
    """Feeds items from one source into the store, batch by batch, recording the run."""

    def __init__(self, engine: Engine, source: str, target: str, batch_size: int = 2000) -> None:
        self.engine = engine
        self.batch_size = max(1, batch_size)
        now = utcnow()
        with engine.begin() as conn:
            run_id = conn.execute(
                insert(t.ingest_runs).values(
                    source=source,
                    target=target,
                    started_at=now,
                    status="running",
                    owner=this_owner(),
                    heartbeat_at=now,
                    new=0,
                    updated=0,
                    unchanged=0,
                    rejected=0,
                )
            ).inserted_primary_key[0]
            self.has_non_arxiv = (
                conn.execute(select(t.papers.c.id).where(~t.papers.c.is_arxiv).limit(1)).first() is not None
            )
        self.summary = RunSummary(run_id=run_id, source=source, target=target)

    def run(
        self,
        items: Iterable[Item],
        progress: Callable[[RunSummary], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> RunSummary:
        """Consume every item; the run ends completed, or failed with the error recorded.

        ``stop()`` turning true (a first Ctrl-C) ends the run early but cleanly: what was read
        is written, and the run is recorded as interrupted.
        """
        records: list[Prepared] = []
        rejected: list[Rejection] = []
        stopped = False
        try:
            for item in items:
                if stop is not None and stop():
                    stopped = True
                    break
                if isinstance(item, PaperRecord):
                    item = Prepared.of(item)
                if isinstance(item, Prepared):
                    records.append(item)
                    if len(records) >= self.batch_size:
                        self._flush(records, rejected, None)
                        records, rejected = [], []
                        if progress:
                            progress(self.summary)
                elif isinstance(item, Rejection):
                    rejected.append(item)
                    if len(rejected) >= self.batch_size:
                        self._flush(records, rejected, None)
                        records, rejected = [], []
                elif isinstance(item, Checkpoint):
                    self._flush(records, rejected, item)
                    records, rejected = [], []
            self._flush(records, rejected, None)
            if progress:
                progress(self.summary)
        except BaseException as exc:
            self.summary.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.summary.error = str(exc) or type(exc).__name__
            if isinstance(exc, Exception):
                self._finish()
                raise
            # Ctrl-C inside a statement: SQLAlchemy invalidates that connection rather than rolling
            # it back, and its open write transaction can lock us out.  Closing the pooled
            # connections frees the database; if the run's last line still cannot be written, the
            # run is left as a crash would leave it (the open batch lost, the rest saved) rather
            # than hiding the interrupt behind a database error.
            self.engine.dispose()
            try:
                self._finish()
            except OperationalError:
                pass
            raise
        self.summary.status = "interrupted" if stopped else "completed"
        self._finish()
        return self.summary

    def _flush(self, records: list[Prepared], rejected: list[Rejection], checkpoint: Checkpoint | None) -> None:
        if not records and not rejected and checkpoint is None:
            return
        now = utcnow()
        s = self.summary
        with self.engine.begin() as conn:
            # One batch at a time, from matching to commit, whichever process imports: two imports
            # at once would match against each other's uncommitted papers and take the same seq
            # (``max + 1``); and seq values commit in order, so indices catching up by seq miss none.
            lock(conn, "papers")
            batch_commit(conn)
            batch = _Batch(conn, s.source, self.has_non_arxiv)
            for rec, match in batch.classify(records):
                batch.add(rec, match)
            batch.write(now)
            counts = {"new": 0, "updated": 0, "unchanged": 0}
            for status in batch.status.values():
                counts[status] += 1
            # Identical re-imports collapse by id; count every record the source gave.
            counts["unchanged"] += len(records) - sum(counts.values())
            why = "paper changed in the store during this import; import again to apply"
            rejected = rejected + [Rejection(f"{s.target} id {pid}", why) for pid in batch.stale]
            counts["unchanged"] -= len(batch.stale)
            if rejected:
                conn.execute(
                    insert(t.rejections), [{"run_id": s.run_id, "place": r.place, "reason": r.reason} for r in rejected]
                )
            if checkpoint is not None:
                upsert(
                    conn,
                    t.harvest_state,
                    [{"key": checkpoint.key, "state": checkpoint.state, "updated_at": now}],
                    ["key"],
                )
            conn.execute(
                update(t.ingest_runs)
                .where(t.ingest_runs.c.id == s.run_id)
                .values(
                    heartbeat_at=now,
                    new=t.ingest_runs.c.new + counts["new"],
                    updated=t.ingest_runs.c.updated + counts["updated"],
                    unchanged=t.ingest_runs.c.unchanged + counts["unchanged"],
                    rejected=t.ingest_runs.c.rejected + len(rejected),
                )
            )
        if any(row["id"] and not row["is_arxiv"] for row in batch.rows.values()):
            self.has_non_arxiv = True
        s.new += counts["new"]
        s.updated += counts["updated"]
        s.unchanged += counts["unchanged"]
        s.rejected += len(rejected)
        s.sample_rejections.extend(rejected[: max(0, 20 - len(s.sample_rejections))])

    def _finish(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.ingest_runs)
                .where(t.ingest_runs.c.id == self.summary.run_id)
                .values(finished_at=utcnow(), status=self.summary.status, error=self.summary.error)
            )
