"""Delivery against a real SMTP server on loopback: temporary failures retried with back-off, bounces,
the rate limit, and the send log's promise: after a crash midway (an exception, or ``kill -9`` of a
``paperboy digest send`` process) and a restart, every subscriber has exactly one digest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.digest import day, load, mail_settings
from support.mail import Mailbox, smtp_server
from support.servers import free_port

from paperboy.services.delivery import LEASE, RateLimit, Sender, ServerRefused, send_digests
from paperboy.services.subscriptions import Subscribing
from paperboy.store import Store

SUBSCRIBERS = [f"reader{i:02d}@example.org" for i in range(8)]
DAY = "2026-07-08"


@pytest.fixture
def mailbox():
    with smtp_server() as (box, port):
        box.port = port
        yield box


@pytest.fixture
def st(settings, mailbox):
    config = mail_settings(settings, mailbox.port)
    with Store.open(config) as store:
        load(store, vectors=False)
        service = Subscribing(store, config)
        for email in SUBSCRIBERS:
            service.add_confirmed(email, sections=["trending"], items=3)
        yield store


def assert_exactly_one_each(st, mailbox: Mailbox, addresses=SUBSCRIBERS) -> None:
    assert mailbox.count_by_recipient() == dict.fromkeys(addresses, 1)
    assert {r["state"] for r in st.subscriptions.sends(period=DAY)} == {"sent"}


# -- failures -------------------------------------------------------------------------------------------
def test_a_451_is_retried_with_backoff_then_delivered(st, mailbox):
    mailbox.temporary = {"reader03@example.org": 2}
    sleeps: list[float] = []
    sender = Sender(st.settings, sleep=sleeps.append)
    report = send_digests(st, st.settings, day(DAY), sender=sender)
    sender.close()
    assert sorted(report.sent) == SUBSCRIBERS and not report.deferred
    assert mailbox.attempts.count("reader03@example.org") == 3
    assert sleeps == [0.01, 0.02]  # exponential back-off
    assert_exactly_one_each(st, mailbox)


def test_lasting_temporary_failures_are_left_for_the_next_run(st, mailbox):
    mailbox.temporary = {"reader05@example.org": 100}
    report = send_digests(st, st.settings, day(DAY))
    assert report.deferred == ["reader05@example.org"] and len(report.sent) == 7
    assert mailbox.attempts.count("reader05@example.org") == st.settings.digest_retries + 1
    row = st.subscriptions.send_row(st.subscriptions.by_email("reader05@example.org")["id"], DAY)
    assert row["state"] == "failed" and "451" in row["error"]
    mailbox.temporary = {}
    report = send_digests(st, st.settings, day(DAY))
    assert report.sent == ["reader05@example.org"] and len(report.done) == 7
    assert_exactly_one_each(st, mailbox)


def test_no_server_is_a_temporary_failure(st, mailbox):
    down = st.settings.with_overrides(smtp_port=free_port(), digest_retries=1)
    report = send_digests(st, down, day(DAY))
    assert sorted(report.deferred) == SUBSCRIBERS and not report.sent and not report.bounced
    assert mailbox.messages == []
    report = send_digests(st, st.settings, day(DAY))
    assert sorted(report.sent) == SUBSCRIBERS
    assert_exactly_one_each(st, mailbox)


def test_a_550_bounce_stops_all_mail_to_the_address(st, mailbox):
    mailbox.refuse = {"reader02@example.org"}
    report = send_digests(st, st.settings, day(DAY))
    assert report.bounced == ["reader02@example.org"] and len(report.sent) == 7
    assert mailbox.attempts.count("reader02@example.org") == 1  # a permanent failure is not retried
    sub = st.subscriptions.by_email("reader02@example.org")
    assert sub["bounced"] and "550" in sub["bounce_reason"]
    assert st.subscriptions.send_row(sub["id"], DAY)["state"] == "bounced"
    mailbox.refuse = set()
    for later in ("2026-07-08", "2026-07-09", "2026-07-10"):
        report = send_digests(st, st.settings, day(later))
        assert "reader02@example.org" not in report.sent + report.deferred + report.bounced
    assert mailbox.attempts.count("reader02@example.org") == 1
    assert "reader02@example.org" not in mailbox.count_by_recipient()


def test_a_refused_sender_stops_the_run_without_bouncing_anybody(st, mailbox):
    """A 5xx to MAIL FROM (say, a relay wanting authentication) is about us, not the subscribers."""
    mailbox.mail_from_reply = "530 5.7.0 Authentication required"
    with pytest.raises(ServerRefused):
        send_digests(st, st.settings, day(DAY))
    assert st.subscriptions.counts()["bounced"] == 0
    assert {r["state"] for r in st.subscriptions.sends(period=DAY)} == {"failed"}
    assert len(mailbox.attempts) == 0
    mailbox.mail_from_reply = None
    assert sorted(send_digests(st, st.settings, day(DAY)).sent) == SUBSCRIBERS
    assert_exactly_one_each(st, mailbox)


def test_the_rate_limit_spaces_messages():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limit = RateLimit(120, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limit.wait()
    assert slept == [0.5, 0.5, 0.5, 0.5]
    now[0] += 10  # idle for a while: no burst is owed, no wait either
    limit.wait()
    assert len(slept) == 4


def test_the_rate_limit_holds_against_the_real_server(st, mailbox):
    limited = st.settings.with_overrides(digest_rate_per_minute=600)  # one every 0.1 s
    started = time.monotonic()
    send_digests(st, limited, day(DAY))
    assert time.monotonic() - started >= 0.1 * (len(SUBSCRIBERS) - 1)
    assert_exactly_one_each(st, mailbox)


# -- crashes --------------------------------------------------------------------------------------------
class CrashingSender(Sender):
    """Dies (like a process would) after handing over ``after`` messages."""

    def __init__(self, settings, after: int) -> None:
        super().__init__(settings)
        self.after = after
        self.count = 0

    def send(self, msg) -> None:
        if self.count == self.after:
            raise SystemExit("killed")
        super().send(msg)
        self.count += 1


def test_a_run_that_dies_midway_then_a_restart_sends_each_digest_once(st, mailbox):
    sender = CrashingSender(st.settings, after=4)
    with pytest.raises(SystemExit):
        send_digests(st, st.settings, day(DAY), sender=sender)
    sender.close()
    assert len(mailbox.messages) == 4
    states = [r["state"] for r in st.subscriptions.sends(period=DAY)]
    # the fifth, and any claimed behind it in the pipeline, were released on the way out
    assert states.count("sent") == 4 and set(states) == {"sent", "failed"}
    report = send_digests(st, st.settings, day(DAY))
    assert len(report.sent) == 4 and len(report.done) == 4
    assert_exactly_one_each(st, mailbox)


def _send_process(home: Path) -> subprocess.Popen:
    # the home's settings.toml, and the test's own database on PostgreSQL
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_") or k == "PAPERBOY_DATABASE_URL"}
    return subprocess.Popen(
        [sys.executable, "-m", "paperboy", "--home", str(home), "digest", "send", "--date", DAY],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _write_settings(st) -> None:
    s = st.settings
    (Path(s.home) / "settings.toml").write_text(
        f'smtp_host = "127.0.0.1"\nsmtp_port = {s.smtp_port}\nmail_from = "{s.mail_from}"\n'
        f'base_url = "{s.base_url}"\ndigest_rate_per_minute = 0\ndigest_backoff = 0.01\n'
        # one connection: a message is recorded before the next one starts, so where the kill lands is known
        "digest_connections = 1\n"
    )


def test_kill_9_midway_then_a_restart_sends_the_rest_exactly_once(st, mailbox):
    """The process is killed while the server holds the fifth message unanswered; the four before
    were acknowledged and recorded, others may be claimed and queued behind it.  The restart takes
    the dead process's claims over at once."""
    _write_settings(st)
    proc: list[subprocess.Popen] = []

    def kill_at_fifth(accepted: int) -> str | None:
        if accepted == 4 and proc:
            os.kill(proc[0].pid, signal.SIGKILL)
            proc[0].wait()
            return "451 4.3.0 the sender is gone"
        return None

    mailbox.on_data = kill_at_fifth
    proc.append(_send_process(Path(st.settings.home)))
    assert proc[0].wait(timeout=60) == -signal.SIGKILL
    mailbox.on_data = None
    assert len(mailbox.messages) == 4
    rows = st.subscriptions.sends(period=DAY)
    states = [r["state"] for r in rows]
    assert states.count("sent") == 4 and set(states) == {"sent", "claimed"}  # claimed: in flight or queued
    # the claims are held by a dead process: the restart (another process) takes them over at once
    restart = _send_process(Path(st.settings.home))
    assert restart.wait(timeout=60) == 0, restart.stderr.read().decode()[-2000:]
    assert_exactly_one_each(st, mailbox)
    for taken in (r for r in rows if r["state"] == "claimed"):
        again = st.subscriptions.send_row(taken["subscriber_id"], DAY)
        assert again["attempts"] == 2 and again["message_id"] == taken["message_id"]


