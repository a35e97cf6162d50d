"""The digest schedule inside ``paperboy serve``: one process that wakes at ``digest_time`` in
``digest_timezone`` every day and runs the same ``send_digests`` as ``paperboy digest send``.

``paperboy serve`` starts exactly one such process however many web workers it runs, so workers
never send; and since every digest is claimed in the send log first, even a cron job or a second
server on the same store beside it cannot make a digest go out twice.  Started after the day's
time has passed (a restart, a deploy), it runs at once: whatever was already sent is skipped.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from paperboy.config import Settings
from paperboy.store import Store

log = logging.getLogger(__name__)
#: The longest sleep between looks at the clock (a suspended machine or a changed clock).
NAP = 300.0


def send_time(settings: Settings) -> clock_time:
    """``digest_time`` as a time of day (07:00 when it cannot be read)."""
    try:
        hours, minutes = (int(part) for part in settings.digest_time.strip().split(":")[:2])
        return clock_time(hours, minutes)
    except ValueError:
        log.warning("digest_time %r is not HH:MM: using 07:00", settings.digest_time)
        return clock_time(7, 0)


def todays_run(now: datetime, settings: Settings) -> datetime:
    """Today's send time (in the digest time zone), as an aware datetime."""
    tz = ZoneInfo(settings.digest_timezone)
    return datetime.combine(now.astimezone(tz).date(), send_time(settings), tzinfo=tz)


def next_run(now: datetime, settings: Settings) -> datetime:
    """The first send time after ``now`` (daylight-saving changes included: it is local wall time)."""
    today = todays_run(now, settings)
    if today > now:
        return today
    tz = ZoneInfo(settings.digest_timezone)
    return datetime.combine(today.date() + timedelta(days=1), send_time(settings), tzinfo=tz)


def run_schedule(
    settings: Settings,
    stop: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    run: Callable[[Store, Settings, threading.Event], object] | None = None,
) -> None:
    """Send at every send time until ``stop`` is set (at once first, if today's time has passed)."""
    if run is None:
        from paperboy.services.delivery import send_digests

        def run(store: Store, settings: Settings, stop: threading.Event) -> object:
            # the indexer process keeps the keyword index level: only read it, never take its writer
            report = send_digests(store, settings, stop=stop, write_index=False)
            try:  # chat webhooks (issue 18) post at the same time, from this process, never a web worker
                from paperboy.services.delivery import open_keyword
                from paperboy.services.webhooks import WebhookService

                index = open_keyword(settings, store, write=False)
                WebhookService(store, settings, keyword=lambda: index).send_all()
            except Exception:  # a webhook failure never stops the digests; the next run retries
                log.exception("webhook run failed")
            return report

    with Store.open(settings) as store:
        due = todays_run(clock(), settings)
        if due > clock():
            due = next_run(clock(), settings)
        while not stop.is_set():
            wait = (due - clock()).total_seconds()
            if wait > 0:
                stop.wait(min(wait, NAP))
                continue
            try:
                run(store, settings, stop)
            except Exception:  # the next send time tries again; claims keep what was sent
                log.exception("digest run failed")
            due = next_run(max(clock(), due), settings)


def _exit_with_parent(parent: int) -> None:
    """End with ``paperboy serve`` however it ends (an interrupted run resumes at the next start)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main(home: str) -> None:
    """Entry point of the schedule process started by ``paperboy serve``."""
    from paperboy.config import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s digests %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: serve ends us itself
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    run_schedule(load_settings(home), threading.Event())
