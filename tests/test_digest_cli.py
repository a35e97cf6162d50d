"""``paperboy subscribers add|list|remove`` and ``paperboy digest send|preview`` (mail to a real SMTP
server on loopback), and the schedule ``paperboy serve`` keeps."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from support.digest import load
from support.mail import Mailbox, smtp_server
from typer.testing import CliRunner

from paperboy.cli.main import app
from paperboy.config import load_settings
from paperboy.services.digest_schedule import next_run, run_schedule
from paperboy.store import Store


@pytest.fixture
def home(tmp_path: Path):
    """A home with the corpus, whose settings.toml points at the loopback SMTP server."""
    with smtp_server() as (mailbox, port):
        path = tmp_path / "home"
        path.mkdir()
        (path / "settings.toml").write_text(
            f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\nmail_from = "paperboy <digest@paperboy.test>"\n'
            'base_url = "https://papers.example.org"\ndigest_rate_per_minute = 0\ndigest_backoff = 0.01\n'
        )
        with Store.open(load_settings(path)) as st:
            load(st)
        yield Home(path, mailbox)


@dataclass
class Home:
    path: Path
    mailbox: Mailbox


def cli(home: Home, *args: str):
    return CliRunner().invoke(app, ["--home", str(home.path), *args], env={"COLUMNS": "200"})


def test_subscribers_add_list_remove(home):
    r = cli(home, "subscribers", "add", "a@example.org", "--confirmed", "--category", "cs.CL", "--search", "robot")
    assert r.exit_code == 0, r.output
    assert "confirmed" in r.output and home.mailbox.messages == []  # --confirmed: no opt-in mail
    r = cli(home, "subscribers", "add", "b@example.org", "--frequency", "weekly")
    assert r.exit_code == 0 and "waiting for confirmation" in r.output
    assert [m["To"] for m in home.mailbox.messages] == ["b@example.org"]
    r = cli(home, "subscribers", "list", "--json")
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert [(x["email"], x["confirmed"], x["frequency"]) for x in rows] == [
        ("a@example.org", True, "daily"),
        ("b@example.org", False, "weekly"),
    ]
    assert rows[0]["categories"] == ["cs.CL"] and rows[0]["searches"] == ["robot"]
    assert "a@example.org" in cli(home, "subscribers", "list").output
    assert cli(home, "subscribers", "add", "not-an-address", "--confirmed").exit_code == 1
    assert cli(home, "subscribers", "add", "c@example.org", "--confirmed", "--category", "x y;z").exit_code == 1
    assert cli(home, "subscribers", "remove", "a@example.org").exit_code == 0
    assert cli(home, "subscribers", "remove", "a@example.org").exit_code == 1
    assert [json.loads(line)["email"] for line in cli(home, "subscribers", "list", "--json").output.splitlines()] == [
        "b@example.org"
    ]


def test_digest_send_dry_run_then_for_real_then_again(home):
    for email in ("a@example.org", "b@example.org"):
        cli(home, "subscribers", "add", email, "--confirmed", "--search", "robot grasping")
    r = cli(home, "digest", "send", "--dry-run", "--date", "2026-07-08")
    assert r.exit_code == 0 and "would send" in r.output and home.mailbox.messages == []
    r = cli(home, "digest", "send", "--date", "2026-07-08", "--to", "b@example.org")
    assert r.exit_code == 0 and [m["To"] for m in home.mailbox.messages] == ["b@example.org"]
    assert "Matching your saved searches" in home.mailbox.messages[0].get_body(("html",)).get_content()
    r = cli(home, "digest", "send", "--date", "2026-07-08")
    assert r.exit_code == 0 and sorted(m["To"] for m in home.mailbox.messages) == ["a@example.org", "b@example.org"]
    r = cli(home, "digest", "send", "--date", "2026-07-08")
    assert r.exit_code == 0 and len(home.mailbox.messages) == 2 and "done" in r.output
    assert cli(home, "digest", "send", "--date", "July 8").exit_code == 2


def test_digest_preview_writes_eml_and_html(home, tmp_path):
    cli(home, "subscribers", "add", "a@example.org", "--confirmed")
    out = tmp_path / "previews" / "a"
    r = cli(home, "digest", "preview", "a@example.org", "-o", str(out), "--date", "2026-07-08")
    assert r.exit_code == 0, r.output
    msg = message_from_bytes((tmp_path / "previews" / "a.eml").read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative" and msg["List-Unsubscribe-Post"]
    html = (tmp_path / "previews" / "a.html").read_text()
    assert html.startswith("<!doctype html>") and "part 5." in html and "part 4." not in html
    assert home.mailbox.messages == []
    with Store.open(load_settings(home.path)) as st:
        assert st.subscriptions.sends() == []  # a preview records nothing
    assert cli(home, "digest", "preview", "nobody@example.org").exit_code == 1
    r = cli(home, "digest", "preview", "a@example.org", "-o", str(out), "--date", "2026-07-04")
    assert r.exit_code == 0 and "nothing new" in r.output


def test_digest_preview_of_a_stale_store_shows_its_newest_day(home, tmp_path):
    """Today (the real clock) is long after the fixture's last day: the preview says so and shows that day."""
    cli(home, "subscribers", "add", "a@example.org", "--confirmed")
    with Store.open(load_settings(home.path)) as st:
        latest = st.activity.latest_day()
    r = cli(home, "digest", "preview", "a@example.org", "-o", str(tmp_path / "p"))
    assert r.exit_code == 0, r.output
    assert f"previewing {latest}, the newest day in the store" in r.output and "wrote" in r.output


# -- the schedule -----------------------------------------------------------------------------------------
def test_next_run_follows_the_local_time_of_day(tmp_path):
    s = load_settings(tmp_path, digest_time="07:30", digest_timezone="Europe/Berlin")
    at = datetime(2026, 7, 10, 4, 0, tzinfo=UTC)  # 06:00 in Berlin (summer time)
    assert next_run(at, s) == datetime(2026, 7, 10, 5, 30, tzinfo=UTC)
    assert next_run(datetime(2026, 7, 10, 5, 30, tzinfo=UTC), s) == datetime(2026, 7, 11, 5, 30, tzinfo=UTC)
    # across the end of summer time (25 October 2026): still 07:30 on the wall clock
    assert next_run(datetime(2026, 10, 24, 6, 0, tzinfo=UTC), s) == datetime(2026, 10, 25, 6, 30, tzinfo=UTC)
    assert next_run(at, load_settings(tmp_path, digest_time="nonsense")).hour == 7


def test_the_schedule_runs_at_the_time_and_catches_up_after_a_late_start(tmp_path):
    s = load_settings(tmp_path / "home", digest_time="07:00", digest_timezone="UTC")
    now = [datetime(2026, 7, 10, 9, 0, tzinfo=UTC)]  # started after today's time: runs at once
    runs: list[datetime] = []
    stop = threading.Event()

    def run(store, settings, stop_event) -> None:
        runs.append(now[0])
        if len(runs) == 3:
            stop.set()

    class Clock:
        def __call__(self) -> datetime:
            return now[0]

    original_wait = stop.wait

    def wait(seconds: float | None = None) -> bool:  # time passes instantly
        now[0] += timedelta(seconds=seconds or 0)
        return original_wait(0)

    stop.wait = wait  # type: ignore[method-assign]
    run_schedule(s, stop, clock=Clock(), run=run)
    assert runs[0] == datetime(2026, 7, 10, 9, 0, tzinfo=UTC)
    assert runs[1:] == [datetime(2026, 7, 11, 7, 0, tzinfo=UTC), datetime(2026, 7, 12, 7, 0, tzinfo=UTC)]
