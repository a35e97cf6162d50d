"""A lab's layer in a real browser (Debian's Chromium through Playwright) under a strict
Content-Security-Policy: follow an author from a paper card, create a group, invite a second user
by link, save into a shared collection, write a private note, and a non-member is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from support.browser import chromium, needs_chromium
from support.servers import serving

needs_chromium()

from playwright.sync_api import Browser, Page, expect  # noqa: E402
from support.backend import fresh_url  # noqa: E402
from support.servers import free_port  # noqa: E402
from support.web import corpus  # noqa: E402

from paperboy.config import load_settings  # noqa: E402
from paperboy.services.accounts import Accounts  # noqa: E402
from paperboy.store import Store  # noqa: E402
from paperboy.web.app import create_app  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
expect.set_options(timeout=10_000)
PASSWORD = "correct horse battery"
#: Scripts from the site only, no inline scripts or handlers (what issue 13's headers will send).
CSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"


class StrictCSP:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        async def with_header(message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"content-security-policy", CSP.encode()))
            await send(message)

        await self.app(scope, receive, with_header if scope["type"] == "http" else send)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("lab-browser")
    port = free_port()
    settings = load_settings(home, base_url=f"http://127.0.0.1:{port}", database_url=fresh_url())
    with Store.open(settings) as store:
        store.ingest("jsonl", "fixture", corpus())
        Accounts(store, settings).register("editor", "editor@example.org", PASSWORD)
    app = create_app(settings, semantic=False, index_at_start=True)
    with serving(StrictCSP(app), port) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _script_blocked(text: str) -> bool:
    """A script the page needs was refused by the policy (inline styles of shared pages are issue 13's)."""
    return "Content Security Policy" in text and ("Executing inline" in text or "Refused to load the script" in text)


def _page(browser: Browser, site: str, problems: list[str]) -> Page:
    page = browser.new_context(base_url=site).new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if _script_blocked(msg.text) else None,
    )
    page.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
    return page


def _register(page: Page, name: str) -> None:
    page.goto("/register")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("header a.who")).to_have_text(name)


def test_follow_group_invite_share_note_and_refuse(browser, site):
    problems: list[str] = []
    owner = _page(browser, site, problems)
    _register(owner, "olga")

    # follow an author from a paper card
    owner.goto("/papers/date/2026-07-01")
    card = owner.locator("article.card").first
    card.get_by_role("link", name="Follow…").click()
    author = owner.locator("table.unmatched a").first.inner_text()
    owner.get_by_role("button", name=f"Follow {author}").click()
    expect(owner.get_by_role("button", name=f"Unfollow {author}")).to_be_visible()
    owner.get_by_role("link", name="Following", exact=True).click()
    expect(owner.locator(".follows")).to_contain_text(author)
    expect(owner.locator("article.card").first).to_be_visible()

    # create a group and a shared collection, make an invitation link
    owner.get_by_role("link", name="Groups").click()
    owner.get_by_label("Group name").fill("Vision lab")
    owner.get_by_role("button", name="Create group").click()
    expect(owner.get_by_role("heading", name="Vision lab")).to_be_visible()
    owner.get_by_placeholder("e.g. Friday's papers").fill("Friday's papers")
    owner.get_by_role("button", name="Create collection").click()
    expect(owner.get_by_role("heading", name="Friday's papers")).to_be_visible()
    group_url = re.sub(r"/collections/.*", "", owner.url)
    owner.goto(group_url)
    owner.get_by_role("button", name="Make an invitation link").click()
    link = owner.locator("code.invite").inner_text()

    # a second user joins by the link and saves a paper into the shared collection
    member = _page(browser, site, problems)
    _register(member, "max")
    member.goto(link)
    member.get_by_role("button", name="Join the group").click()
    expect(member.get_by_role("heading", name="Vision lab")).to_be_visible()
    member.goto("/papers/2607.00003")
    member.get_by_role("link", name="Group…").first.click()
    member.get_by_role("button", name="Save to Friday's papers").click()
    expect(member.locator("article.card")).to_have_count(1)
    expect(member.locator("article.card")).to_contain_text("saved by max")

    # a private note on a saved paper
    member.goto("/papers/2607.00003")
    member.get_by_role("button", name="☆ Save").first.click()
    member.goto("/papers/2607.00003")
    member.get_by_label("Only you see it").fill("Compare with **our** baseline")
    member.get_by_role("button", name="Save note").click()
    expect(member.locator(".note-text strong")).to_have_text("our")

    # a non-member is refused the group's pages
    outsider = _page(browser, site, problems)
    _register(outsider, "eve")
    response = outsider.goto(group_url)
    assert response is not None and response.status == 404
    response = outsider.goto(group_url + "/week")
    assert response is not None and response.status == 404
    outsider.goto("/papers/2607.00003")
    expect(outsider.locator(".note-text")).to_have_count(0)
    assert not problems, problems
