"""What a new user meets first, in a real browser: pages that fit a phone, and API docs that work
with no internet.  Uses the fixture site and browser of ``test_browser`` (Debian's chromium)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect
from test_browser import LATEST, PAPERS, SHOTS, Watched, browser, register, site, web  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PHONE = {"width": 390, "height": 844}


def _phone(web: Watched) -> Page:  # noqa: F811 - the fixture of test_browser
    context = web.browser.new_context(base_url=web.base_url, viewport=PHONE, device_scale_factor=1, is_mobile=True)
    context.set_default_timeout(10_000)
    web.contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda exc: web.errors.append(f"{exc} on {page.url}"))
    return page


def _overflow(page: Page) -> list[str]:
    """Elements that stick out past the right edge of the viewport (and the page's own width)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const out = [];
          if (document.documentElement.scrollWidth > width) out.push(`page ${document.documentElement.scrollWidth}px`);
          for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 0.5 && getComputedStyle(el).visibility !== 'hidden') {
              out.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(box.right)}`);
            }
          }
          return out.slice(0, 10);
        }"""
    )


PAGES = [
    "/",
    f"/papers/date/{LATEST}",
    "/papers/week/2026-W27",
    "/trending",
    "/search?q=diffusion",
    "/submit",
    "/login",
    "/register",
    "/status",
    "/forgot",
]


def test_every_page_fits_a_phone_and_keeps_its_search_box(web: Watched) -> None:  # noqa: F811
    page = _phone(web)
    paper = next(iter(PAPERS))
    for path in [*PAGES, f"/papers/{paper}"]:
        page.goto(path)
        assert _overflow(page) == [], path
        expect(page.locator("header .searchbox input")).to_be_visible()
        expect(page.get_by_role("link", name="Sign up")).to_be_in_viewport()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto("/")
    page.screenshot(path=str(SHOTS / "phone-daily.png"), full_page=False)
    register(page)
    for path in ["/", "/account", "/library", "/for-you", f"/papers/{paper}"]:
        page.goto(path)
        assert _overflow(page) == [], path
        expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
    page.locator("header .searchbox input").fill("diffusion")
    page.locator("header .searchbox input").press("Enter")
    expect(page).to_have_url(f"{web.base_url}/search?q=diffusion")


def _loopback_only(page: Page, refused: list[str]) -> None:
    def route(r: Route) -> None:
        host = urlsplit(r.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)


def test_api_docs_work_with_the_network_blocked(web: Watched) -> None:  # noqa: F811
    page = web.page()
    refused: list[str] = []
    _loopback_only(page, refused)
    page.goto("/")
    page.get_by_role("link", name="API").click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("paperboy")
    page.locator(".opblock-summary-path", has_text="/api/daily_papers").first.click()
    expect(page.get_by_role("button", name="Try it out")).to_be_visible()
    page.goto("/redoc")
    expect(page.locator("h1", has_text="paperboy")).to_be_visible()
    expect(page.get_by_text("/api/papers/search").first).to_be_attached()
    assert refused == [], refused
