"""Building and rendering digests, delivered to a real SMTP server on loopback: sections, windows,
no repeats across days, nothing on an empty day, weekly periods, late imports, the mail itself."""

from __future__ import annotations

from datetime import date

import pytest
from support.digest import DAYS, TOPICS, XSS, day, load, mail_settings, records, topic_of
from support.mail import html_part, smtp_server, text_part

from paperboy.services.delivery import send_digests
from paperboy.services.digest import DigestBuilder, period_for
from paperboy.services.subscriptions import Subscribing
from paperboy.store import Store

ONLY_TRENDING = {"sections": ["trending"], "items": 20}


@pytest.fixture
def mailbox(settings):
    with smtp_server() as (box, port):
        box.settings = mail_settings(settings, port)
        yield box


@pytest.fixture
def st(mailbox):
    with Store.open(mailbox.settings) as store:
        load(store)
        yield store


def subscribe(st, email: str, **prefs):
    return Subscribing(st, st.settings).add_confirmed(email, **prefs)


def ids_in(msg) -> list[str]:
    """Paper ids linked from a digest's text part, in order."""
    return [line.rsplit("/", 1)[1] for line in text_part(msg).splitlines() if "/papers/2607." in line]


# -- windows and repeats ------------------------------------------------------------------------------
def test_each_day_brings_only_that_days_papers_and_nothing_repeats(st, mailbox):
    subscribe(st, "reader@example.org", **ONLY_TRENDING)
    seen: list[str] = []
    for i, d in enumerate(DAYS):
        report = send_digests(st, st.settings, day(d))
        assert report.sent == ["reader@example.org"], (d, report.summary())
        got = ids_in(mailbox.messages[i])
        assert {st.get_paper(pid)["announced"] for pid in got} == {d}
        assert len(got) == 6
        seen += got
    assert len(seen) == len(set(seen)) == 36
    # the same day again: already sent, nothing goes out
    assert send_digests(st, st.settings, day(DAYS[-1])).done == ["reader@example.org"]
    assert len(mailbox.messages) == len(DAYS)


def test_an_empty_day_sends_nothing(st, mailbox):
    subscribe(st, "reader@example.org", **ONLY_TRENDING)
    assert send_digests(st, st.settings, day("2026-07-03")).sent == ["reader@example.org"]
    report = send_digests(st, st.settings, day("2026-07-04"))  # a Saturday: nothing announced
    assert report.empty == ["reader@example.org"] and not report.sent
    assert st.subscriptions.sends(period="2026-07-04") == []
    assert len(mailbox.messages) == 1
    # Monday brings Monday's papers only (the weekend had none; Friday's were sent)
    send_digests(st, st.settings, day("2026-07-06"))
    assert {st.get_paper(p)["announced"] for p in ids_in(mailbox.messages[1])} == {"2026-07-06"}


def test_a_subscriber_whose_papers_were_all_sent_gets_nothing(st, mailbox):
    """Never a paper twice: a window with only sent papers is an empty day."""
    sub = subscribe(st, "reader@example.org", **ONLY_TRENDING)
    send_digests(st, st.settings, day("2026-07-08"))
    # pretend the window restarts (e.g. a long pause): the papers are still never sent again
    st.subscriptions._update(sub["id"], covered_until="2026-07-07", covered_seq=st.max_seq())
    report = send_digests(st, st.settings, day("2026-07-09"))
    assert report.empty == ["reader@example.org"]
    assert len(mailbox.messages) == 1


def test_papers_imported_after_a_digest_come_in_the_next_one(st, mailbox, settings):
    subscribe(st, "reader@example.org", **ONLY_TRENDING)
    send_digests(st, st.settings, day("2026-07-08"))
    late = records(["2026-07-07"])[0]
    late.id = "2607.99999"
    late.title = "A late listing about quantum codes"
    st.ingest("jsonl", "late", [late])
    send_digests(st, st.settings, day("2026-07-09"))
    assert ids_in(mailbox.messages[1]) == ["2607.99999"]


def test_first_digest_covers_one_period(st, mailbox):
    subscribe(st, "daily@example.org", **ONLY_TRENDING)
    subscribe(st, "weekly@example.org", frequency="weekly", sections=["trending"], items=20)
    report = send_digests(st, st.settings, day("2026-07-08"))  # a Wednesday: the weekly day (Monday) has passed
    assert sorted(report.sent) == ["daily@example.org", "weekly@example.org"]
    daily = {st.get_paper(p)["announced"] for p in ids_in(mailbox.to("daily@example.org")[0])}
    weekly = {st.get_paper(p)["announced"] for p in ids_in(mailbox.to("weekly@example.org")[0])}
    assert daily == {"2026-07-08"}
    # the last seven days (not 07-01), newest first: 20 of the 30 papers
    assert weekly == {"2026-07-03", "2026-07-06", "2026-07-07", "2026-07-08"}
    assert mailbox.to("weekly@example.org")[0]["Subject"].startswith("paperboy weekly: 20 new papers, week 28")


