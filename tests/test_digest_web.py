"""Subscribing through the web app, with mail through a real SMTP server on loopback: the footer
form on every page, double opt-in, signed links, preferences, unsubscribing by POST (the page's
form and RFC 8058's one-click POST without cookies), CSRF, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from support.digest import day, load, mail_settings
from support.mail import Mailbox, smtp_server, text_part

from paperboy.services.delivery import send_digests
from paperboy.services.subscriptions import LINK_KEY
from paperboy.store import Store
from paperboy.web.app import create_app

LINK = re.compile(r"https://papers\.example\.org(/\S+)")


class Web:
    """The app, a browser on it, and the SMTP server its mail goes to."""

    def __init__(self, app, client: TestClient, mailbox: Mailbox) -> None:
        self.app, self.client, self.mailbox = app, client, mailbox

    @property
    def store(self) -> Store:
        return self.app.state.services.store

    def csrf(self, client: TestClient | None = None) -> str:
        client = client or self.client
        if not client.cookies.get("pb_csrf"):
            client.get("/subscribe")
        return client.cookies["pb_csrf"]

    def post(self, url: str, data: dict | None = None, client: TestClient | None = None, **kw):
        client = client or self.client
        return client.post(url, data={**(data or {}), "csrf_token": self.csrf(client)}, follow_redirects=False, **kw)

    def links_in_last_mail(self) -> list[str]:
        return LINK.findall(text_part(self.mailbox.messages[-1]))


@pytest.fixture
def web(settings) -> Iterator[Web]:
    with smtp_server() as (mailbox, port):
        config = mail_settings(settings, port)
        with Store.open(config) as st:
            load(st)
        app = create_app(config, semantic=False, index_at_start=True)
        with TestClient(app, base_url="https://testserver") as client:
            yield Web(app, client, mailbox)


def subscribe_and_confirm(web: Web, email: str = "reader@example.org") -> str:
    """Subscribe by the footer form and open the confirmation link; the preferences path."""
    r = web.post("/subscribe", {"email": email})
    assert r.status_code == 200 and "Check your inbox" in r.text
    (confirm,) = web.links_in_last_mail()
    r = web.client.get(confirm, follow_redirects=False)
    assert r.status_code == 303
    return r.headers["location"]


def test_every_page_has_a_subscribe_form_with_a_csrf_field(web):
    for path in ("/", "/trending", "/search?q=diffusion", "/login", "/papers/2607.00001"):
        page = web.client.get(path).text
        form = page[page.index('<form action="/subscribe"') :]
        form = form[: form.index("</form>")]
        assert 'method="post"' in form and 'name="email"' in form
        assert f'name="csrf_token" value="{web.client.cookies["pb_csrf"]}"' in form


def test_double_opt_in(web):
    r = web.post("/subscribe", {"email": " Reader@Example.org "})
    assert r.status_code == 200 and "Check your inbox" in r.text
    sub = web.store.subscriptions.by_email("reader@example.org")
    assert sub and not sub["confirmed"]
    (msg,) = web.mailbox.messages
    assert msg["To"] == "reader@example.org" and "Confirm" in msg["Subject"]
    (confirm,) = web.links_in_last_mail()
    assert confirm.startswith("/subscribe/confirm/")
    # nothing goes to an unconfirmed address
    assert send_digests(web.store, web.store.settings, day("2026-07-08")).sent == []
    r = web.client.get(confirm, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/subscriptions/")
    assert web.store.subscriptions.by_email("reader@example.org")["confirmed"]
    page = web.client.get(r.headers["location"])
    assert "Your subscription is confirmed" in page.text and "reader@example.org" in page.text
    assert web.client.get(confirm, follow_redirects=False).status_code == 303  # idempotent
    assert send_digests(web.store, web.store.settings, day("2026-07-08")).sent == ["reader@example.org"]


def test_the_form_answers_the_same_and_does_not_mail_bomb(web):
    manage = subscribe_and_confirm(web)
    sent = len(web.mailbox.messages)
    r = web.post("/subscribe", {"email": "reader@example.org"})
    assert r.status_code == 200 and "Check your inbox" in r.text
    assert len(web.mailbox.messages) == sent  # a note went out just now: not again within minutes
    service = web.app.state.services.subscribing
    service.clock = lambda: datetime.now(UTC) + timedelta(hours=1)
    web.post("/subscribe", {"email": "reader@example.org"})
    note = web.mailbox.messages[-1]
    assert "already subscribed" in text_part(note) and web.links_in_last_mail() == [manage.split("?")[0]]


def test_bad_addresses_and_missing_csrf_are_refused(web):
    assert web.post("/subscribe", {"email": "not an address"}).status_code == 400
    assert web.client.post("/subscribe", data={"email": "a@example.org"}).status_code == 403
    assert web.store.subscriptions.every() == []


def test_links_are_signed_and_bound_to_their_purpose(web, settings):
    manage = subscribe_and_confirm(web)
    token = manage.split("/")[2].split("?")[0]
    sub_id, sig = token.split("-", 1)
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    for bad in (f"{sub_id}-{flipped}", f"{int(sub_id) + 1}-{sig}", "1-" + "A" * 43, "../../etc", "x" * 500):
        assert web.client.get(f"/subscriptions/{bad}").status_code == 404
        assert web.client.get(f"/unsubscribe/{bad}").status_code == 404
    assert web.client.get(f"/unsubscribe/{token}").status_code == 404  # a preferences token cannot unsubscribe
    assert web.client.get(f"/subscribe/confirm/{token}").status_code == 404
    stored = web.store.secrets.get(LINK_KEY)  # in the store, where every replica finds it; no file
    assert stored and len(bytes.fromhex(stored)) == 32
    assert not (web.app.state.services.settings.home / "secret.key").exists()


def test_a_link_mailed_by_one_replica_opens_on_another(web, tmp_path):
    """Two web apps with homes of their own over one store (replicas): one signs, the other checks."""
    manage = subscribe_and_confirm(web)
    other = web.app.state.services.settings.with_overrides(home=tmp_path / "replica-2")
    if not other.database_url:  # SQLite: the first home's file, named by URL
        other = other.with_overrides(database_url=web.app.state.services.settings.db_url)
    replica = create_app(other, semantic=False, index_at_start=False)
    with TestClient(replica, base_url="https://testserver") as client:
        r = client.get(manage)
        assert r.status_code == 200 and "reader@example.org" in r.text


def test_an_old_homes_secret_key_is_kept(settings):
    """A home from before the key moved into the store keeps its key: links already mailed still work."""
    from paperboy.services.subscriptions import Subscribing

    old = "ab" * 32
    settings.home.mkdir(parents=True)
    (settings.home / "secret.key").write_text(old + "\n")
    with Store.open(settings) as st:
        assert Subscribing(st, settings).signer.secret == bytes.fromhex(old)
        assert st.secrets.get(LINK_KEY) == old


def test_preferences(web):
    manage = subscribe_and_confirm(web)
    path = manage.split("?")[0]
    r = web.post(
        path,
        {
            "frequency": "weekly",
            "sections": ["categories", "searches"],
            "categories": "cs.CL, quant-ph",
            "searches": "robot grasping\n\n<script>alert(1)</script>\n",
            "items": "3",
        },
    )
    assert r.status_code == 200 and "Saved" in r.text
    sub = web.store.subscriptions.by_email("reader@example.org")
    assert (sub["frequency"], sub["sections"], sub["items"]) == ("weekly", ["categories", "searches"], 3)
    assert sub["categories"] == ["cs.CL", "quant-ph"]
    assert sub["searches"] == ["robot grasping", "<script>alert(1)</script>"]
    page = web.client.get(path).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    bad_values = [
        ({"categories": "cs.LG; DROP TABLE"}, "Not an arXiv category"),
        ({"items": "500"}, "between 1 and 20"),
        ({"frequency": "hourly"}, "daily or weekly"),
        ({"sections": ["spam"]}, "Unknown section"),
        ({"sections": []}, "at least one section"),
    ]
    for bad, error in bad_values:
        r = web.post(path, {"frequency": "daily", "items": "5", "sections": ["trending"], **bad})
        assert r.status_code == 400 and 'class="error"' in r.text and error in r.text
    assert web.store.subscriptions.by_email("reader@example.org")["frequency"] == "weekly"
    assert web.client.post(path, data={"frequency": "daily"}).status_code == 403  # no CSRF token


def test_unsubscribe_page_asks_first_and_the_form_needs_csrf(web):
    subscribe_and_confirm(web)
    sub = web.store.subscriptions.by_email("reader@example.org")
    unsubscribe = web.app.state.services.subscribing.links(sub).unsubscribe.removeprefix("https://papers.example.org")
    page = web.client.get(unsubscribe)
    assert page.status_code == 200 and "reader@example.org" in page.text and 'method="post"' in page.text
    assert web.store.subscriptions.by_email("reader@example.org")  # GET changed nothing
    assert web.client.post(unsubscribe, data={}).status_code == 403
    assert web.client.post(unsubscribe, data={"List-Unsubscribe": "yes"}).status_code == 403
    assert web.store.subscriptions.by_email("reader@example.org")
    r = web.post(unsubscribe)
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    assert web.store.subscriptions.by_email("reader@example.org") is None
    assert web.client.get(unsubscribe).status_code == 404


def test_one_click_unsubscribe_from_the_digest_header(web):
    """RFC 8058: the mail provider POSTs ``List-Unsubscribe=One-Click`` with no cookie at all."""
    subscribe_and_confirm(web)
    send_digests(web.store, web.store.settings, day("2026-07-08"))
    digest = web.mailbox.messages[-1]
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = digest["List-Unsubscribe"].strip("<>")
    path = url.removeprefix("https://papers.example.org")
    assert path.startswith("/unsubscribe/")
    with TestClient(
        web.app, base_url="https://testserver"
    ) as provider:  # a stranger's client: no cookies, no CSRF token
        r = provider.post(
            path, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert r.status_code == 200
        assert web.store.subscriptions.by_email("reader@example.org") is None
        assert provider.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    # and no more digests
    assert send_digests(web.store, web.store.settings, day("2026-07-09")).sent == []
    assert sum(1 for m in web.mailbox.messages if m["Subject"].startswith("paperboy:")) == 1


def test_resubscribing_after_unsubscribing_gets_new_links(web):
    manage = subscribe_and_confirm(web)
    sub = web.store.subscriptions.by_email("reader@example.org")
    unsubscribe = web.app.state.services.subscribing.links(sub).unsubscribe.removeprefix("https://papers.example.org")
    web.post(unsubscribe)
    service = web.app.state.services.subscribing
    service.clock = lambda: datetime.now(UTC) + timedelta(hours=1)
    new_manage = subscribe_and_confirm(web)
    assert new_manage != manage
    assert web.client.get(manage.split("?")[0]).status_code == 404
