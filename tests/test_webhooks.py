"""Chat webhooks against a real HTTP server on loopback: each service's JSON shape, the exactly-once
send log (a second run sends nothing, a taken-over claim resends the same content), retries with
back-off, permanent refusals, the SSRF guard, masked URLs and URLs never in the logs."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from support.loopback import Loopback, Reply
from support.web import corpus

from paperboy.services.accounts import stamp
from paperboy.services.errors import ServiceError
from paperboy.services.webhooks import Poster, WebhookService, check_url, mask

DAY = date(2026, 7, 10)
OK = Reply(b"ok", content_type="text/plain")


@pytest.fixture
def hooks(settings, store):
    from paperboy.services.accounts import Accounts

    settings = settings.with_overrides(webhook_allow_private=True, digest_backoff=0.0, digest_retries=2)
    store.ingest("jsonl", "fixture", corpus())
    user = Accounts(store, settings).register("ada", "ada@example.org", "correct horse battery")
    svc = WebhookService(store, settings)
    store.library.ensure_collection(user["id"], "Saved", "2026-07-01T00:00:00Z")
    return svc, user, settings


def _saved(svc, user, *ids):
    cid = svc.store.library.collection_by_name(user["id"], "Saved")["id"]
    svc.store.library.add_items(cid, list(ids), stamp(datetime.now(UTC) + timedelta(seconds=1)))
    return cid


def _hook(svc, user, srv, service, cid, **kw):
    url = srv.url("/_matrix/client/v3/rooms/!room:example.org" if service == "matrix" else f"/hooks/{service}/T0K3N")
    return svc.create(
        user, service=service, url=url, kind="collection", target=str(cid), secret=kw.pop("secret", ""), **kw
    )


def _sleeps():
    waits: list[float] = []
    return waits, waits.append


@pytest.mark.parametrize("service", ["slack", "mattermost", "discord", "teams", "matrix"])
def test_each_service_gets_its_own_shape_once(hooks, service):
    svc, user, settings = hooks
    cid = _saved(svc, user, "2607.00001", "2607.00002")
    with Loopback(lambda seen: OK) as srv:
        hook = _hook(svc, user, srv, service, cid, secret="syt_matrix_token" if service == "matrix" else "")
        run = svc.send_all(DAY, Poster(settings, sleep=lambda s: None))
        again = svc.send_all(DAY, Poster(settings, sleep=lambda s: None))
        seen = srv.requests
    assert run.sent == [hook["id"]] and again.done == [hook["id"]] and len(seen) == 1
    body = orjson.loads(seen[0].body)
    titles = [p["title"] for p in svc.store.get_papers(["2607.00001", "2607.00002"])]
    if service == "slack":
        assert seen[0].method == "POST" and body["blocks"][0]["type"] == "header"
        assert all(any(t in b["text"]["text"] for b in body["blocks"][1:3]) for t in titles) and body["text"]
    elif service == "mattermost":
        assert body["username"] == "paperboy" and all(t.split(":")[0] in body["text"] for t in titles)
    elif service == "discord":
        assert (
            len(body["content"]) <= 2000
            and [e["title"] for e in body["embeds"]] == titles[::-1]
            or sorted(e["title"] for e in body["embeds"]) == sorted(titles)
        )
        assert all(e["url"].startswith("http://127.0.0.1:8000/papers/") for e in body["embeds"])
    elif service == "teams":
        attachment = body["attachments"][0]
        assert body["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.4" and card["body"][0]["type"] == "TextBlock"
    else:
        assert seen[0].method == "PUT"
        assert (
            seen[0].path
            == f"/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/paperboy-{hook['id']}-{DAY}"
        )
        assert seen[0].headers["authorization"] == "Bearer syt_matrix_token"
        assert body["msgtype"] == "m.text" and body["format"] == "org.matrix.custom.html"
        assert "<a href=" in body["formatted_body"] and titles[0] in body["body"]
    row = svc.store.webhooks.send_row(hook["id"], DAY.isoformat())
    assert row["state"] == "sent" and svc.store.webhooks.posted(hook["id"]) == {"2607.00001", "2607.00002"}


def test_temporary_failures_are_retried_with_back_off_then_left_for_the_next_run(hooks):
    svc, user, settings = hooks
    cid = _saved(svc, user, "2607.00001")
    waits, sleep = _sleeps()
    replies = [Reply(b"busy", status=503), Reply(b"slow down", status=429, headers={"Retry-After": "7"}), OK]
    with Loopback(replies) as srv:
        hook = _hook(svc, user, srv, "slack", cid)
        run = svc.send_all(DAY, Poster(settings, sleep=sleep))
    assert run.sent == [hook["id"]] and len(srv.requests) == 3
    assert waits == [0.0, 7.0]  # back-off (digest_backoff 0 here), then the server's Retry-After

    _saved(svc, user, "2607.00002")
    tomorrow = date(2026, 7, 11)
    with Loopback([Reply(b"down", status=502)] * 3 + [OK]) as srv:
        hook2 = _hook(svc, user, srv, "discord", cid)
        first = svc.send_all(tomorrow, Poster(settings, sleep=lambda s: None), only=hook2["id"])
        assert first.failed == [hook2["id"]]
        row = svc.store.webhooks.send_row(hook2["id"], tomorrow.isoformat())
        assert row["state"] == "failed" and "502" in row["error"]
        second = svc.send_all(tomorrow, Poster(settings, sleep=lambda s: None), only=hook2["id"])
        assert second.sent == [hook2["id"]] and len(srv.requests) == 4
        # the retry carried the content built first
        assert orjson.loads(srv.requests[3].body) == orjson.loads(srv.requests[0].body)


def test_a_refusal_is_final_and_a_crashed_claim_is_taken_over(hooks):
    svc, user, settings = hooks
    cid = _saved(svc, user, "2607.00001")
    with Loopback([Reply(b"no such hook", status=404)]) as srv:
        hook = _hook(svc, user, srv, "mattermost", cid)
        run = svc.send_all(DAY, Poster(settings, sleep=lambda s: None))
        assert run.dead == [hook["id"]] and svc.send_all(DAY, Poster(settings)).done == [hook["id"]]
        assert len(srv.requests) == 1
    assert "404" in svc.store.webhooks.get(hook["id"])["last_error"]

    # a sender that died holding a claim on this host: the next run takes it over and sends its content
    with Loopback(lambda seen: OK) as srv:
        other = _hook(svc, user, srv, "teams", cid)
        content = {"title": "Built before the crash", "ids": ["2607.00001"], "why": {}}
        claim = {
            "webhook_id": other["id"],
            "period": DAY.isoformat(),
            "state": "claimed",
            "owner": f"{__import__('socket').gethostname()}:999999:dead",
            "lease_until": "2999-01-01T00:00:00Z",
            "attempts": 1,
            "content": content,
            "claimed_at": "2026-07-10T07:00:00Z",
        }
        assert svc.store.webhooks.claim(claim)
        run = svc.send_all(DAY, Poster(settings, sleep=lambda s: None), only=other["id"])
        assert run.sent == [other["id"]]
        assert "Built before the crash" in srv.requests[0].body.decode()


def test_urls_are_checked_masked_and_never_logged(hooks, caplog):
    svc, user, settings = hooks
    cid = _saved(svc, user, "2607.00001")
    strict = WebhookService(svc.store, settings.with_overrides(webhook_allow_private=False))
    for bad, why in [
        ("ftp://example.org/hook", "https://"),
        ("javascript:alert(1)", "https://"),
        ("https://user:pw@example.org/x", "user name"),
        ("", "Paste"),
    ]:
        with pytest.raises(ServiceError, match=why):
            svc.create(user, service="slack", url=bad, kind="digest")
    with pytest.raises(ServiceError, match="loopback or private"):
        strict.create(user, service="slack", url="http://127.0.0.1:9/hooks/x", kind="digest")
    with pytest.raises(ServiceError, match="loopback or private"):
        check_url("http://10.1.2.3/hook", allow_private=False)
    with pytest.raises(ServiceError, match="Matrix needs"):
        svc.create(user, service="matrix", url="http://127.0.0.1:9/_matrix/client/v3/rooms/!r:x", kind="digest")
    with pytest.raises(ServiceError, match="Choose one of"):
        svc.create(user, service="irc", url="https://example.org/x", kind="digest")
    assert svc.store.webhooks.every() == []  # nothing half-written

    caplog.set_level(logging.DEBUG)
    secret_path = "/hooks/slack/SECRET-PATH-4242"
    with Loopback([Reply(b"x", status=500)] * 3) as srv:
        hook = svc.create(user, service="slack", url=srv.url(secret_path), kind="collection", target=str(cid))
        assert "SECRET-PATH" not in str(hook) and hook["masked_url"].endswith("4242")
        assert mask(srv.url(secret_path)).startswith("http://127.0.0.1/…")
        svc.send_all(DAY, Poster(settings, sleep=lambda s: None))
    assert "SECRET-PATH" not in caplog.text and "webhook" in caplog.text
    assert "SECRET-PATH" not in (svc.store.webhooks.get(hook["id"])["last_error"] or "")

    # a host that resolves to a private address at send time is never contacted
    with Loopback(lambda seen: OK) as srv:
        hook = svc.create(user, service="slack", url=srv.url("/hooks/later"), kind="collection", target=str(cid))
        run = strict.send_all(DAY, Poster(strict.settings, sleep=lambda s: None), only=hook["id"])
        assert run.dead == [hook["id"]] and srv.requests == []


def test_user_digest_and_search_hooks_post_what_is_new(hooks):
    from paperboy.indices.keyword import KeywordIndex

    svc, user, settings = hooks
    index = KeywordIndex.for_settings(settings)
    index.catch_up(svc.store)
    index.reload()
    svc.keyword = lambda: index
    svc.store.follows.follow(user["id"], "author", "kurt godel", "Kurt Gödel", "2026-07-01T00:00:00Z", 10)
    with Loopback(lambda seen: OK) as srv:
        digest = svc.create(user, service="mattermost", url=srv.url("/d"), kind="digest")
        search = svc.create(user, service="mattermost", url=srv.url("/s"), kind="search", target='"quantum error"')
        for hook in (digest, search):  # as if made a while ago: their window reaches back into the corpus
            with svc.store.engine.begin() as conn:
                from sqlalchemy import update

                from paperboy.store import schema as t

                conn.execute(
                    update(t.webhooks).where(t.webhooks.c.id == hook["id"]).values(created_at="2026-06-20T00:00:00Z")
                )
        run = svc.send_all(DAY, Poster(settings, sleep=lambda s: None))
        bodies = {r.path: orjson.loads(r.body)["text"] for r in srv.requests}
    assert sorted(run.sent) == sorted([digest["id"], search["id"]])
    assert "Kurt Gödel" in bodies["/d"] and "Quantum error correction" in bodies["/s"]
    posted = svc.store.webhooks.posted(digest["id"])
    assert posted and all("Kurt Gödel" in p["authors"] for p in svc.store.get_papers(list(posted)))