def test_a_crash_between_the_servers_ok_and_our_record_resends_with_the_same_message_id(st, mailbox):
    """The documented window: the server took the message, the sender died before recording it.
    The restart sends that one digest again, recognisably the same mail; nothing is lost."""
    _write_settings(st)
    proc: list[subprocess.Popen] = []

    def accept_then_kill(accepted: int) -> str | None:
        if accepted == 2 and proc:
            os.kill(proc[0].pid, signal.SIGKILL)
            proc[0].wait()
        return None  # accepted anyway: the sender never sees the 250

    mailbox.on_data = accept_then_kill
    proc.append(_send_process(Path(st.settings.home)))
    proc[0].wait(timeout=60)
    mailbox.on_data = None
    assert len(mailbox.messages) == 3
    assert _send_process(Path(st.settings.home)).wait(timeout=60) == 0
    counts = mailbox.count_by_recipient()
    assert sorted(counts.values()) == [1] * 7 + [2]
    twice = [a for a, n in counts.items() if n == 2][0]
    first, second = mailbox.to(twice)
    assert first["Message-ID"] == second["Message-ID"]
    assert {r["state"] for r in st.subscriptions.sends(period=DAY)} == {"sent"}


def test_two_senders_at_once_never_send_a_digest_twice(st, mailbox):
    """Cron and ``paperboy serve`` (or two servers) running together: the claims decide."""
    slow = st.settings.with_overrides(digest_rate_per_minute=1200)
    reports = []

    def run() -> None:
        with Store.open(slow) as own:
            reports.append(send_digests(own, slow, day(DAY)))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r.sent) for r in reports) == len(SUBSCRIBERS)
    assert_exactly_one_each(st, mailbox)


