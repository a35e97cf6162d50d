"""Input that one backend stores and the other refuses: a NUL character anywhere (PostgreSQL's text
cannot hold one) and row ids beyond 32 bits (PostgreSQL's ``integer``).  Both backends answer the
same: a NUL is a 400 (the API's error body under /api, a page elsewhere), an id nothing has is
404, never 500; an imported record with a NUL is rejected alone, with its place and reason."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support.web import ALL_IDS, api_token, csrf, register, running_app

from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord, Rejection

pytestmark = pytest.mark.usefixtures("fast_hashes")
PAPER = ALL_IDS[-2]


@pytest.fixture
def web(settings):
    with running_app(settings) as running:
        raw = TestClient(running.app, raise_server_exceptions=False)
        register(running.client, "alice")
        token = api_token(running.client)
        yield running, raw, {"Authorization": f"Bearer {token}"}
        raw.close()


@pytest.mark.parametrize(
    "path",
    [
        "/api/papers/%00",
        "/api/papers/%00/comments",
        "/api/papers/%00/similar",
        f"/api/papers/{PAPER}%00",
        "/papers/%00",
        "/authors/Ada%00Lovelace",
        "/search?q=diffusion%00",
        "/api/papers/search?q=%00",
        "/topics?x=%00",
    ],
)
def test_a_nul_in_a_url_is_refused(web, path):
    _, raw, auth = web
    for headers in ({}, auth):
        r = raw.get(path, headers=headers)
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert "NUL" in r.text
    if path.startswith("/api/"):
        assert raw.get(path).json()["error"] == "the request holds a NUL character (U+0000), which no field may contain"


def test_a_nul_in_a_body_is_refused_and_nothing_is_written(web):
    running, raw, auth = web
    r = raw.post(f"/api/papers/{PAPER}/comments", json={"text": "fine\u0000then"}, headers=auth)
    assert r.status_code == 400 and "NUL" in r.json()["error"]
    r = raw.post(
        f"/api/papers/{PAPER}/vote",
        content=b'{"up": true, "x": "\\u0000"}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    client = running.client
    r = client.post(
        f"/papers/{PAPER}/comments", data={"text": "a\x00b", "csrf_token": csrf(client)}, follow_redirects=False
    )
    assert r.status_code == 400
    assert running.store.activity.comments(PAPER) == [] and running.store.activity.vote_count(PAPER) == 0
    # a backslash and "u0000" written as text is not a NUL
    r = raw.post(f"/api/papers/{PAPER}/comments", json={"text": "write \\u0000 for NUL, or %00"}, headers=auth)
    assert r.status_code == 201 and r.json()["text"] == "write \\u0000 for NUL, or %00"


@pytest.mark.parametrize("row_id", [2**31, 2**40, 2**63 - 1])
def test_ids_past_32_bits_are_not_found_not_a_crash(web, row_id):
    running, raw, auth = web
    assert raw.post(f"/api/comments/{row_id}", json={"text": "x"}, headers=auth).status_code == 404
    assert raw.post(f"/api/comments/{row_id}/delete", headers=auth).status_code == 404
    assert raw.get(f"/api/submissions/{row_id}", headers=auth).status_code == 404
    client = running.client
    assert client.get(f"/comments/{row_id}/edit").status_code == 404
    assert raw.get(f"/topics/{min(row_id, 2**31)}").status_code == 404
    r = client.post(f"/account/tokens/{row_id}/delete", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert r.status_code < 500
    assert raw.post(f"/api/comments/{2**63}", json={"text": "x"}, headers=auth).status_code == 422  # past 64 bits


def test_an_imported_record_with_a_nul_is_rejected_alone(store):
    records = [
        finish(PaperRecord(title="Clean", id="2501.00001", place="f.jsonl:1")),
        finish(PaperRecord(title="Dirty", id="2501.00002", abstract="bad \x00 byte", place="f.jsonl:2")),
        finish(PaperRecord(title="Clean too", id="2501.00003", authors=["A. B"], place="f.jsonl:3")),
    ]
    assert isinstance(records[1], Rejection) and records[1].reason == "abstract holds a NUL character (U+0000)"
    summary = store.ingest("jsonl", "f.jsonl", records)
    assert (summary.new, summary.rejected) == (2, 1)
    assert [r["place"] for r in store.rejections(summary.run_id)] == ["f.jsonl:2"]
