"""Groups in the store: a lab or reading group, its members and invitations, its shared collections
(rows of ``collections`` with ``group_id`` set and no owning user, so every personal read of the
library, which filters on ``user_id``, leaves them out), its reading queue and its week's activity.

Limits (how many members, how many invitations) are decided by the service inside the transaction
that writes, through the ``*_within`` methods here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy.store import schema as t
from paperboy.store.dialect import insert_ignore, lock
from paperboy.store.library import DuplicateName
from paperboy.store.rows import as_dict

g, m, inv, q = t.groups.c, t.group_members.c, t.group_invites.c, t.reading_queue.c
c, ci, p, u = t.collections.c, t.collection_items.c, t.papers.c, t.users.c


class Full(Exception):
    """A limit was reached (the service says which)."""


class Groups:
    """Reads and writes of groups, memberships, invitations, shared collections and the queue."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- groups and members ----------------------------------------------------------------
    def create(self, name: str, description: str, owner_id: int, now: str, max_owned: int) -> int:
        """A new group with its creator as owner (``Full`` when they own ``max_owned`` already)."""
        with self.engine.begin() as conn:
            lock(conn, f"groups:owner:{owner_id}")
            owned = conn.execute(select(func.count()).where(m.user_id == owner_id, m.role == "owner")).scalar_one()
            if owned >= max_owned:
                raise Full("groups")
            gid = conn.execute(
                insert(t.groups).values(name=name, description=description, created_by=owner_id, created_at=now)
            ).inserted_primary_key[0]
            conn.execute(insert(t.group_members).values(group_id=gid, user_id=owner_id, role="owner", joined_at=now))
        return gid

    def get(self, group_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.groups).where(g.id == group_id)).first()
        return as_dict(row) if row else None

    def update(self, group_id: int, name: str, description: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.groups).where(g.id == group_id).values(name=name, description=description))

    def delete(self, group_id: int) -> None:
        """Remove a group with everything that is only its own (SQLite runs with foreign keys off)."""
        with self.engine.begin() as conn:
            mine = select(c.id).where(c.group_id == group_id)
            conn.execute(delete(t.collection_items).where(ci.collection_id.in_(mine)))
            conn.execute(delete(t.collections).where(c.group_id == group_id))
            conn.execute(delete(t.reading_queue).where(q.group_id == group_id))
            conn.execute(delete(t.group_invites).where(inv.group_id == group_id))
            hooks = select(t.webhooks.c.id).where(t.webhooks.c.group_id == group_id)
            conn.execute(delete(t.webhook_papers).where(t.webhook_papers.c.webhook_id.in_(hooks)))
            conn.execute(delete(t.webhook_sends).where(t.webhook_sends.c.webhook_id.in_(hooks)))
            conn.execute(delete(t.webhooks).where(t.webhooks.c.group_id == group_id))
            conn.execute(delete(t.group_members).where(m.group_id == group_id))
            conn.execute(delete(t.groups).where(g.id == group_id))

    def role(self, group_id: int, user_id: int) -> str | None:
        """The user's role in the group (None: not a member)."""
        with self.engine.connect() as conn:
            return conn.execute(select(m.role).where(m.group_id == group_id, m.user_id == user_id)).scalar()

    def of_user(self, user_id: int) -> list[dict[str, Any]]:
        """The user's groups with their role and member count, by name."""
        everyone = t.group_members.alias("everyone")
        members = select(func.count()).select_from(everyone).where(everyone.c.group_id == g.id).scalar_subquery()
        query = (
            select(g.id, g.name, g.description, g.created_at, m.role, members.label("members"))
            .join(t.group_members, m.group_id == g.id)
            .where(m.user_id == user_id)
            .order_by(func.lower(g.name), g.id)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def members(self, group_id: int) -> list[dict[str, Any]]:
        query = (
            select(u.id, u.username, u.email, m.role, m.joined_at)
            .join(t.group_members, m.user_id == u.id)
            .where(m.group_id == group_id)
            .order_by(m.role.desc(), func.lower(u.username))
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def add_member(self, group_id: int, user_id: int, role: str, now: str, max_members: int) -> bool:
        """Add a member (False when they are one already; ``Full`` at ``max_members``), in one transaction."""
        with self.engine.begin() as conn:
            return self._add(conn, group_id, user_id, role, now, max_members)

    @staticmethod
    def _add(conn: Any, group_id: int, user_id: int, role: str, now: str, max_members: int) -> bool:
        lock(conn, f"group:{group_id}")
        if conn.execute(select(m.role).where(m.group_id == group_id, m.user_id == user_id)).first():
            return False
        count = conn.execute(select(func.count()).where(m.group_id == group_id)).scalar_one()
        if count >= max_members:
            raise Full("members")
        insert_ignore(
            conn,
            t.group_members,
            [{"group_id": group_id, "user_id": user_id, "role": role, "joined_at": now}],
            ["group_id", "user_id"],
        )
        return True

    def remove_member(self, group_id: int, user_id: int) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(t.group_members).where(m.group_id == group_id, m.user_id == user_id))
            return gone.rowcount > 0

    def set_role(self, group_id: int, user_id: int, role: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.group_members).where(m.group_id == group_id, m.user_id == user_id).values(role=role))

    def owners(self, group_id: int) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).where(m.group_id == group_id, m.role == "owner")).scalar_one()

    # -- invitations -----------------------------------------------------------------------
    def create_invite(self, group_id: int, token_hash: str, by: int, now: str, expires_at: str, max_open: int) -> None:
        """Store an invitation's hash; ``Full`` when ``max_open`` unexpired ones exist."""
        with self.engine.begin() as conn:
            lock(conn, f"group:{group_id}")
            conn.execute(delete(t.group_invites).where(inv.group_id == group_id, inv.expires_at <= now))
            open_now = conn.execute(select(func.count()).where(inv.group_id == group_id)).scalar_one()
            if open_now >= max_open:
                raise Full("invites")
            conn.execute(
                insert(t.group_invites).values(
                    token_hash=token_hash,
                    group_id=group_id,
                    created_by=by,
                    created_at=now,
                    expires_at=expires_at,
                    uses=0,
                )
            )

    def invites(self, group_id: int, now: str) -> list[dict[str, Any]]:
        """Unexpired invitations (never their tokens)."""
        query = (
            select(inv.created_at, inv.expires_at, inv.uses, u.username.label("by"))
            .outerjoin(t.users, u.id == inv.created_by)
            .where(inv.group_id == group_id, inv.expires_at > now)
            .order_by(inv.created_at.desc())
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def invite_group(self, token_hash: str, now: str) -> int | None:
        """The group an unexpired invitation is for."""
        with self.engine.connect() as conn:
            return conn.execute(select(inv.group_id).where(inv.token_hash == token_hash, inv.expires_at > now)).scalar()

    def join_by_invite(self, token_hash: str, user_id: int, now: str, max_members: int) -> tuple[int, bool] | None:
        """Join through an invitation: ``(group id, newly joined)``, None when it is unknown or expired.

        Checked, counted and written in one transaction, so an invitation that expires or a group
        that fills up meanwhile admits nobody extra.
        """
        with self.engine.begin() as conn:
            gid = conn.execute(select(inv.group_id).where(inv.token_hash == token_hash, inv.expires_at > now)).scalar()
            if gid is None:
                return None
            joined = self._add(conn, gid, user_id, "member", now, max_members)
            if joined:
                conn.execute(update(t.group_invites).where(inv.token_hash == token_hash).values(uses=inv.uses + 1))
            return gid, joined

    def revoke_invites(self, group_id: int) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(t.group_invites).where(inv.group_id == group_id)).rowcount

    # -- shared collections ----------------------------------------------------------------
    def collections(self, group_id: int) -> list[dict[str, Any]]:
        """The group's shared collections, oldest first, with their sizes."""
        count = select(func.count()).where(ci.collection_id == c.id).scalar_subquery()
        latest = select(func.max(ci.added_at)).where(ci.collection_id == c.id).scalar_subquery()
        query = (
            select(c.id, c.name, c.created_at, c.group_id, count.label("count"), latest.label("last_added"))
            .where(c.group_id == group_id)
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def collection(self, group_id: int, collection_id: int) -> dict[str, Any] | None:
        query = select(c.id, c.name, c.created_at, c.group_id).where(c.id == collection_id, c.group_id == group_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return as_dict(row) if row else None

    def collection_group(self, collection_id: int) -> int | None:
        """The group a collection is shared in (None for personal ones)."""
        with self.engine.connect() as conn:
            return conn.execute(select(c.group_id).where(c.id == collection_id)).scalar()

    def create_collection(self, group_id: int, name: str, now: str, max_collections: int) -> int:
        """A new shared collection (``DuplicateName``, ``Full``)."""
        try:
            with self.engine.begin() as conn:
                lock(conn, f"group:{group_id}")
                n = conn.execute(select(func.count()).where(c.group_id == group_id)).scalar_one()
                if n >= max_collections:
                    raise Full("collections")
                row = {"user_id": None, "group_id": group_id, "name": name, "name_key": name.lower(), "created_at": now}
                return conn.execute(insert(t.collections).values(row)).inserted_primary_key[0]
        except IntegrityError as exc:
            raise DuplicateName(name) from exc

    def save(self, collection_id: int, paper_id: str, user_id: int, now: str) -> bool:
        """Save into a shared collection, noting who; False when it was there already."""
        row = {"collection_id": collection_id, "paper_id": paper_id, "added_at": now, "added_by": user_id}
        with self.engine.begin() as conn:  # the insert itself says whether it was new, whoever races it
            return insert_ignore(conn, t.collection_items, [row], ["collection_id", "paper_id"]) == 1

    def collection_items(self, collection_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """``{paper_id, added_at, by}`` of a shared collection, latest first."""
        query = (
            select(ci.paper_id, ci.added_at, u.username.label("by"))
            .join(t.papers, p.id == ci.paper_id)
            .outerjoin(t.users, u.id == ci.added_by)
            .where(ci.collection_id == collection_id)
            .order_by(ci.added_at.desc(), ci.paper_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def items_since(self, collection_id: int, since: str, limit: int = 200) -> list[str]:
        """Papers saved into a collection at or after ``since``, oldest first."""
        query = (
            select(ci.paper_id)
            .join(t.papers, p.id == ci.paper_id)
            .where(ci.collection_id == collection_id, ci.added_at >= since)
            .order_by(ci.added_at, ci.paper_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    # -- the reading queue -----------------------------------------------------------------
    def queue_add(self, group_id: int, day: str, paper_id: str, by: int, now: str) -> bool:
        row = {"group_id": group_id, "day": day, "paper_id": paper_id, "added_by": by, "added_at": now}
        with self.engine.begin() as conn:
            return insert_ignore(conn, t.reading_queue, [row], ["group_id", "day", "paper_id"]) == 1

    def queue_remove(self, group_id: int, day: str, paper_id: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(t.reading_queue).where(q.group_id == group_id, q.day == day, q.paper_id == paper_id)
            )
            return gone.rowcount > 0

    def queue(self, group_id: int, since: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """``{day, paper_id, added_at, by}`` of the queue (from ``since`` on), by day then when added."""
        query = (
            select(q.day, q.paper_id, q.added_at, u.username.label("by"))
            .join(t.papers, p.id == q.paper_id)
            .outerjoin(t.users, u.id == q.added_by)
            .where(q.group_id == group_id)
            .order_by(q.day, q.added_at, q.paper_id)
            .limit(limit)
        )
        if since:
            query = query.where(q.day >= since)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    # -- what members did ------------------------------------------------------------------
    def member_activity(self, group_id: int, since: str, limit: int = 500) -> list[dict[str, Any]]:
        """``{paper_id, username, how, at}``: what members saved (in their own or the group's
        collections) and upvoted since ``since``, latest first.  Personal saves are shown to the
        group by design: membership is the sharing."""
        v = t.votes.c
        members = select(m.user_id).where(m.group_id == group_id)
        own = (
            select(ci.paper_id, u.username, ci.added_at.label("at"))
            .select_from(
                t.collection_items.join(t.collections, c.id == ci.collection_id).join(t.users, u.id == c.user_id)
            )
            .where(c.user_id.in_(members), ci.added_at >= since)
        )
        shared = (
            select(ci.paper_id, u.username, ci.added_at.label("at"))
            .select_from(
                t.collection_items.join(t.collections, c.id == ci.collection_id).join(t.users, u.id == ci.added_by)
            )
            .where(c.group_id == group_id, ci.added_by.in_(members), ci.added_at >= since)
        )
        votes = (
            select(v.paper_id, u.username, v.created_at.label("at"))
            .select_from(t.votes.join(t.users, u.id == v.user_id))
            .where(v.user_id.in_(members), v.created_at >= since)
        )
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for how, query in (("saved", own), ("saved", shared), ("upvoted", votes)):
                for pid, name, at in conn.execute(query.limit(limit)):
                    out.append({"paper_id": pid, "username": name, "how": how, "at": at})
        out.sort(key=lambda r: (r["at"], r["paper_id"]), reverse=True)
        return out[:limit]
