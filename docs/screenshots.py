"""The README's screenshots: a served paperboy over the real corpus, seen in Debian's chromium.

Run against a home that holds the corpus with its vectors, for example a copy of ``make run``'s:

    paperboy --home HOME users add reader reader@example.org --password 'a long password'
    PYTHONPATH=. python docs/screenshots.py HOME http://127.0.0.1:8765 docs/screenshots

(``paperboy --home HOME serve --port 8765 --no-index`` running).  The reader's library is filled
from two searches, so ``/for-you`` has a taste to show.  The map and topic pages need the home's
topics built (``paperboy --home HOME topics rebuild``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from paperboy.config import load_settings
from paperboy.services.search import SearchService
from paperboy.store import Store

USER, PASSWORD = "reader", "a long password"
INTERESTS = ["diffusion language models", "retrieval augmented generation evaluation"]
PAGES = {
    "daily": "/",
    "search": "/search?q=speculative+decoding+cat%3Acs.CL",
    "for-you": "/for-you",
}
#: Pages of topics (issue 17): the map with a search on it, and the topic growing fastest.
MAP_SEARCH = "speculative decoding"


def fill_library(home: Path) -> str:
    """Save the top papers of each interest into the reader's library; returns one paper's id."""
    settings = load_settings(home)
    store = Store.open(settings)
    search = SearchService.open(settings, store)
    uid = store.people.user_by_name(USER)["id"]
    saved = store.library.ensure_collection(uid, "Saved", "2026-06-01T00:00:00Z")
    first = ""
    for text in INTERESTS:
        ids = [r.id for r in search.search(text, mode="hybrid", limit=8, until="2026-06-20").results]
        store.library.add_items(saved, ids, "2026-06-01T00:00:00Z")
        first = first or ids[0]
    store.close()
    return first


def main(home: str, base: str, out: str) -> None:
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    paper = fill_library(Path(home))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{base}/login")
        page.fill("input[name=login]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button")
        for name, path in {**PAGES, "paper": f"/papers/{paper}"}.items():
            page.goto(base + path)
            page.screenshot(path=str(target / f"{name}.png"))
        wide = browser.new_page(viewport={"width": 1440, "height": 900})
        wide.goto(f"{base}/map?q={MAP_SEARCH.replace(' ', '+')}")
        wide.wait_for_selector("#map[data-drawn]", timeout=60_000)
        wide.wait_for_selector("#map-results li", timeout=30_000)
        wide.screenshot(path=str(target / "map.png"))
        wide.goto(f"{base}/map")
        wide.wait_for_selector("#map[data-drawn]", timeout=60_000)
        wide.screenshot(path=str(target / "map-all.png"))
        rising = page.request.get(f"{base}/api/topics/rising?limit=1").json()
        topic = rising[0]["id"] if rising else page.request.get(f"{base}/api/topics").json()["topics"][0]["id"]
        page.goto(f"{base}/topics/{topic}")
        page.screenshot(path=str(target / "topic.png"))
        page.goto(f"{base}/topics?sort=growth")
        page.screenshot(path=str(target / "topics.png"))
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
