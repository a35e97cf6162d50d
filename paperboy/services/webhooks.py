"""Chat webhooks: a user's or a group's daily digest, a collection's new papers, or a saved search's
new hits, posted to Slack, Mattermost, Discord, Microsoft Teams or Matrix.

**Shapes.**  Each service gets its own incoming-webhook JSON (``payload``):

* Slack: ``{"text", "blocks": [header, section (mrkdwn) …]}``, links as ``<url|title>``;
* Mattermost: ``{"text", "username"}`` with Markdown links;
* Discord: ``{"content" (≤ 2000 characters), "username", "embeds": [{"title", "url", "description"}] (≤ 10)}``;
* Microsoft Teams (a Workflows "when a Teams webhook request is received" URL):
  ``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
  "content": {AdaptiveCard 1.4 with TextBlocks}}]}``;
* Matrix has no incoming webhooks: the client-server API's
  ``PUT {room URL}/send/m.room.message/{txnId}`` with the posting account's access token and
  ``{"msgtype": "m.text", "body", "format": "org.matrix.custom.html", "formatted_body"}``.  The
  transaction id is the send log's key, so a retried send is the same event to the homeserver.

**Exactly once.**  As the email digests (services/delivery.py): one send-log row per (hook, day),
claimed before the request, marked sent with its papers in one transaction after the 2xx; a claim
of a process that is gone is taken over with the content it was built with.  Temporary failures
(no connection, time-out, 429, 5xx) are retried with exponential back-off (``digest_retries``,
``digest_backoff``, a ``Retry-After`` up to ``MAX_BACKOFF``) and then left ``failed`` for the next
run; other answers (4xx, redirects) mark the row ``dead``: that message is not retried.

**Secrets.**  Webhook URLs (and Matrix tokens) are credentials: only http(s) URLs are taken, they
are shown masked, never logged (requests go through httpx's transport directly, below its
client's request log, and errors are recorded without the URL), and redirects are not followed.
Requests leave from the digest process or ``paperboy webhooks send``, never from a web request.
Addresses that resolve to loopback, private, link-local or reserved networks are refused
(server-side request forgery) unless ``webhook_allow_private`` is set.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from paperboy.config import Settings
from paperboy.indices.query import parse_query
from paperboy.services.accounts import stamp
from paperboy.services.delivery import HOST, LEASE, _owner_gone, today_in
from paperboy.services.errors import Conflict, Invalid, NotAllowed, NotFound, ServiceError
from paperboy.services.follows import matches
from paperboy.services.groups import GroupService
from paperboy.store import Store

log = logging.getLogger(__name__)
SERVICES = {
    "slack": "Slack",
    "mattermost": "Mattermost",
    "discord": "Discord",
    "teams": "Microsoft Teams",
    "matrix": "Matrix",
}
KINDS = {"digest": "the daily digest", "collection": "a collection's new papers", "search": "a saved search's new hits"}
MAX_HOOKS = 20
MAX_URL = 2000
#: Papers in one message.
MAX_PAPERS = 10
MAX_BACKOFF = 300.0
DISCORD_CONTENT = 2000
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Dead(Exception):
    """The chat service refused the message for good (not retried)."""


class Later(Exception):
    """Temporary failures outlasted the retries; the next run tries again."""


# -- addresses ------------------------------------------------------------------------------------
def mask(url: str) -> str:
    """A webhook URL as shown: its scheme and host, and the last four characters."""
    parts = urlsplit(url)
    tail = url[-4:] if len(url) > 12 else ""
    return f"{parts.scheme}://{parts.hostname or '?'}/…{tail}"


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified


def check_url(url: str, allow_private: bool, resolve: bool = True) -> str:
    """A webhook URL fit to post to, or ``ServiceError`` saying why (never echoing the URL)."""
    text = (url or "").strip()
    if not text:
        raise Invalid("Paste the webhook URL the chat service gave you.")
    if len(text) > MAX_URL or _CONTROL.search(text) or " " in text:
        raise Invalid("That webhook URL is too long or holds spaces or control characters.")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Invalid("A webhook URL starts with https:// (or http://) and names a host.")
    if parts.username or parts.password:
        raise Invalid("A webhook URL may not carry a user name or password.")
    if not resolve:
        return text
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)}
    except (OSError, ValueError, UnicodeError):
        raise Invalid(f"The webhook's host {parts.hostname[:80]!r} cannot be resolved.") from None
    if not allow_private and any(_forbidden(a) for a in addresses):
        raise Invalid(
            "That webhook points at a loopback or private network address, which is refused "
            "(an admin may allow it with the webhook_allow_private setting)."
        )
    return text


# -- messages -------------------------------------------------------------------------------------
@dataclass
class Item:
    title: str
    url: str
    authors: str
    why: str = ""


@dataclass
class Message:
    """What a post says, before it takes a service's shape."""

    title: str
    link: str
    items: list[Item] = field(default_factory=list)


