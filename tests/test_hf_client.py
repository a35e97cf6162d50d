"""Hugging Face's own client, ``huggingface_hub``, pointed at a running paperboy.

``HfApi(endpoint=…)`` is what scripts written for huggingface.co use; here it talks to the real
app served by uvicorn on a loopback port (no hub is ever contacted).  Every ``PaperInfo`` field
paperboy can know must come back with a real value; the ones it cannot know are listed, so a
new field in a future client fails this test until somebody decides which kind it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest
from conftest import SHARED
from huggingface_hub import HfApi, constants
from huggingface_hub.hf_api import PaperAuthor, PaperInfo, User
from support.backend import fresh_url
from support.servers import free_port, serving
from support.web import rec

from paperboy.config import load_settings
from paperboy.services.accounts import Accounts
from paperboy.sources import hf
from paperboy.store import Store
from paperboy.store.activity import hot_score
from paperboy.web.app import create_app

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("fast_hashes")]  # cheap password hashes
ITEM = SHARED / "formats" / "hf" / "daily-papers-item.json"
FLAT = SHARED / "formats" / "hf" / "paper-flat.json"

#: ``PaperInfo`` fields paperboy fills for every paper.
KNOWN = {"id", "authors", "published_at", "title", "summary", "discussion_id", "source", "comments"}
KNOWN |= {"submitted_at", "submitted_by", "ai_keywords"}
#: Filled where the paper has one: votes, a code repository, a project page, Hugging Face's AI summary.
WHERE_ANY = {"upvotes", "github_repo", "project_page", "ai_summary"}
#: Always null here, and why (the README's API section says the same).
NEVER = {
    "organization": "paperboy has no organizations",
    "github_stars": "paperboy does not ask GitHub",
    "linked_models": "no models are hosted here",
    "num_total_models": "no models are hosted here",
    "linked_datasets": "no datasets are hosted here",
    "num_total_datasets": "no datasets are hosted here",
    "linked_spaces": "no Spaces are hosted here",
}

DAYS = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"]
LATEST = DAYS[-1]


TOPICS = [
    ("Diffusion transformers for long video generation", "We scale diffusion transformers to minute-long videos."),
    ("Sparse mixtures of experts for language models", "Routing tokens to few experts cuts the cost of training."),
    ("Graph neural networks for molecule properties", "Message passing over atoms predicts solubility and toxicity."),
    ("Preference optimization without a reward model", "We align language models directly on human preferences."),
    (
        "Diffusion transformers, part 4: scaling video generation",
        "We scale diffusion transformers for video (study 4).",
    ),
    ("Speculative decoding on mobile phones", "A small draft model lets a phone run a large language model fast."),
    ("Speech representations for low-resource languages", "Self-supervised pretraining on untranscribed speech."),
    ("Robots that learn to grasp unseen objects", "Trial and error in simulation transfers to real grippers."),
    ("Retrieval-augmented generation with sparse indices", "Learned sparse retrieval feeds a generator its evidence."),
    ("Vision-language models that read charts", "A benchmark of chart questions and a model that answers them."),
]


def _papers() -> list:
    out = []
    for n, day in enumerate(DAYS * 2):
        title, abstract = TOPICS[n]
        out.append(
            rec(
                id=f"2603.{n:05d}",
                title=title,
                abstract=f"{abstract} Code and data are released.",
                authors=["Ada Lovelace", "J. P\\'erez (Univ. of Madrid)", f"Author {n}"],
                categories=["cs.CV", "cs.LG"],
                comment=f"Project page: https://lab{n}.github.io/video/ ; code https://github.com/lab/video{n}",
                announced=day,
                published=f"{day[:8]}{int(day[8:]) - 1:02d}T1{n % 10}:30:00Z",
                doi=f"10.1000/Video.{n}",
                source="hf",
                upvotes=n + 1,
            )
        )
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[str]:
    """The real app (keyword and semantic search, inline indexing) served by uvicorn on loopback."""
    if not ITEM.exists():
        pytest.skip(f"the real Hugging Face samples are not at {ITEM.parent}")
    home = tmp_path_factory.mktemp("hf-client-home")
    settings = load_settings(home, batch_size=500, submit_max_age_days=100_000, database_url=fresh_url())
    with Store.open(settings) as store:
        store.ingest("jsonl", "fixture", _papers())
        store.ingest("hf", str(ITEM), hf.read_json(ITEM))
        store.ingest("hf", str(FLAT), hf.read_json(FLAT))
        accounts = Accounts(store, settings)
        accounts.register("editor", "editor@example.org", "correct horse battery")
        alice = accounts.register("alice", "alice@example.org", "correct horse battery")
        store.activity.submit("2603.00004", alice["id"], "2026-03-06T08:00:00Z")
        store.activity.vote("2603.00004", alice["id"], True, "2026-03-06T08:01:00Z")
        store.activity.add_comment("2603.00004", alice["id"], "Nice ablations.", "2026-03-06T08:02:00Z")
    port = free_port()
    app = create_app(settings, semantic=True, index_at_start=True, embedder=embedder)
    with serving(app, port) as url:
        yield url


@pytest.fixture
def api(site: str, monkeypatch: pytest.MonkeyPatch) -> HfApi:
    """The client, allowed to make requests for this test only (paperboy keeps the hub offline)."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return HfApi(endpoint=site, token=False)


