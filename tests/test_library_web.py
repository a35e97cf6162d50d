"""The library and recommendations over HTTP: card buttons, saving and "not interested" (CSRF,
sign-in, ownership), the library page with import and export, /for-you with its explanations and
cold start, the private Atom feed, ``GET /api/for-you`` and the stateless ``POST /api/recommendations``."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from support.recs import old, recent, running_app, sign_up, topic_of
from support.web import api_token, csrf, post

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def client(settings, fast_hashes):  # noqa: F811 - the fixture
    with running_app(settings) as c:
        yield c


def _cards(html: str) -> list[str]:
    return re.findall(r'<article class="card" id="p-([^"]+)"', html)


def test_buttons_for_the_signed_in_only(client):
    assert "☆ Save" not in client.get("/").text and "Not interested" not in client.get("/").text
    sign_up(client, "ada")
    page = client.get("/").text
    assert page.count("☆ Save") == len(_cards(page)) and "Not interested" in page
    assert 'href="/for-you"' in page and 'href="/library"' in page


def test_save_and_not_interested_need_csrf_and_an_account(client, settings):
    anonymous = post(client, f"/papers/{recent(0)}/save")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    sign_up(client, "ada")
    forged = client.post(f"/papers/{recent(0)}/save", data={"csrf_token": "x" * 40}, follow_redirects=False)
    assert forged.status_code == 403
    assert client.get("/library").text.count('class="card"') == 0
    done = post(client, f"/papers/{recent(0)}/save", headers={"referer": "http://testserver/trending?window=week"})
    assert done.status_code == 303 and done.headers["location"] == "/trending?window=week"
    assert f'<a class="saved" href="/papers/{recent(0)}/save"' in client.get(f"/papers/{recent(0)}").text
    assert post(client, "/papers/9999.99999/save").status_code == 404
    hidden = post(client, f"/papers/{recent(1)}/not-interested")
    assert hidden.status_code == 303
    assert "Undo “not interested”" in client.get(f"/papers/{recent(1)}").text
    assert recent(1) in _cards(client.get("/library").text)  # listed under "Not interested"
    post(client, f"/papers/{recent(1)}/not-interested", {"undo": "1"})
    assert "Undo “not interested”" not in client.get(f"/papers/{recent(1)}").text
    # signing in after pressing a button lands on the paper
    assert client.get(f"/papers/{recent(1)}/not-interested", follow_redirects=False).headers["location"] == (
        f"/papers/{recent(1)}"
    )


def test_save_page_collections_and_library_page(client):
    sign_up(client, "ada")
    post(client, f"/papers/{recent(0)}/save")
    page = client.get(f"/papers/{recent(0)}/save")
    assert page.status_code == 200 and "Saved" in page.text and ">Remove<" in page.text
    made = post(client, f"/papers/{recent(0)}/save", {"new": "Proteins", "back": f"/papers/{recent(0)}/save"})
    assert made.headers["location"] == f"/papers/{recent(0)}/save"
    library = client.get("/library").text
    assert "Saved <span>1</span>" in library and "Proteins <span>1</span>" in library
    cid = int(re.search(r'href="/library\?c=(\d+)"[^>]*>Proteins', library).group(1))
    assert post(client, "/library/collections", {"name": "proteins"}).status_code == 409
    assert post(client, "/library/collections", {"name": ""}).status_code == 400
    assert post(client, f"/library/collections/{cid}/rename", {"name": "Folding"}).status_code == 303
    assert "Folding <span>1</span>" in client.get("/library").text
    post(client, f"/library/collections/{cid}/remove", {"paper": recent(0)})
    assert "Folding <span>0</span>" in client.get(f"/library?c={cid}").text
    assert post(client, f"/library/collections/{cid}/delete").status_code == 303
    assert "Folding" not in client.get("/library").text
    assert client.get(f"/library?c={cid}").status_code == 404


def test_collections_are_private(client, settings):
    sign_up(client, "ada")
    post(client, f"/papers/{recent(0)}/save")
    cid = int(re.search(r'href="/library\?c=(\d+)"', client.get("/library").text).group(1))
    client.cookies.clear()
    sign_up(client, "bob")
    assert client.get(f"/library?c={cid}").status_code == 404
    assert client.get(f"/library/collections/{cid}/export.bib").status_code == 404
    assert post(client, f"/library/collections/{cid}/delete").status_code == 404
    assert post(client, f"/library/collections/{cid}/rename", {"name": "mine"}).status_code == 404
    assert post(client, f"/papers/{recent(1)}/save", {"collection": str(cid)}).status_code == 404
    client.cookies.clear()
    assert client.get("/library", follow_redirects=False).status_code == 303


def _upload(client, name: str, data: bytes, **fields):
    return client.post(
        "/library/import",
        data={"csrf_token": csrf(client), **fields},
        files={"file": (name, data, "application/octet-stream")},
    )


def test_import_export_round_trip_over_http(client):
    sign_up(client, "ada")
    bib = (
        f"@article{{a, title = {{x}}, eprint = {{{recent(0)}}}}}\n"
        "@article{b, title = {Graph neural networks for molecules: study 2607.10001}}\n"
        "@article{c, title = {Nobody has this}, doi = {10.9/none}}\n"
        "@article{d, title = {broken\n"
    )
    page = _upload(client, "mine.bib", bib.encode(), collection="From Zotero")
    assert page.status_code == 200
    text = page.text
    assert "Imported 3 entries from a bibtex file into “From Zotero”" in text
    assert "2 matched (1 by arXiv id, 1 by title)" in text and "2 newly added" in text
    assert "line 3 (c)" in text and "Nobody has this" in text and "doi:10.9/none" in text  # unmatched, with its place
    assert "Could not be read" in text and "line 4" in text
    cid = int(re.search(r'href="/library\?c=(\d+)" class="on"', text).group(1))
    exported = client.get(f"/library/collections/{cid}/export.bib")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/x-bibtex")
    assert exported.headers["content-disposition"] == 'attachment; filename="from-zotero.bib"'
    assert f"eprint = {{{recent(0)}}}" in exported.text
    again = _upload(client, "from-zotero.bib", exported.content, collection="Copy")
    assert "2 matched (2 by arXiv id)" in again.text and "0 not found here" in again.text


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("paper.pdf", b"%PDF\x00\x00binary", "binary file"),
        ("notes.txt", b"hello there", "cannot tell what kind of file"),
        ("x.ris", b"TY  - JOUR\nTI  - no end\n", "no complete RIS record"),
        ("x.csv", b"a,b\n1,2\n", "no Title column"),
    ],
)
def test_malformed_uploads_are_explained(client, name, data, message):
    sign_up(client, "ada")
    page = _upload(client, name, data)
    assert page.status_code == 400 and message in page.text and "Traceback" not in page.text
    assert "No collections yet" in page.text


def test_upload_without_file_or_csrf(client):
    sign_up(client, "ada")
    assert client.post("/library/import", data={"csrf_token": csrf(client)}).status_code == 400
    forged = client.post("/library/import", data={"csrf_token": "y" * 40}, files={"file": ("x.bib", b"@misc{a,}")})
    assert forged.status_code == 403


def test_for_you_cold_start_then_explained(client):
    sign_up(client, "ada")
    cold = client.get("/for-you")
    assert cold.status_code == 200 and "Tell paperboy what you like" in cold.text and "Popular this week" in cold.text
    found = client.get("/for-you", params={"q": "quantum error correction"})
    assert "Found for “quantum error correction”" in found.text
    assert all(topic_of(pid) == 4 for pid in _cards(found.text)[:3])
    post(client, f"/papers/{old(4)}/save")  # picked from the search
    post(client, f"/papers/{recent(4)}/not-interested")
    page = client.get("/for-you").text
    ids = _cards(page)
    assert ids and all(topic_of(pid) == 4 for pid in ids[:10]) and recent(4) not in ids
    assert f'Like <a href="/papers/{old(4)}">Quantum error correction: study {old(4)}</a>' in page
    assert 'shares <span class="terms">' in page and "quantum" in page
    assert old(4) not in ids  # from May: outside the week, and saved
    post(client, f"/papers/{recent(4, 1)}/save")
    assert recent(4, 1) not in _cards(client.get("/for-you").text)
    assert recent(4, 1) in _cards(client.get("/for-you?seen=1").text)  # asked for: saved ones too


def test_private_atom_feed(client, settings):
    sign_up(client, "ada")
    post(client, f"/papers/{old(3)}/save")
    made = post(client, "/for-you/feed-link")
    url = re.search(r'<code class="token">([^<]+)</code>', made.text).group(1)
    assert url.startswith("http://testserver/feeds/for-you.atom?token=pf_")  # the address the page was asked at
    path = url[len("http://testserver") :]
    client.cookies.clear()  # the feed works without the session: the token is the credential
    feed = client.get(path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    assert feed.headers["cache-control"].startswith("private")
    root = ElementTree.fromstring(feed.content)
    entries = root.findall(f"{ATOM}entry")
    assert entries and root.find(f"{ATOM}title").text == "paperboy: for ada"
    first = entries[0].find(f"{ATOM}link").get("href")
    assert topic_of(first.rsplit("/", 1)[-1]) == 3
    assert client.get("/feeds/for-you.atom?token=pf_wrong").status_code == 404
    assert client.get("/feeds/for-you.atom").status_code == 404
    # a new link replaces the old one
    client.post("/login", data={"login": "ada", "password": "correct horse battery", "csrf_token": csrf(client)})
    post(client, "/for-you/feed-link")
    assert client.get(path).status_code == 404


def test_api_for_you_needs_a_token(client):
    assert client.get("/api/for-you").status_code == 401
    sign_up(client, "ada")
    token = api_token(client)
    post(client, f"/papers/{old(1)}/save")
    auth = {"Authorization": f"Bearer {token}"}
    answer = client.get("/api/for-you", params={"limit": 5}, headers=auth)
    assert answer.status_code == 200
    body = answer.json()
    items = body["recommendedPapers"]
    assert len(items) == 5 and all(topic_of(i["paper"]["id"]) == 1 for i in items)
    assert items[0]["why"]["closestPapers"][0]["id"] == old(1) and items[0]["why"]["terms"]
    assert body["since"] == "2026-07-04" and body["until"] == "2026-07-10"
    assert client.get("/api/for-you", params={"since": "nope"}, headers=auth).status_code == 400
    assert client.get("/api/for-you", headers={"Authorization": "Bearer pb_wrong"}).status_code == 401


def test_stateless_recommendations(client):
    answer = client.post(
        "/api/recommendations",
        json={"positivePaperIds": [old(2), "0000.00000"], "negativePaperIds": [recent(2)], "limit": 4},
    )
    assert answer.status_code == 200
    body = answer.json()
    items = body["recommendedPapers"]
    assert len(items) == 4 and body["unknownPaperIds"] == ["0000.00000"]
    assert all(topic_of(i["paper"]["id"]) == 2 for i in items) and recent(2) not in [i["paper"]["id"] for i in items]
    first = items[0]
    assert set(first) >= {"paper", "title", "summary", "publishedAt", "numComments", "score", "why"}
    assert first["paper"]["upvotes"] == 0 and first["why"]["closestPapers"][0]["id"] == old(2)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    wide = client.post("/api/recommendations", json={"positivePaperIds": [old(2)], "since": "all", "limit": 500})
    assert wide.json()["since"] is None and wide.json()["candidates"] == 110
    for bad, status in (
        ({"positivePaperIds": []}, 422),
        ({"positivePaperIds": [old(2)], "limit": 0}, 422),
        ({"positivePaperIds": [old(2)], "limit": 501}, 422),
        ({"positivePaperIds": "2501.00001"}, 422),
        ({"positivePaperIds": [old(2)], "since": "last week"}, 400),
        ({"positivePaperIds": ["0000.00000"]}, 404),
    ):
        failed = client.post("/api/recommendations", json=bad)
        assert failed.status_code == status, (bad, failed.text)
        assert "error" in failed.json()