def test_a_run_in_two_processes_sends_each_digest_once(st, mailbox):
    """Big runs use a process per core, each with a share of the subscribers; forced here for eight."""
    report = send_digests(st, st.settings.with_overrides(digest_workers=2), day(DAY))
    assert sorted(report.sent) == SUBSCRIBERS
    assert_exactly_one_each(st, mailbox)
    assert sorted(send_digests(st, st.settings.with_overrides(digest_workers=2), day(DAY)).done) == SUBSCRIBERS


def test_a_claim_held_by_a_live_sender_is_left_alone_until_its_lease_ends(st, mailbox):
    from datetime import UTC, datetime

    from paperboy.services.accounts import stamp

    sub = st.subscriptions.by_email("reader00@example.org")
    now = datetime.now(UTC)
    st.subscriptions.claim(
        [
            {
                "subscriber_id": sub["id"],
                "period": DAY,
                "state": "claimed",
                "owner": "another-host:123:abcd",
                "lease_until": stamp(now + LEASE),
                "attempts": 1,
                "message_id": "<x@y>",
                "content": {"sections": [{"name": "trending", "ids": ["2607.05000"], "why": {}}], "window": {}},
                "claimed_at": stamp(now),
            }
        ],
        "another-host:123:abcd",
    )
    report = send_digests(st, st.settings, day(DAY))
    assert report.busy == ["reader00@example.org"] and len(report.sent) == 7
    later = now + LEASE + LEASE
    report = send_digests(st, st.settings, day(DAY), clock=lambda: later)
    assert report.sent == ["reader00@example.org"]
    (msg,) = mailbox.to("reader00@example.org")
    assert msg["Message-ID"] == "<x@y>"  # the claim's own message, as first built
    assert "2607.05000" in msg.get_body(preferencelist=("plain",)).get_content()