def _check(info: PaperInfo) -> None:
    """Every field paperboy can know holds a real value; the others are null."""
    names = {f.name for f in fields(PaperInfo)}
    unknown = names - KNOWN - WHERE_ANY - set(NEVER)
    assert not unknown, f"new PaperInfo fields {unknown}: decide whether paperboy can fill them"
    assert re.fullmatch(r"\d{4}\.\d{4,5}", info.id)
    assert info.title and info.summary and isinstance(info.comments, int)
    assert info.authors and all(isinstance(a, PaperAuthor) and a.name and a.hidden is False for a in info.authors)
    assert all(re.fullmatch(r"[0-9a-f]{24}", a._id) for a in info.authors)  # forward-compatible extra
    assert isinstance(info.published_at, datetime) and info.published_at.tzinfo is not None
    assert isinstance(info.submitted_at, datetime)
    assert isinstance(info.submitted_by, User) and info.submitted_by.username and info.submitted_by.fullname
    assert info.submitted_by.avatar_url
    assert re.fullmatch(r"[0-9a-f]{24}", info.discussion_id)
    assert info.source == "arxiv" and info.ai_keywords == []
    for name in NEVER:
        assert getattr(info, name) is None, name


def _fill(infos: list[PaperInfo]) -> None:
    """The sometimes-known fields: each has a real value on some paper of the answer."""
    for name in WHERE_ANY - {"ai_summary"}:
        assert any(getattr(info, name) for info in infos), name
    for info in infos:
        assert info.upvotes is None or info.upvotes > 0  # the client turns 0 into None
        assert info.github_repo is None or info.github_repo.startswith("https://github.com/")
        assert info.project_page is None or info.project_page.startswith("https://")


def test_list_daily_papers_by_date_week_and_month(api: HfApi):
    day = list(api.list_daily_papers(date=LATEST, token=False))
    assert {p.id for p in day} == {"2603.00004", "2603.00009"}
    for info in day:
        _check(info)
    _fill(day)
    week = list(api.list_daily_papers(week="2026-W10", token=False))
    assert {p.id for p in week} == {f"2603.{n:05d}" for n in range(10)}
    month = list(api.list_daily_papers(month="2026-02", limit=100, token=False))
    assert [p.id for p in month] == ["2602.23229"]  # the real Hugging Face item, v1 on Thursday 26 February
    assert list(api.list_daily_papers(date="2026-03-07", token=False)) == []
    (imported,) = api.list_daily_papers(date="2026-02-27", token=False)  # listed the next day
    assert imported.github_repo == "https://github.com/marco-garosi/CIRCLE"
    assert imported.project_page == "https://circle-lmm.github.io/"
    assert imported.ai_summary and imported.upvotes == 10
    assert imported.submitted_by.username == "marco-garosi"
    assert imported.thumbnail.endswith("/2602.23229.png")  # forward-compatible extra of the item


