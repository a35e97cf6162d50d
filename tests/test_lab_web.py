"""Follows, groups and notes through the app (pages, API, feeds, exports) and their services:
members-only visibility (404 everywhere for anybody else), invitations, limits, bad input."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from support.web import api_token, cheap_hashes, csrf, post, register, running_app

from paperboy.services.errors import NotFound, ServiceError


@pytest.fixture
def web(settings, monkeypatch):
    cheap_hashes(monkeypatch)
    with running_app(settings) as web:
        yield web


def test_follow_an_author_category_and_search_and_see_their_papers(web):
    c = web.client
    register(c, "ada")
    r = post(c, "/follow", {"kind": "author", "value": "Kurt Gödel", "back": "/following"})
    assert r.status_code == 303
    assert post(c, "/follow", {"kind": "category", "value": "cs.CL"}).status_code == 303
    assert post(c, "/follow", {"kind": "search", "value": '"quantum error"'}).status_code == 303
    page = c.get("/following").text
    assert "Kurt Gödel" in page and "cs.CL" in page and "quantum error" in page
    store = web.store
    godel = {p["id"] for p in store.papers_by_author("Kurt Gödel")}
    shown = set(re.findall(r'id="p-([^"]+)"', page))
    assert godel & shown and "follows: Kurt Gödel" in page

    # the author page: followers, the button, co-authors, spellings of one key
    author = c.get("/authors/Kurt%20G%C3%B6del").text
    assert "1 follower" in author and "Following ✓" in author
    ada = c.get("/authors/Ada%20Lovelace").text
    assert "0 followers" in ada and "Co-authors" in ada and "Grace Hopper" in ada

    # bad input: a clear 4xx, nothing written
    before = store.follows.count_for(1)
    for data, code in [
        ({"kind": "planet", "value": "Mars"}, 400),
        ({"kind": "category", "value": "not a cat!"}, 400),
        ({"kind": "author", "value": "Nobody Here At All"}, 404),
        ({"kind": "search", "value": " "}, 400),
    ]:
        assert post(c, "/follow", data).status_code == code, data
    assert store.follows.count_for(1) == before

    # unfollow; the private feed of what one follows
    assert post(c, "/unfollow", {"kind": "category", "value": "cs.cl"}).status_code == 303
    assert "cs.CL" not in c.get("/following").text.split("Private feed")[0]
    made = post(c, "/following/feed-link").text
    link = re.search(r"(http://testserver/feeds/following\.atom\?token=[^<\s]+)", made).group(1)
    feed = web.browser().get(link.replace("http://testserver", ""))
    assert feed.status_code == 200 and "<feed" in feed.text and "Kurt" in feed.text
    assert web.browser().get("/feeds/following.atom?token=pf_wrong").status_code == 404

    # the API
    token = api_token(c)
    bearer = {"Authorization": f"Bearer {token}"}
    got = c.get("/api/following", headers=bearer).json()
    assert {"kind": "author", "value": "Kurt Gödel"} in got["follows"] and got["papers"][0]["why"]
    assert c.post("/api/follows", json={"kind": "nope", "value": "x"}, headers=bearer).status_code == 400
    assert c.delete("/api/follows", params={"kind": "author", "value": "kurt godel"}, headers=bearer).json() == {
        "removed": True
    }


def test_follow_from_a_paper_card(web):
    c = web.client
    register(c, "grace")
    home = c.get("/").text
    pid = re.search(r'id="p-([^"]+)"', home).group(1)
    assert f"/papers/{pid}/follow" in home  # every card offers it to a signed-in reader
    page = c.get(f"/papers/{pid}/follow").text
    paper = web.store.get_paper(pid)
    assert all(name in page for name in paper["authors"])
    post(c, "/follow", {"kind": "author", "value": paper["authors"][0], "back": f"/papers/{pid}/follow"})
    assert "Following ✓" in c.get(f"/papers/{pid}/follow").text
    assert web.browser().get(f"/papers/{pid}/follow", follow_redirects=False).status_code == 303  # sign in first


def _group(c, name="Vision lab"):
    r = post(c, "/groups", {"name": name, "description": "Friday reading group"})
    assert r.status_code == 303
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_groups_invite_share_queue_and_members_only_everywhere(web):
    owner, member, outsider = web.client, web.browser(), web.browser()
    register(owner, "olga")
    register(member, "max")
    register(outsider, "eve")
    gid = _group(owner)
    r = post(owner, f"/groups/{gid}/collections", {"name": "Friday's papers"})
    cid = int(r.headers["location"].rsplit("/", 1)[1])

    # an invitation link: shown once, joins, expires
    page = post(owner, f"/groups/{gid}/invites", {"days": "3"}).text
    link = re.search(r"http://testserver(/join/pi_[A-Za-z0-9_-]+)", page).group(1)
    assert "Vision lab" in member.get(link).text
    assert post(member, link).status_code == 303
    assert "max" in owner.get(f"/groups/{gid}").text
    assert member.get("/join/pi_not-a-real-token").status_code == 404

    # a member saves into the shared collection and queues a paper for Friday
    assert post(member, f"/groups/{gid}/collections/{cid}/save", {"paper": "2607.00001"}).status_code == 303
    friday = date.today() + timedelta(days=3)
    assert post(member, f"/groups/{gid}/queue", {"paper": "2607.00002", "day": friday.isoformat()}).status_code == 303
    shared = owner.get(f"/groups/{gid}/collections/{cid}").text
    assert "2607.00001" in shared and "saved by max" in shared
    assert f"{friday.day} {friday:%b %Y}" in owner.get(f"/groups/{gid}").text
    assert post(member, f"/groups/{gid}/queue", {"paper": "2607.00002", "day": "Friday"}).status_code == 400
    assert post(member, f"/groups/{gid}/collections/{cid}/save", {"paper": "9999.99999"}).status_code == 404
    assert "saved" in owner.get(f"/groups/{gid}/week").text

    # exports, API and feeds for members
    bib = owner.get(f"/groups/{gid}/collections/{cid}/export.bib")
    assert bib.status_code == 200 and "@" in bib.text
    token = api_token(member)
    bearer = {"Authorization": f"Bearer {token}"}
    assert member.get(f"/api/groups/{gid}/collections/{cid}", headers=bearer).json()["papers"][0]["savedBy"] == "max"
    feed_page = post(member, "/following/feed-link").text
    feed_token = re.search(r"token=(pf_[^<\s]+)", feed_page).group(1)
    assert member.get(f"/feeds/groups/{gid}.atom", params={"token": feed_token}).status_code == 200

    # anybody else: 404 on every page, action, API answer, feed and export of the group
    eve_token = api_token(outsider)
    eve_feed = re.search(r"token=(pf_[^<\s]+)", post(outsider, "/following/feed-link").text).group(1)
    eve = {"Authorization": f"Bearer {eve_token}"}
    for url in [
        f"/groups/{gid}",
        f"/groups/{gid}/week",
        f"/groups/{gid}/digest",
        f"/groups/{gid}/collections/{cid}",
        f"/groups/{gid}/collections/{cid}/export.bib",
        f"/feeds/groups/{gid}.atom?token={eve_feed}",
    ]:
        assert outsider.get(url).status_code == 404, url
    for url in [f"/api/groups/{gid}", f"/api/groups/{gid}/collections/{cid}", f"/api/groups/{gid}/week"]:
        r = outsider.get(url, headers=eve)
        assert r.status_code == 404 and "error" in r.json(), url
    assert (
        outsider.post(f"/api/groups/{gid}/collections/{cid}/papers", json={"id": "2607.00003"}, headers=eve).status_code
        == 404
    )
    for url, data in [
        (f"/groups/{gid}/collections/{cid}/save", {"paper": "2607.00003"}),
        (f"/groups/{gid}/queue", {"paper": "2607.00003", "day": "2026-07-17"}),
        (f"/groups/{gid}/collections", {"name": "Mine now"}),
        (f"/groups/{gid}/members", {"username": "eve"}),
        (f"/groups/{gid}/invites", {"days": "7"}),
        (f"/groups/{gid}/delete", {}),
    ]:
        assert post(outsider, url, data).status_code == 404, url
    assert f'/groups/{gid}"' not in outsider.get("/groups").text
    assert web.store.groups.role(gid, 3) is None and len(web.store.groups.collection_items(cid)) == 1

    # only owners manage; the last owner cannot leave
    assert post(member, f"/groups/{gid}/members", {"username": "eve"}).status_code == 403
    assert post(owner, f"/groups/{gid}/members/1/remove").status_code == 409
    unknown = post(owner, f"/groups/{gid}/members", {"username": "nobody"})  # said on the form, beside the name
    assert unknown.status_code == 400 and "No account called" in unknown.text
    assert post(owner, f"/groups/{gid}/members", {"username": "eve"}).status_code == 303
    assert outsider.get(f"/groups/{gid}").status_code == 200  # eve was added by the owner
    # shared collections are not anybody's personal library
    assert all(c["id"] != cid for c in web.store.library.collections(1))


def test_invitations_expire_and_limits_hold(web, settings):
    from datetime import UTC, datetime, timedelta

    svc = web.app.state.services.groups
    people = web.services.accounts
    a = people.register("ann", "ann@example.org", "correct horse battery")
    b = people.register("bob", "bob@example.org", "correct horse battery")
    group = svc.create(a, "Lab")
    token = svc.new_invite(a, group["id"], days=1)
    later = datetime.now(UTC) + timedelta(days=2)
    svc.clock = lambda: later
    with pytest.raises(NotFound):
        svc.join(b, token)
    with pytest.raises(NotFound):
        svc.group(b, group["id"])
    with pytest.raises(ServiceError):
        svc.create(a, " ")
    with pytest.raises(ServiceError):
        svc.new_invite(a, group["id"], days=90)
    assert web.store.groups.of_user(b["id"]) == []


def test_private_notes_on_saved_papers(web):
    c, other = web.client, web.browser()
    register(c, "nina")
    register(other, "otto")
    pid = "2607.00001"
    assert post(c, f"/papers/{pid}/note", {"text": "first"}).status_code == 409  # not saved yet
    post(c, f"/papers/{pid}/save")
    note = "Check **ablation** in table 3 <script>alert(1)</script>"
    assert post(c, f"/papers/{pid}/note", {"text": note}).status_code == 303
    page = c.get(f"/papers/{pid}").text
    assert "<strong>ablation</strong>" in page and "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "ablation" not in other.get(f"/papers/{pid}").text  # private
    assert "ablation" not in web.browser().get(f"/papers/{pid}").text
    found = c.get("/library/search", params={"q": "ABLATION table"}).text
    assert f'id="p-{pid}"' in found
    assert 'id="p-' not in c.get("/library/search", params={"q": "ablation nowhere"}).text
    cid = web.store.library.collection_by_name(1, "Saved")["id"]
    bib = c.get(f"/library/collections/{cid}/export.bib").text
    assert "note = {Check **ablation** in table 3" in bib
    assert post(c, f"/papers/{pid}/note", {"text": "x" * 20_001}).status_code == 400
    assert web.store.notes.get(1, pid)["body"] == note  # the long one changed nothing
    token = api_token(c)
    r = c.put(f"/api/papers/{pid}/note", json={"text": ""}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and web.store.notes.get(1, pid) is None
    assert csrf(c)