def test_weekly_digests_go_once_a_week_from_the_weekly_day(st, mailbox):
    subscribe(st, "weekly@example.org", frequency="weekly", sections=["trending"], items=20)
    assert period_for("weekly", date(2026, 7, 5), 0) == "2026-W27"
    assert period_for("weekly", date(2026, 7, 6), 2) is None  # Monday, before a Wednesday weekly day
    assert send_digests(st, st.settings, day("2026-07-06")).sent == ["weekly@example.org"]
    assert send_digests(st, st.settings, day("2026-07-07")).done == ["weekly@example.org"]
    assert send_digests(st, st.settings, day("2026-07-08")).done == ["weekly@example.org"]
    assert len(mailbox.messages) == 1
    later = st.settings.with_overrides(digest_weekday="friday")
    assert send_digests(st, later, day("2026-07-15")).not_due == ["weekly@example.org"]  # a Wednesday


# -- sections ------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("fast_hashes")
def test_sections_categories_searches_and_papers_like_the_upvoted_ones(st, mailbox):
    from paperboy.services.accounts import Accounts

    user = Accounts(st, st.settings).register(
        "reader", "reader@example.org", "correct horse battery", email_confirmed=True
    )
    liked = [p.id for p in records(["2026-07-06"]) if TOPICS[topic_of(p.id)][0] == "language"]
    for pid in liked:
        st.activity.vote(pid, user["id"], True, "2026-07-06T12:00:00Z")
    subscribe(st, "reader@example.org", categories=["quant-ph"], searches=["robot grasping"], items=2)
    send_digests(st, st.settings, day("2026-07-08"))
    (msg,) = mailbox.messages
    text = text_part(msg)
    sections = {}
    current = None
    for line in text.splitlines():
        if line.isupper() and line.strip():
            current = line
        elif "/papers/2607." in line:
            sections.setdefault(current, []).append(line.rsplit("/", 1)[1])
    assert list(sections) == [
        "TRENDING",
        "NEW IN YOUR CATEGORIES",
        "MATCHING YOUR SAVED SEARCHES",
        "LIKE THE PAPERS YOU SAVED OR UPVOTED",
    ]
    assert all(TOPICS[topic_of(p)][0] == "quantum" for p in sections["NEW IN YOUR CATEGORIES"])
    assert all(TOPICS[topic_of(p)][0] == "robots" for p in sections["MATCHING YOUR SAVED SEARCHES"])
    assert all(TOPICS[topic_of(p)][0] == "language" for p in sections["LIKE THE PAPERS YOU SAVED OR UPVOTED"])
    assert "Matches your search “robot grasping”" in text
    assert "Like “Transformer language models at scale, part 3." in text
    every = [p for ids in sections.values() for p in ids]
    # at most two per section, none twice: 07-08 has one quantum, one robots, two language papers
    assert len(every) == len(set(every)) == 6
    assert sorted(every) == [f"2607.0500{n}" for n in range(6)]


@pytest.mark.usefixtures("fast_hashes")
def test_trending_ranks_by_votes(st, mailbox):
    from paperboy.services.accounts import Accounts

    accounts = Accounts(st, st.settings)
    voters = [
        accounts.register(f"voter{i}", f"v{i}@example.org", "correct horse battery", email_confirmed=True)
        for i in range(3)
    ]
    for n, pid in enumerate(["2607.05003", "2607.05001"]):
        for voter in voters[: 3 - n]:
            st.activity.vote(pid, voter["id"], True, "2026-07-08T12:00:00Z")
    subscribe(st, "reader@example.org", sections=["trending"], items=3)
    send_digests(st, st.settings, day("2026-07-08"))
    assert ids_in(mailbox.messages[0])[:2] == ["2607.05003", "2607.05001"]
    assert "3 upvotes" in text_part(mailbox.messages[0])


def test_similar_needs_an_account_with_votes_and_vectors(settings):
    with Store.open(settings) as store:
        load(store, vectors=False)
        sub = Subscribing(store, settings).add_confirmed("x@example.org", sections=["similar"])
        builder = DigestBuilder(store, settings)
        assert builder.build(sub, day("2026-07-08")).empty