def test_list_daily_papers_submitter_sort_and_paging(api: HfApi):
    mine = list(api.list_daily_papers(submitter="alice", token=False))
    assert [p.id for p in mine] == ["2603.00004"]
    assert mine[0].submitted_by.username == "alice" and mine[0].comments == 1 and mine[0].upvotes == 6
    assert mine[0].submitted_at == mine[0].published_at  # the client reads the item's publishedAt, as HF's
    assert [p.id for p in api.list_daily_papers(submitter="ALICE", date=LATEST, token=False)] == ["2603.00004"]
    assert list(api.list_daily_papers(submitter="alice", date=DAYS[0], token=False)) == []
    on_hf = list(api.list_daily_papers(submitter="marco-garosi", token=False))  # submitted on Hugging Face
    assert [p.id for p in on_hf] == ["2602.23229"]
    assert list(api.list_daily_papers(submitter="nobody-at-all", token=False)) == []
    newest = list(api.list_daily_papers(week="2026-W10", sort="publishedAt", token=False))
    assert [p.published_at for p in newest] == sorted((p.published_at for p in newest), reverse=True)
    default = list(api.list_daily_papers(week="2026-W10", token=False))
    assert [p.id for p in default] == [p.id for p in newest]  # publishedAt is the default, as on Hugging Face
    trending = [p.id for p in api.list_daily_papers(week="2026-W10", sort="trending", token=False)]
    day_of = {f"2603.{n:05d}": DAYS[n % 5] for n in range(10)}
    hot = {pid: hot_score(n + 1 + (pid == "2603.00004"), day_of[pid]) for n, pid in enumerate(day_of)}
    assert trending == sorted(hot, key=lambda pid: (hot[pid], pid), reverse=True)
    pages = [[p.id for p in api.list_daily_papers(week="2026-W10", limit=4, p=n, token=False)] for n in range(4)]
    assert [len(page) for page in pages] == [4, 4, 2, 0]
    assert sum(pages, []) == [p.id for p in newest]


def test_list_papers_searches(api: HfApi):
    found = list(api.list_papers(query="why language models hallucinate", token=False))
    assert found and found[0].id == "2509.04664"
    for info in found:
        _check(info)
    assert found[0].upvotes == 26 and found[0].submitted_by.username == "taesiri"
    assert found[0].ai_summary.startswith("Language models produce incorrect statements")


def test_paper_info_is_the_flat_paper(api: HfApi):
    info = api.paper_info("2603.00004")
    _check(info)
    assert info.title == "Diffusion transformers, part 4: scaling video generation"
    assert info.github_repo == "https://github.com/lab/video4"
    assert info.project_page == "https://lab4.github.io/video/"
    assert info.upvotes == 6  # five from the source, one here
    assert info.submitted_by.username == "alice"
    assert [a.name for a in info.authors] == ["Ada Lovelace", "J. Pérez", "Author 4"]
    assert info.authors[1].affiliations == ["Univ. of Madrid"]
    assert info.published_at.isoformat() == "2026-03-05T14:30:00+00:00"  # the v1 time, not the announcement day
    again = api.paper_info("2603.00009")
    assert again.authors[0]._id == info.authors[0]._id  # the same person, the same _id
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError):
        api.paper_info("2603.99999")


def test_read_paper_is_the_paper_page_in_markdown(api: HfApi, site: str):
    page = api.read_paper("2603.00004")
    assert page.startswith("# Diffusion transformers, part 4: scaling video generation\n")
    assert "**Authors:** Ada Lovelace, J. Pérez (Univ. of Madrid), Author 4" in page
    assert "[arXiv](<https://arxiv.org/abs/2603.00004>)" in page
    assert "[Code](<https://github.com/lab/video4>)" in page
    assert f"[Paper page](<{site}/papers/2603.00004>)" in page
    assert "## Abstract\n\nWe scale diffusion transformers for video (study 4). Code and data are released." in page
    similar = page.split("## Similar papers\n\n", 1)[1].splitlines()
    assert len(similar) >= 3 and all(line.startswith("- [") for line in similar)
    assert "2603.00004)" not in "\n".join(similar)  # itself left out
    hf_page = api.read_paper("2602.23229")
    assert "## AI summary (from Hugging Face)" in hf_page
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError):
        api.read_paper("2603.99999")


def test_avatars_are_real_images(site: str):
    import httpx

    r = httpx.get(f"{site}/avatars/alice.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.startswith("<svg") and ">A</text>" in r.text


def test_the_readme_lists_the_same_fields():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### Hugging Face's fields", 1)[1].split("\n## ", 1)[0]
    for name in ("githubStars", "organization", "linkedModels", "ai_keywords", "submittedOnDailyAt", "discussionId"):
        assert f"`{name}`" in section, name