def _plain(text: str | None) -> str:
    return _SPACES.sub(" ", _CONTROL.sub(" ", text or "")).strip()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|~])", r"\\\1", text)


def _authors(names: list[str], shown: int = 4) -> str:
    names = [_plain(n) for n in names]
    return ", ".join(names[:shown]) + (" et al." if len(names) > shown else "")


def payload(service: str, msg: Message) -> dict[str, Any]:
    """The JSON body for one service's incoming webhook."""
    if service == "slack":
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": msg.title[:150]}}]
        for it in msg.items:
            line = f"*<{it.url}|{_slack_escape(it.title)[:300]}>*\n{_slack_escape(it.authors)}"
            if it.why:
                line += f"\n_{_slack_escape(it.why)[:300]}_"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{msg.link}|paperboy>"}]})
        fallback = f"{msg.title}: " + "; ".join(it.title for it in msg.items)
        return {"text": fallback[:3000], "blocks": blocks[:50]}
    if service == "mattermost":
        lines = [f"#### {_md_escape(msg.title)}"]
        for it in msg.items:
            why = f" — _{_md_escape(it.why)}_" if it.why else ""
            lines.append(f"- [{_md_escape(it.title)}]({it.url}) · {_md_escape(it.authors)}{why}")
        lines.append(f"\n[paperboy]({msg.link})")
        return {"text": "\n".join(lines)[:16000], "username": "paperboy"}
    if service == "discord":
        embeds = [
            {
                "title": it.title[:256],
                "url": it.url,
                "description": (it.authors + (f"\n*{it.why}*" if it.why else ""))[:4096],
            }
            for it in msg.items[:10]
        ]
        content = f"**{_md_escape(msg.title)}** · <{msg.link}>"
        return {"content": content[:DISCORD_CONTENT], "username": "paperboy", "embeds": embeds}
    if service == "teams":
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": msg.title, "size": "Large", "weight": "Bolder", "wrap": True}
        ]
        for it in msg.items:
            text = f"[{_md_escape(it.title)}]({it.url})\n\n{it.authors}" + (f"\n\n_{it.why}_" if it.why else "")
            body.append({"type": "TextBlock", "text": text, "wrap": True, "separator": True})
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
            "actions": [{"type": "Action.OpenUrl", "title": "Open paperboy", "url": msg.link}],
        }
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
            ],
        }
    if service == "matrix":
        plain = [msg.title] + [f"- {it.title} ({it.authors}) {it.url}" for it in msg.items] + [msg.link]
        rich = [f"<h4>{html.escape(msg.title)}</h4><ul>"]
        for it in msg.items:
            why = f" <em>{html.escape(it.why)}</em>" if it.why else ""
            rich.append(
                f'<li><a href="{html.escape(it.url)}">{html.escape(it.title)}</a> · {html.escape(it.authors)}{why}</li>'
            )
        rich.append(f'</ul><p><a href="{html.escape(msg.link)}">paperboy</a></p>')
        return {
            "msgtype": "m.text",
            "body": "\n".join(plain),
            "format": "org.matrix.custom.html",
            "formatted_body": "".join(rich),
        }
    raise ValueError(f"unknown service {service!r}")


