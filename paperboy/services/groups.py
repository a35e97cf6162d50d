"""Groups: a lab or a reading group with members, shared collections, a reading queue, a page of
what members saved and upvoted this week, and a digest of its own.

Visibility is decided here, once, for every interface: whoever is not a member gets ``NotFound``
for anything of the group (its pages, collections, queue, API, feeds, exports), exactly as for a
group that does not exist, so not even a group's existence leaks.  Owners rename the group, add
and remove members, make invitation links and chat webhooks; any member saves into the shared
collections and the queue.  Invitation links carry a random token (only its hash is stored) and
expire; joining checks the token, the expiry and the member limit in the transaction that writes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from paperboy.config import Settings
from paperboy.services.accounts import stamp
from paperboy.services.errors import Conflict, Invalid, NotAllowed, NotFound
from paperboy.services.library import clean_name
from paperboy.sources.library_files import to_bibtex
from paperboy.store import Store
from paperboy.store.groups import Full
from paperboy.store.library import DuplicateName

ROLES = ("owner", "member")
MAX_GROUP_NAME = 100
MAX_DESCRIPTION = 2000
MAX_MEMBERS = 500
MAX_OWNED = 50
MAX_SHARED_COLLECTIONS = 100
MAX_OPEN_INVITES = 20
INVITE_DAYS = 7
MAX_INVITE_DAYS = 30
#: Invitation tokens start with this, so a leaked one is recognisable.
INVITE_PREFIX = "pi_"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _day(value: str | None) -> str:
    text = (value or "").strip()
    try:
        if not _ISO_DAY.match(text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise Invalid("Give the day as YYYY-MM-DD (the reading queue is by day).") from None


@dataclass
class GroupDigest:
    """What a group's digest holds for one period: each section's papers (listed) and why."""

    group: dict[str, Any]
    period: str
    sections: list[tuple[str, list[dict[str, Any]], dict[str, str]]] = field(default_factory=list)

    @property
    def papers(self) -> list[dict[str, Any]]:
        return [p for _, papers, _ in self.sections for p in papers]


class GroupService:
    """Groups, with their rules; every method takes the acting user."""

    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self.groups = store.groups
        self.settings = settings
        self.clock = clock

    def _now(self) -> str:
        return stamp(self.clock())

    # -- the group ---------------------------------------------------------------------------
    def create(self, user: dict[str, Any], name: str, description: str = "") -> dict[str, Any]:
        name, description = self._clean(name, description)
        try:
            gid = self.groups.create(name, description, user["id"], self._now(), MAX_OWNED)
        except Full as exc:
            raise Conflict(f"You own {MAX_OWNED} groups, the most there can be.") from exc
        return self.group(user, gid)

    @staticmethod
    def _clean(name: str | None, description: str | None) -> tuple[str, str]:
        text = " ".join(_CONTROL.sub(" ", name or "").split())
        if not text:
            raise Invalid("A group needs a name.")
        if len(text) > MAX_GROUP_NAME:
            raise Invalid(f"Group names are at most {MAX_GROUP_NAME} characters.")
        about = _CONTROL.sub("", (description or "").replace("\r\n", "\n")).strip()
        if len(about) > MAX_DESCRIPTION:
            raise Invalid(f"A description is at most {MAX_DESCRIPTION} characters.")
        return text, about

    def group(self, user: dict[str, Any] | None, group_id: int) -> dict[str, Any]:
        """The group with the user's role in it; ``NotFound`` for non-members (as if it did not exist)."""
        role = self.groups.role(group_id, user["id"]) if user else None
        found = self.groups.get(group_id) if role else None
        if found is None:
            raise NotFound(f"no group {group_id} of yours")
        return {**found, "role": role}

    def _owner(self, user: dict[str, Any], group_id: int) -> dict[str, Any]:
        found = self.group(user, group_id)
        if found["role"] != "owner":
            raise NotAllowed("Only the group's owners may do that.")
        return found

    def mine(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        return self.groups.of_user(user["id"])

    def update(self, user: dict[str, Any], group_id: int, name: str, description: str) -> dict[str, Any]:
        self._owner(user, group_id)
        name, description = self._clean(name, description)
        self.groups.update(group_id, name, description)
        return self.group(user, group_id)

    def delete(self, user: dict[str, Any], group_id: int) -> None:
        self._owner(user, group_id)
        self.groups.delete(group_id)

    # -- members -----------------------------------------------------------------------------
    def members(self, user: dict[str, Any], group_id: int) -> list[dict[str, Any]]:
        self.group(user, group_id)
        return self.groups.members(group_id)

    def member_ids(self, group_id: int) -> list[int]:
        """Members' ids (no check: for the digest and webhooks, which act for the group)."""
        return [m["id"] for m in self.groups.members(group_id)]

    def add_member(self, user: dict[str, Any], group_id: int, username: str, role: str = "member") -> dict[str, Any]:
        """An owner adds an account by its user name (or address)."""
        self._owner(user, group_id)
        if role not in ROLES:
            raise Invalid(f"A role is one of {', '.join(ROLES)}.")
        who = (username or "").strip()
        other = self.store.people.user_by_name(who) or (
            self.store.people.user_by_email(who.lower()) if "@" in who else None
        )
        if other is None:
            raise Invalid(f"No account called “{who[:60]}”.")
        try:
            added = self.groups.add_member(group_id, other["id"], role, self._now(), MAX_MEMBERS)
        except Full as exc:
            raise Conflict(f"The group has {MAX_MEMBERS} members, the most there can be.") from exc
        if not added:
            raise Conflict(f"{other['username']} is a member already.")
        return other

    def remove_member(self, user: dict[str, Any], group_id: int, member_id: int) -> None:
        """An owner removes a member, or anyone leaves (``member_id`` their own); the last owner stays."""
        found = self.group(user, group_id)
        if member_id != user["id"] and found["role"] != "owner":
            raise NotAllowed("Only the group's owners may remove members.")
        role = self.groups.role(group_id, member_id)
        if role is None:
            raise NotFound("no such member")
        if role == "owner" and self.groups.owners(group_id) <= 1:
            raise Conflict("The last owner cannot leave: make another member an owner, or delete the group.")
        self.groups.remove_member(group_id, member_id)

    def set_role(self, user: dict[str, Any], group_id: int, member_id: int, role: str) -> None:
        self._owner(user, group_id)
        if role not in ROLES:
            raise Invalid(f"A role is one of {', '.join(ROLES)}.")
        current = self.groups.role(group_id, member_id)
        if current is None:
            raise NotFound("no such member")
        if current == "owner" and role != "owner" and self.groups.owners(group_id) <= 1:
            raise Conflict("A group keeps at least one owner.")
        self.groups.set_role(group_id, member_id, role)

    # -- invitations -------------------------------------------------------------------------
    def new_invite(self, user: dict[str, Any], group_id: int, days: int = INVITE_DAYS) -> str:
        """A new invitation token (shown once; only its hash is kept), valid for ``days`` days."""
        self._owner(user, group_id)
        if not 1 <= days <= MAX_INVITE_DAYS:
            raise Invalid(f"An invitation lasts 1 to {MAX_INVITE_DAYS} days.")
        token = INVITE_PREFIX + secrets.token_urlsafe(24)
        now = self.clock()
        try:
            self.groups.create_invite(
                group_id, _hash(token), user["id"], stamp(now), stamp(now + timedelta(days=days)), MAX_OPEN_INVITES
            )
        except Full as exc:
            raise Conflict(f"The group has {MAX_OPEN_INVITES} open invitations: revoke them first.") from exc
        return token

    def invites(self, user: dict[str, Any], group_id: int) -> list[dict[str, Any]]:
        self._owner(user, group_id)
        return self.groups.invites(group_id, self._now())

    def revoke_invites(self, user: dict[str, Any], group_id: int) -> int:
        self._owner(user, group_id)
        return self.groups.revoke_invites(group_id)

    def invite_group(self, token: str | None) -> dict[str, Any]:
        """The group an invitation is for (its name is shown to whoever holds the link)."""
        gid = self.groups.invite_group(_hash(token), self._now()) if _token_ok(token) else None
        found = self.groups.get(gid) if gid else None
        if found is None:
            raise NotFound("This invitation is unknown or has expired. Ask for a new link.")
        return found

    def join(self, user: dict[str, Any], token: str | None) -> tuple[dict[str, Any], bool]:
        """Join through an invitation: (the group, newly joined)."""
        if not _token_ok(token):
            raise NotFound("This invitation is unknown or has expired. Ask for a new link.")
        try:
            done = self.groups.join_by_invite(_hash(token or ""), user["id"], self._now(), MAX_MEMBERS)
        except Full as exc:
            raise Conflict(f"The group has {MAX_MEMBERS} members, the most there can be.") from exc
        if done is None:
            raise NotFound("This invitation is unknown or has expired. Ask for a new link.")
        return self.group(user, done[0]), done[1]

    # -- shared collections ------------------------------------------------------------------
    def collections(self, user: dict[str, Any], group_id: int) -> list[dict[str, Any]]:
        self.group(user, group_id)
        return self.groups.collections(group_id)

    def collection(self, user: dict[str, Any], group_id: int, collection_id: int) -> dict[str, Any]:
        self.group(user, group_id)
        found = self.groups.collection(group_id, collection_id)
        if found is None:
            raise NotFound(f"no collection {collection_id} in this group")
        return found

    def create_collection(self, user: dict[str, Any], group_id: int, name: str) -> dict[str, Any]:
        self.group(user, group_id)
        name = clean_name(name)
        try:
            cid = self.groups.create_collection(group_id, name, self._now(), MAX_SHARED_COLLECTIONS)
        except DuplicateName as exc:
            raise Conflict(f"The group already has a collection called “{name}”.") from exc
        except Full as exc:
            raise Conflict(f"The group has {MAX_SHARED_COLLECTIONS} collections, the most there can be.") from exc
        return self.collection(user, group_id, cid)

    def rename_collection(self, user: dict[str, Any], group_id: int, collection_id: int, name: str) -> None:
        self.collection(user, group_id, collection_id)
        name = clean_name(name)
        try:
            self.store.library.rename_collection(collection_id, name)
        except DuplicateName as exc:
            raise Conflict(f"The group already has a collection called “{name}”.") from exc

    def delete_collection(self, user: dict[str, Any], group_id: int, collection_id: int) -> None:
        self._owner(user, group_id)
        self.collection(user, group_id, collection_id)
        self.store.library.delete_collection(collection_id)

    def _visible(self, user: dict[str, Any], paper_id: str) -> dict[str, Any]:
        found = self.store.activity.listed([paper_id], include_hidden=bool(user.get("is_admin")))
        if not found:
            raise NotFound(f"no paper {paper_id!r}")
        return found[0]

    def save(self, user: dict[str, Any], group_id: int, collection_id: int, paper_id: str) -> bool:
        """Save a paper into a shared collection (any member); False when it was there already."""
        self.collection(user, group_id, collection_id)
        paper = self._visible(user, paper_id)
        return self.groups.save(collection_id, paper["id"], user["id"], self._now())

    def unsave(self, user: dict[str, Any], group_id: int, collection_id: int, paper_id: str) -> int:
        self.collection(user, group_id, collection_id)
        return self.store.library.remove_items(collection_id, [paper_id])

    def collection_papers(self, user: dict[str, Any], group_id: int, collection_id: int) -> list[dict[str, Any]]:
        """A shared collection's papers, latest saved first, each with who saved it (``saved_by``)."""
        self.collection(user, group_id, collection_id)
        items = self.groups.collection_items(collection_id)
        by = {i["paper_id"]: i for i in items}
        papers = self.store.activity.listed([i["paper_id"] for i in items])
        return [{**p, "saved_by": by[p["id"]]["by"], "saved_at": by[p["id"]]["added_at"]} for p in papers]

    def export_bibtex(self, user: dict[str, Any], group_id: int, collection_id: int) -> tuple[str, str]:
        found = self.collection(user, group_id, collection_id)
        ids = [i["paper_id"] for i in self.groups.collection_items(collection_id, limit=100_000)]
        visible = {p["id"] for p in self.store.activity.listed(ids)}
        papers = [p for p in self.store.get_papers(ids) if p["id"] in visible]
        slug = re.sub(r"[^A-Za-z0-9]+", "-", found["name"]).strip("-").lower() or "collection"
        return f"{slug}.bib", to_bibtex(papers)

    # -- the reading queue -------------------------------------------------------------------
    def queue_add(self, user: dict[str, Any], group_id: int, day: str, paper_id: str) -> bool:
        self.group(user, group_id)
        when = _day(day)
        paper = self._visible(user, paper_id)
        return self.groups.queue_add(group_id, when, paper["id"], user["id"], self._now())

    def queue_remove(self, user: dict[str, Any], group_id: int, day: str, paper_id: str) -> bool:
        self.group(user, group_id)
        return self.groups.queue_remove(group_id, _day(day), paper_id)

    def queue(self, user: dict[str, Any], group_id: int, past_days: int = 7) -> list[dict[str, Any]]:
        """The queue from ``past_days`` ago on: ``[{day, papers: [paper + by]}]``, by day."""
        self.group(user, group_id)
        return self._queue(group_id, (self.clock().date() - timedelta(days=past_days)).isoformat())

    def _queue(self, group_id: int, since: str) -> list[dict[str, Any]]:
        rows = self.groups.queue(group_id, since)
        listed = {p["id"]: p for p in self.store.activity.listed(list(dict.fromkeys(r["paper_id"] for r in rows)))}
        days: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["paper_id"] in listed:
                days.setdefault(r["day"], []).append({**listed[r["paper_id"]], "queued_by": r["by"]})
        return [{"day": day, "papers": papers} for day, papers in days.items()]

    # -- this week ---------------------------------------------------------------------------
    def week(self, user: dict[str, Any], group_id: int, days: int = 7) -> list[dict[str, Any]]:
        """What members saved and upvoted in the last ``days`` days: papers with ``[who, how]``,
        the most acted on first."""
        self.group(user, group_id)
        return self._week(group_id, stamp(self.clock() - timedelta(days=days)))

    def _week(self, group_id: int, since: str) -> list[dict[str, Any]]:
        rows = self.groups.member_activity(group_id, since)
        acts: dict[str, list[tuple[str, str]]] = {}
        for r in rows:
            pair = (r["username"], r["how"])
            if pair not in acts.setdefault(r["paper_id"], []):
                acts[r["paper_id"]].append(pair)
        listed = self.store.activity.listed(list(acts))
        out = [{**p, "acts": acts[p["id"]]} for p in listed]
        out.sort(key=lambda p: (len({who for who, _ in p["acts"]}), len(p["acts"])), reverse=True)
        return out

    # -- the group's digest ------------------------------------------------------------------
    def digest(self, group_id: int, period: str, since: str, items: int = 10) -> GroupDigest:
        """The group's digest (no user check: the caller acts for the group): the queue from the
        period's day on, what was saved into the shared collections since ``since`` and what members
        saved or upvoted since then."""
        found = self.groups.get(group_id)
        if found is None:
            raise NotFound(f"no group {group_id}")
        digest = GroupDigest(found, period)
        day = period[:10] if _ISO_DAY.match(period[:10]) else self.clock().date().isoformat()
        upcoming = [p for d in self._queue(group_id, day)[:3] for p in d["papers"]][:items]
        digest.sections.append(("Reading queue", upcoming, {}))
        taken = {p["id"] for p in upcoming}
        shared: list[dict[str, Any]] = []
        why: dict[str, str] = {}
        for col in self.groups.collections(group_id):
            ids = [pid for pid in self.groups.items_since(col["id"], since) if pid not in taken]
            for paper in self.store.activity.listed(ids):
                if len(shared) < items and paper["id"] not in why:
                    shared.append(paper)
                    why[paper["id"]] = f"saved to {col['name']}"
        digest.sections.append(("New in the group's collections", shared, why))
        taken |= {p["id"] for p in shared}
        week = [p for p in self._week(group_id, since) if p["id"] not in taken][:items]
        acted = {p["id"]: ", ".join(f"{who} {how}" for who, how in p["acts"]) for p in week}
        digest.sections.append(("What members saved and upvoted", week, acted))
        digest.sections = [s for s in digest.sections if s[1]]
        return digest


def _token_ok(token: str | None) -> bool:
    return bool(token) and token.startswith(INVITE_PREFIX) and len(token) <= 200  # type: ignore[union-attr]