# -- the mail ------------------------------------------------------------------------------------------
def test_the_mail_is_multipart_with_one_click_unsubscribe_headers(st, mailbox):
    sub = subscribe(st, "reader@example.org", **ONLY_TRENDING)
    send_digests(st, st.settings, day("2026-07-01"))
    (msg,) = mailbox.messages
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    links = Subscribing(st, st.settings).links(st.subscriptions.get(sub["id"]))
    assert msg["List-Unsubscribe"] == f"<{links.unsubscribe}>"
    assert links.unsubscribe.startswith("https://papers.example.org/unsubscribe/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["From"] == "paperboy <digest@paperboy.test>" and msg["To"] == "reader@example.org"
    assert (
        msg["Message-ID"].startswith(f"<digest.2026-07-01.{sub['id']}.") and msg["Auto-Submitted"] == "auto-generated"
    )
    assert msg["Subject"] == "paperboy: 6 new papers, Wednesday, 1 July 2026"
    text, html = text_part(msg), html_part(msg)
    for part in (text, html):
        assert "Transformer language models at scale, part 0.1" in part
        assert "Author 01, Ada Lovelace, Grace Hopper" in part
        assert "We study transformer language models at scale (language). Results are" in part.replace("\n   ", " ")
        assert "https://papers.example.org/papers/2607.00001" in part
        assert "https://arxiv.org/abs/2607.00001" in part and "https://arxiv.org/pdf/2607.00001" in part
        assert links.unsubscribe in part and links.manage in part
    assert "…" in text  # abstracts are shortened
    # every paper value is escaped in HTML; the text part shows it as it is
    assert XSS not in html and "<img" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS in text
    assert 'style="' in html and "<style" not in html  # inline CSS only


def test_links_are_kept_only_when_they_are_web_links(st, mailbox):
    rec = records(["2026-07-01"])[1]
    rec.id, rec.code_url = "2607.77777", "javascript:alert(1)"
    rec.title = "A paper with a bad code link"
    st.ingest("jsonl", "bad", [rec])
    subscribe(st, "reader@example.org", **ONLY_TRENDING)
    send_digests(st, st.settings, day("2026-07-01"))
    html = html_part(mailbox.messages[0])
    assert "javascript:" not in html


def test_dry_run_builds_but_sends_and_records_nothing(st, mailbox):
    subscribe(st, "reader@example.org", **ONLY_TRENDING)
    report = send_digests(st, st.settings, day("2026-07-08"), dry_run=True)
    assert report.would_send == ["reader@example.org"] and not report.sent
    assert mailbox.messages == [] and st.subscriptions.sends() == []
    assert st.subscriptions.sent_papers(st.subscriptions.by_email("reader@example.org")["id"]) == set()


def test_only_one_address(st, mailbox):
    subscribe(st, "a@example.org", **ONLY_TRENDING)
    subscribe(st, "b@example.org", **ONLY_TRENDING)
    report = send_digests(st, st.settings, day("2026-07-08"), only="B@example.org")
    assert report.sent == ["b@example.org"]
    assert [m["To"] for m in mailbox.messages] == ["b@example.org"]


@pytest.mark.usefixtures("fast_hashes")
def test_saved_papers_count_as_liked_too(st, mailbox):
    from paperboy.services.accounts import Accounts

    user = Accounts(st, st.settings).register(
        "saver", "saver@example.org", "correct horse battery", email_confirmed=True
    )
    shelf = st.library.create_collection(user["id"], "Reading list", "2026-07-06T12:00:00Z")
    quantum = [p.id for p in records(["2026-07-06"]) if TOPICS[topic_of(p.id)][0] == "quantum"]
    st.library.add_items(shelf, quantum, "2026-07-06T12:00:00Z")
    subscribe(st, "saver@example.org", sections=["similar"], items=1)
    send_digests(st, st.settings, day("2026-07-08"))
    (msg,) = mailbox.messages
    assert [TOPICS[topic_of(p)][0] for p in ids_in(msg)] == ["quantum"]
    assert "LIKE THE PAPERS YOU SAVED OR UPVOTED" in text_part(msg)


@pytest.mark.usefixtures("fast_hashes")
def test_papers_marked_not_interested_are_left_out(st, mailbox):
    from paperboy.services.accounts import Accounts

    user = Accounts(st, st.settings).register(
        "picky", "picky@example.org", "correct horse battery", email_confirmed=True
    )
    st.library.set_feedback(user["id"], "2607.05000", "not_interested", "2026-07-08T06:00:00Z")
    subscribe(st, "picky@example.org", **ONLY_TRENDING)
    send_digests(st, st.settings, day("2026-07-08"))
    assert sorted(ids_in(mailbox.messages[0])) == [f"2607.0500{n}" for n in range(1, 6)]


def test_without_a_mail_server_digests_go_to_the_outbox(settings):
    from email import message_from_bytes, policy

    with Store.open(settings) as store:
        load(store)
        subscribe(store, "reader@example.org", **ONLY_TRENDING)
        assert send_digests(store, settings, day("2026-07-08")).sent == ["reader@example.org"]
    (eml,) = (settings.home / "outbox").glob("*.eml")
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["To"] == "reader@example.org" and msg.get_content_type() == "multipart/alternative"