# -- posting --------------------------------------------------------------------------------------
class Poster:
    """Posts one message: SSRF-checked, retried with back-off, failures classified, URL never logged."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.sleep = sleep
        self.transport = httpx.HTTPTransport(retries=0)

    def close(self) -> None:
        self.transport.close()

    def post(self, hook: dict[str, Any], body: dict[str, Any], txn: str) -> None:
        """Deliver or raise ``Dead`` (refused for good) or ``Later`` (temporary, retries spent)."""
        retries = max(0, self.settings.digest_retries)
        error = "no attempt"
        for attempt in range(retries + 1):
            wait = min(self.settings.digest_backoff * 2**attempt, MAX_BACKOFF)
            try:
                status, retry_after = self._once(hook, body, txn)
            except ServiceError as exc:  # the host now resolves to a forbidden address: never post there
                raise Dead(str(exc)) from exc
            except (httpx.TransportError, OSError) as exc:
                error = f"could not reach the chat service ({type(exc).__name__})"
            else:
                if 200 <= status < 300:
                    return
                if status == 429 or status >= 500:
                    error = f"the chat service answered HTTP {status}"
                    if retry_after is not None:
                        wait = min(max(retry_after, 0.0), MAX_BACKOFF)
                else:
                    raise Dead(f"the chat service refused the message: HTTP {status}")
            log.info("webhook %s (%s): temporary failure, attempt %d: %s", hook["id"], hook["name"], attempt + 1, error)
            if attempt < retries:
                self.sleep(wait)
        raise Later(error)

    def _once(self, hook: dict[str, Any], body: dict[str, Any], txn: str) -> tuple[int, float | None]:
        url = check_url(hook["url"], self.settings.webhook_allow_private)
        headers = {"Content-Type": "application/json", "User-Agent": self.settings.user_agent}
        method = "POST"
        if hook["service"] == "matrix":
            method = "PUT"
            base = url.split("?", 1)[0].rstrip("/")
            if not base.endswith("/send/m.room.message"):
                base += "/send/m.room.message"
            url = f"{base}/{quote(txn, safe='')}"
            headers["Authorization"] = f"Bearer {hook.get('secret') or ''}"
        timeout = self.settings.webhook_timeout
        request = httpx.Request(
            method,
            url,
            content=orjson.dumps(body),
            headers=headers,
            extensions={"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}},
        )
        response = self.transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        return response.status_code, _retry_after(response.headers.get("retry-after"))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError):
        return None


# -- hooks and runs -------------------------------------------------------------------------------
@dataclass
class HookRun:
    """What one run did, by hook id."""

    sent: list[int] = field(default_factory=list)
    empty: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("sent", "empty", "done", "busy", "failed", "dead")}


class WebhookService:
    """Making, listing and deleting hooks (with their rules), and the runs that post them."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        keyword: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.hooks_store = store.webhooks
        self.settings = settings
        self.keyword = keyword or (lambda: None)
        self.clock = clock
        self.groups = GroupService(store, settings, clock)

    # -- managing ------------------------------------------------------------------------------
    def _owner_check(self, user: dict[str, Any], group_id: int | None) -> None:
        if group_id is not None:
            group = self.groups.group(user, group_id)
            if group["role"] != "owner":
                raise NotAllowed("Only the group's owners manage its webhooks.")

    def hooks(self, user: dict[str, Any], group_id: int | None = None) -> list[dict[str, Any]]:
        """A user's own hooks, or a group's (owners only), with masked URLs and no secrets."""
        self._owner_check(user, group_id)
        rows = self.hooks_store.of_owner(user_id=user["id"], group_id=group_id)
        return [self._shown(r) for r in rows]

    @staticmethod
    def _shown(row: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if k not in ("url", "secret")}
        out["masked_url"] = mask(row["url"])
        out["service_name"] = SERVICES.get(row["service"], row["service"])
        return out

    def create(
        self,
        user: dict[str, Any],
        *,
        service: str,
        url: str,
        kind: str,
        target: str = "",
        name: str = "",
        secret: str = "",
        group_id: int | None = None,
    ) -> dict[str, Any]:
        """A new hook, every field checked before anything is written."""
        self._owner_check(user, group_id)
        if service not in SERVICES:
            raise ServiceError(f"Choose one of: {', '.join(SERVICES.values())}.")
        if kind not in KINDS:
            raise Invalid("A webhook sends the daily digest, a collection's new papers or a saved search's new hits.")
        checked = check_url(url, self.settings.webhook_allow_private)
        token = (secret or "").strip()
        if service == "matrix":
            if not token or len(token) > 500 or _CONTROL.search(token):
                raise Invalid("Matrix needs the posting account's access token.")
            if "/_matrix/client/" not in checked or "/rooms/" not in checked:
                raise Invalid(
                    "For Matrix, give the room's address: https://HOMESERVER/_matrix/client/v3/rooms/ROOM_ID."
                )
        else:
            token = ""
        what = _plain(target)
        if kind == "collection":
            if not what.isdigit() or len(what) > 12:
                raise Invalid("Choose the collection to post.")
            cid = int(what)
            if group_id is not None:
                self.groups.collection(user, group_id, cid)
            elif self.store.library.collection(user["id"], cid) is None:
                raise NotFound(f"no collection {cid} of yours")
            what = str(cid)
        elif kind == "search":
            if not what or len(what) > 200:
                raise Invalid("Give the saved search (at most 200 characters).")
        else:
            what = ""
        label = _plain(name)[:100] or f"{SERVICES[service]}: {KINDS[kind]}"
        row = {
            "user_id": None if group_id is not None else user["id"],
            "group_id": group_id,
            "name": label,
            "service": service,
            "url": checked,
            "secret": token or None,
            "kind": kind,
            "target": what,
            "created_by": user["id"],
            "created_at": stamp(self.clock()),
        }
        made = self.hooks_store.create(row, MAX_HOOKS)
        if made is None:
            raise Conflict(f"There are {MAX_HOOKS} webhooks here already, the most there can be.")
        found = self.hooks_store.get(made)
        assert found is not None
        return self._shown(found)

    def delete(self, user: dict[str, Any], hook_id: int) -> None:
        hook = self.hooks_store.get(hook_id)
        if hook is None:
            raise NotFound("no such webhook")
        if hook["group_id"] is not None:
            try:
                self._owner_check(user, hook["group_id"])
            except NotFound as exc:
                raise NotFound("no such webhook") from exc
        elif hook["user_id"] != user["id"]:
            raise NotFound("no such webhook")
        self.hooks_store.delete(hook_id)

    # -- what a hook posts ---------------------------------------------------------------------
    def build(self, hook: dict[str, Any], period: str) -> dict[str, Any]:
        """The content of a hook's message for a period: ``{title, ids, why}`` (no ids: nothing new)."""
        posted = self.hooks_store.posted(hook["id"])
        since_stamp = hook.get("last_sent_at") or hook["created_at"]
        since_day = (date.fromisoformat(since_stamp[:10]) - timedelta(days=1)).isoformat()
        ids: list[str] = []
        why: dict[str, str] = {}
        title = hook["name"]
        if hook["kind"] == "collection":
            found = self.store.groups.get(hook["group_id"]) if hook["group_id"] else None
            name = next((c["name"] for c in self._collections(hook) if str(c["id"]) == hook["target"]), "a collection")
            title = f"New in {name}" + (f" ({found['name']})" if found else "")
            ids = [p for p in self.store.groups.items_since(int(hook["target"]), hook["created_at"]) if p not in posted]
        elif hook["kind"] == "search":
            title = f"New papers matching “{hook['target']}”"
            index = self.keyword()
            if index is not None:
                hits = index.search(parse_query(hook["target"], since=since_day), limit=200)
                ids = [h.id for h in hits if h.id not in posted]
        elif hook["group_id"]:
            digest = self.groups.digest(hook["group_id"], period, since_stamp)
            title = f"{digest.group['name']}: papers for {period}"
            for section, papers, reasons in digest.sections:
                for paper in papers:
                    if paper["id"] not in posted and paper["id"] not in why:
                        ids.append(paper["id"])
                        why[paper["id"]] = reasons.get(paper["id"]) or section
        else:
            title = f"Your papers for {period}"
            rows = self.store.follows.of_user(hook["user_id"])
            hits = matches(self.store, rows, since_day, self.keyword())
            for pid in sorted(hits, key=lambda p: hits[p][0], reverse=True):
                if pid not in posted:
                    ids.append(pid)
                    why[pid] = "follows: " + ", ".join(hits[pid][1])
        listed = self.store.activity.listed(ids)[:MAX_PAPERS]
        return {
            "title": title,
            "ids": [p["id"] for p in listed],
            "why": {p["id"]: why.get(p["id"], "") for p in listed},
        }

    def _collections(self, hook: dict[str, Any]) -> list[dict[str, Any]]:
        if hook["group_id"]:
            return self.store.groups.collections(hook["group_id"])
        return self.store.library.collections(hook["user_id"])

    def message(self, content: dict[str, Any]) -> Message:
        site = self.settings.site_url
        papers = self.store.get_papers(list(content.get("ids") or []))
        items = [
            Item(
                _plain(p["title"])[:300],
                f"{site}/papers/{quote(p['id'], safe='/:.-_~')}",
                _authors(p["authors"]),
                _plain((content.get("why") or {}).get(p["id"], ""))[:300],
            )
            for p in papers
        ]
        return Message(_plain(content.get("title") or "paperboy")[:200], site, items)

    # -- a run ---------------------------------------------------------------------------------
    def send_all(self, today: date | None = None, poster: Poster | None = None, only: int | None = None) -> HookRun:
        """Post every hook's message for today (and retry earlier ones left failed), each at most once."""
        today = today or today_in(self.settings, self.clock())
        period = today.isoformat()
        owner = f"{HOST}:{os.getpid()}:{os.urandom(4).hex()}"
        run = HookRun()
        mine = poster or Poster(self.settings)
        try:
            hooks = [h for h in self.hooks_store.every() if only is None or h["id"] == only]
            by_id = {h["id"]: h for h in hooks}
            for row in self.hooks_store.open_rows(list(by_id)):
                if row["period"] < period:
                    self._one(by_id[row["webhook_id"]], row["period"], row, owner, mine, run)
            for hook in hooks:
                self._one(hook, period, self.hooks_store.send_row(hook["id"], period), owner, mine, run)
        finally:
            if poster is None:
                mine.close()
        log.info("webhook run for %s: %s", period, run.summary())
        return run

    def _one(
        self, hook: dict[str, Any], period: str, row: dict[str, Any] | None, owner: str, poster: Poster, run: HookRun
    ) -> None:
        now = self.clock()
        lease = stamp(now + LEASE)
        if row is not None:
            if row["state"] in ("sent", "dead"):
                run.done.append(hook["id"])
                return
            if row["state"] == "claimed" and row["lease_until"] > stamp(now) and not _owner_gone(row["owner"]):
                run.busy.append(hook["id"])
                return
            if not self.hooks_store.take_over(hook["id"], period, row["owner"], row["state"], owner, lease, stamp(now)):
                run.busy.append(hook["id"])
                return
            content = row["content"]
        else:
            content = self.build(hook, period)
            if not content["ids"]:
                run.empty.append(hook["id"])
                return
            claim = {
                "webhook_id": hook["id"],
                "period": period,
                "state": "claimed",
                "owner": owner,
                "lease_until": lease,
                "attempts": 1,
                "content": content,
                "claimed_at": stamp(now),
            }
            if not self.hooks_store.claim(claim):
                run.busy.append(hook["id"])
                return
        body = payload(hook["service"], self.message(content))
        try:
            poster.post(hook, body, f"paperboy-{hook['id']}-{period}")
        except Dead as exc:
            self.hooks_store.release(hook["id"], period, owner, str(exc), state="dead")
            run.dead.append(hook["id"])
            log.warning("webhook %s (%s): refused for good: %s", hook["id"], hook["name"], exc)
            return
        except Later as exc:
            self.hooks_store.release(hook["id"], period, owner, str(exc))
            run.failed.append(hook["id"])
            log.warning("webhook %s (%s): left for the next run: %s", hook["id"], hook["name"], exc)
            return
        except BaseException:
            self.hooks_store.release(hook["id"], period, owner, "the run ended before this message was sent")
            raise
        self.hooks_store.mark_sent(hook["id"], period, content["ids"], stamp(self.clock()))
        run.sent.append(hook["id"])
