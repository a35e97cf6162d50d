"""Delivering digests: one run sends every due digest once, and a crash never loses or repeats one.

**The guarantee.**  For each (subscriber, period) the send log (store/subscriptions.py) holds one
row.  A run *claims* the row (a single insert, or a compare-and-swap on a row left ``failed`` or
held by a sender that is gone) before it talks to the SMTP server, stores the digest's papers and
Message-ID in it, and marks it *sent*, together with the papers it carried and the subscriber's new
window, in one transaction right after the server's final ``250``.  Therefore:

* two senders (cron and ``paperboy serve``, two web workers, two machines) never send the same
  digest: only the claim's holder sends;
* a digest marked sent is never sent again, and no paper goes twice to one subscriber;
* after a crash, the next run sends exactly the digests never marked sent (a claim whose process
  is gone is taken over at once on the same host, or when its ``LEASE`` runs out elsewhere), with
  the papers and Message-ID it was first built with;
* the one window left is between the server's ``250`` and our commit (a few milliseconds): a crash
  exactly there sends that one digest again on restart, with the same Message-ID, so clients that
  de-duplicate by Message-ID show it once.  Nothing is ever lost; SMTP offers no way to close this
  window (the server cannot take part in our transaction), so a rare duplicate is the chosen side.

**Failures.**  Temporary ones (SMTP 4xx, no connection) are retried with exponential back-off
(``digest_backoff`` seconds, doubling, ``digest_retries`` times); if they last, the claim is
released as ``failed`` and the next run retries it.  Permanent ones (5xx) for the recipient mark
the address bounced: no more mail goes to it until its owner subscribes and confirms again.  A
permanent refusal of the session itself (our sender address, authentication, TLS) is no subscriber's
fault: the run stops with ``ServerRefused`` and leaves everything for the next one.  At most
``digest_rate_per_minute`` messages leave per run (its processes share the limit).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from paperboy.config import Settings
from paperboy.services.accounts import stamp
from paperboy.services.digest import Digest, DigestBuilder
from paperboy.services.digest_mail import DigestMail, Renderer, message_id
from paperboy.services.mail import Mailer, MailError
from paperboy.services.subscriptions import Subscribing
from paperboy.store import Store

log = logging.getLogger(__name__)
#: How long a claim protects a digest whose sender may still be alive on another host: longer than
#: the longest hand-over (all retries with their back-off and time-outs).
LEASE = timedelta(minutes=30)
#: Runs with at least this many subscribers use several processes when ``digest_workers`` is 0.
PARALLEL_FROM = 1000
MAX_WORKERS = 4
#: Digests claimed per transaction (each is still handed over and recorded on its own).
CLAIM_BATCH = 32
#: Longest wait between two retries.
MAX_BACKOFF = 300.0
HOST = socket.gethostname()


class Bounced(Exception):
    """The server refused the address for good (SMTP 5xx)."""


class Deferred(Exception):
    """Temporary failures outlasted the retries; the next run tries again."""


class ServerRefused(Exception):
    """The server refused *us* for good (sender address, authentication, greeting, TLS), not an address.

    No digest can go out until the settings are fixed, so the run stops (releasing its claims) rather
    than marking every subscriber bounced or retrying thousands of times.
    """


# -- sending one message ----------------------------------------------------------------------------
#: Refusals about the session, not the recipient.
_SESSION_ERRORS = (
    smtplib.SMTPSenderRefused,
    smtplib.SMTPAuthenticationError,
    smtplib.SMTPHeloError,
    smtplib.SMTPConnectError,
    smtplib.SMTPNotSupportedError,
)


def _mail_error(exc: Exception) -> MailError:
    """An SMTP failure as ``MailError``, permanent for 5xx (as ``Mailer.send`` decides).

    Raises ``ServerRefused`` for permanent refusals of the session (see there).
    """
    if isinstance(exc, _SESSION_ERRORS):
        code = getattr(exc, "smtp_code", 500)
        if code >= 500 or isinstance(exc, smtplib.SMTPNotSupportedError):
            raise ServerRefused(f"the mail server refused this sender or session: {exc}") from exc
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return MailError(f"recipients refused: {exc.recipients!r}", permanent=all(c >= 500 for c in codes))
    return MailError(f"SMTP server unreachable: {exc}")


class ConnectionMailer(Mailer):
    """``Mailer`` keeping one SMTP connection open across messages: a run sends thousands.

    Any error closes the connection (the next message opens a new one); a connection the server
    closed while idle is reopened once without counting as a failure.  Not thread-safe: one per thread.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._smtp: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage | DigestMail) -> None:
        if not self.settings.smtp_host:
            super().send(msg)  # type: ignore[arg-type] - the outbox only needs bytes(msg)
            return
        for fresh in (False, True):
            try:
                reused = self._smtp is not None and not fresh
                if self._smtp is None:
                    self._smtp = self._connect()
                if isinstance(msg, DigestMail):
                    self._smtp.sendmail(msg.sender, [msg.to], bytes(msg))
                else:
                    self._smtp.send_message(msg)
                return
            except smtplib.SMTPServerDisconnected as exc:
                self.close()
                if not reused:
                    raise _mail_error(exc) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise _mail_error(exc) from exc

    def close(self) -> None:
        """Say goodbye to the server (quietly: it may be gone)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class RateLimit:
    """At most ``per_minute`` calls of ``wait`` return per minute, evenly spaced (0: no limit)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, sleep: Any = time.sleep) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            self.sleep(at - now)


class Sender:
    """Hands one message to the mail server: rate-limited, retried with back-off, failures classified."""

    def __init__(
        self, settings: Settings, mailer: Mailer | None = None, sleep: Any = time.sleep, rate: RateLimit | None = None
    ) -> None:
        self.settings = settings
        self.mailer = mailer or ConnectionMailer(settings)
        self.sleep = sleep
        #: Shared by the senders of one run: the limit is per process, not per connection.
        self.rate = rate or RateLimit(settings.digest_rate_per_minute, sleep=sleep)

    def send(self, msg: EmailMessage | DigestMail) -> None:
        """Deliver or raise ``Bounced`` (permanent) or ``Deferred`` (temporary, retries spent)."""
        retries = max(0, self.settings.digest_retries)
        for attempt in range(retries + 1):
            self.rate.wait()
            try:
                self.mailer.send(msg)
                return
            except MailError as exc:
                if exc.permanent:
                    raise Bounced(str(exc)) from exc
                error = exc
                log.info("temporary failure for %s (attempt %d): %s", msg["To"], attempt + 1, exc)
                if attempt < retries:
                    self.sleep(min(self.settings.digest_backoff * 2**attempt, MAX_BACKOFF))
        raise Deferred(str(error))

    def close(self) -> None:
        if isinstance(self.mailer, ConnectionMailer):
            self.mailer.close()


# -- a run ------------------------------------------------------------------------------------------
@dataclass
class RunReport:
    """What one run did, per subscriber outcome."""

    day: date
    dry_run: bool = False
    sent: list[str] = field(default_factory=list)
    #: Dry runs: what would have been sent.
    would_send: list[str] = field(default_factory=list)
    #: Nothing new for them this time (nothing is sent on an empty day).
    empty: list[str] = field(default_factory=list)
    #: Already sent (or bounced) for this period.
    done: list[str] = field(default_factory=list)
    #: Weekly subscribers before the weekly day.
    not_due: list[str] = field(default_factory=list)
    #: Claimed by another sender that is still at work.
    busy: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        names = ("sent", "would_send", "empty", "done", "not_due", "busy", "bounced", "deferred")
        return {name: len(getattr(self, name)) for name in names}


def today_in(settings: Settings, now: datetime | None = None) -> date:
    """Today's date in the digest time zone."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(settings.digest_timezone)).date()


def _owner_gone(owner: str) -> bool:
    """Whether the process named in a claim's owner (``host:pid:run``) has certainly ended."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != HOST or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # a run of this very process: still going (runs in a process never overlap a crash)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def open_keyword(settings: Settings, store: Store, write: bool = True) -> Any:
    """The keyword index for saved searches (None when there is none).

    ``write``: bring it level with the store first (the command line); a process beside the
    indexer only reads what the indexer committed, so it never takes the index's writer lock.
    """
    from paperboy.indices.keyword import KeywordIndex

    try:
        index = KeywordIndex.for_settings(settings)
    except Exception:  # no index and none can be made here: alerts wait for the indexer
        log.exception("no keyword index: saved-search alerts are left out of this run")
        return None
    if write:
        try:
            index.catch_up(store)
        except Exception:  # the indexer holds the writer: read what it has committed
            log.info("keyword index busy: saved searches use what the indexer committed")
    index.reload()
    return index


@dataclass(frozen=True)
class RunOptions:
    """What one digest run is asked to do (``send_digests`` documents each)."""

    today: date
    only: str | None = None
    dry_run: bool = False
    sender: Sender | None = None
    keyword: Any = None
    write_index: bool = True
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stop: threading.Event | None = None
    partition: tuple[int, int] | None = None


def send_digests(
    store: Store,
    settings: Settings,
    today: date | None = None,
    *,
    only: str | None = None,
    dry_run: bool = False,
    sender: Sender | None = None,
    keyword: Any = None,
    write_index: bool = True,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    stop: threading.Event | None = None,
    partition: tuple[int, int] | None = None,
) -> RunReport:
    """Send every due digest once (``only``: one address); see the module's guarantee.

    ``dry_run`` builds every digest and writes nothing.  ``stop`` ends the run between two messages.
    ``keyword``: the keyword index (else opened here if any subscriber has saved searches;
    ``write_index``: caught up with the store first).  ``sender``: hand every message to this one
    (tests); else ``digest_connections`` senders, each with its own SMTP connection, share the rate.

    Big runs use one process per core (``digest_workers``): each takes the subscribers whose id
    falls in its ``partition`` ``(k, n)``, with its own store connection, index and senders.
    """
    options = RunOptions(
        today or today_in(settings, clock()), only, dry_run, sender, keyword, write_index, clock, stop, partition
    )
    if partition is None and sender is None:
        workers = _workers(settings, len(store.subscriptions.active(only)))
        if workers > 1:
            helpers = _Helpers(settings, options.today, only, dry_run, workers)
            try:
                own = DigestRun(store, settings, replace(options, partition=(0, workers))).execute()
            finally:
                reports = helpers.join()
            return _merged(options.today, dry_run, [own, *reports])
    return DigestRun(store, settings, options).execute()


class DigestRun:
    """One run over one share of the subscribers, as a pipeline: this thread builds, claims and
    renders digests while sender threads hand the previous ones over, so waiting for the server's
    replies costs no building time.  Each digest still goes claim, hand-over, record, in that order;
    an error in any thread ends the run and every claimed digest not handed over is released."""

    def __init__(self, store: Store, settings: Settings, options: RunOptions) -> None:
        self.store, self.settings, self.options = store, settings, options
        self.subs = store.subscriptions
        self.report = RunReport(options.today, options.dry_run)
        self.owner = f"{HOST}:{os.getpid()}:{os.urandom(4).hex()}"
        #: Digests built, waiting to be claimed together (one transaction per ``CLAIM_BATCH``).
        self.batch: list[tuple[Digest, dict[str, Any], Any]] = []
        #: Claimed digests not yet handed to the senders: released if the run dies.
        self.unqueued: list[Digest] = []

    def execute(self) -> RunReport:
        """Build, claim and hand over every due digest of this share; the report of what happened."""
        o, subscribers = self.options, self._subscribers()
        keyword = o.keyword
        if keyword is None and any(
            (s["searches"] and "searches" in s["sections"]) or "following" in s["sections"] for s in subscribers
        ):  # saved searches and followed searches are answered by the keyword index
            keyword = open_keyword(self.settings, self.store, write=o.write_index)
        builder = DigestBuilder(self.store, self.settings, keyword)
        subscribing = Subscribing(self.store, self.settings, clock=o.clock)
        renderer = Renderer(self.settings)
        periods = {s["id"]: builder.period(s, o.today) for s in subscribers}
        logged = self.subs.send_rows([s["id"] for s in subscribers], {k: v for k, v in periods.items() if v})
        self.pipeline = _Pipeline(self.store, self._senders(), self.owner, self.report, o.clock, close=o.sender is None)
        try:
            for subscriber in subscribers:
                if (o.stop is not None and o.stop.is_set()) or self.pipeline.failed.is_set():
                    break
                period = periods[subscriber["id"]]
                if period is None:
                    self.report.not_due.append(subscriber["email"])
                    continue
                found = _prepare(
                    builder, subscriber, period, o.today, logged.get(subscriber["id"]), self.owner, self.report,
                    o.clock(), o.dry_run,
                )  # fmt: skip
                if found is None:
                    continue
                digest, claim = found
                msg = renderer.render(digest, subscribing.links(subscriber), digest.message_id)
                if claim is None:  # a claim taken over: already ours
                    self._queue([(digest, msg)])
                else:
                    self.batch.append((digest, claim, msg))
                    if len(self.batch) >= CLAIM_BATCH:
                        self._claim_batch()
            if self.batch and not self.pipeline.failed.is_set():
                self._claim_batch()
        except BaseException:
            self.pipeline.failed.set()
            for digest in self.unqueued:  # claimed, never queued: free them for the next run
                why = "the run ended before this digest was handed over"
                self.subs.release(digest.subscriber["id"], digest.period, self.owner, why)
            raise
        finally:
            self.pipeline.finish()
        log.info("digest run for %s: %s", o.today, self.report.summary())
        return self.report

    def _subscribers(self) -> list[dict[str, Any]]:
        """The active subscribers of this run's share."""
        subscribers = self.subs.active(self.options.only)
        if self.options.partition is not None:
            k, n = self.options.partition
            subscribers = [s for s in subscribers if s["id"] % n == k]
        return subscribers

    def _senders(self) -> list[Sender]:
        """The given sender (tests), else ``digest_connections`` SMTP senders sharing this share of the rate."""
        if self.options.sender is not None:
            return [self.options.sender]
        per_minute = self.settings.digest_rate_per_minute
        if self.options.partition is not None and per_minute > 0:  # the run's limit, shared by its processes
            per_minute = max(1, per_minute // self.options.partition[1])
        rate = RateLimit(per_minute)
        return [Sender(self.settings, rate=rate) for _ in range(max(1, self.settings.digest_connections))]

    def _queue(self, digests: list[tuple[Digest, Any]]) -> None:
        """Queue claimed digests; until queued, each is in ``unqueued`` (released if the run dies)."""
        self.unqueued[:] = [digest for digest, _ in digests]
        for digest, msg in digests:
            self.pipeline.put(digest, msg)
            self.unqueued.pop(0)

    def _claim_batch(self) -> None:
        """Claim the batch's digests in one transaction; queue the ones that are ours."""
        won = self.subs.claim([row for _, row, _ in self.batch], self.owner)
        mine = []
        for digest, row, msg in self.batch:
            if (row["subscriber_id"], row["period"]) in won:
                mine.append((digest, msg))
            else:  # another sender was first
                self.report.busy.append(digest.subscriber["email"])
        self.batch.clear()
        self._queue(mine)


def _workers(settings: Settings, due: int) -> int:
    """Processes for a run of ``due`` subscribers (one inside a daemon process, which may not have children)."""
    if multiprocessing.current_process().daemon:
        return 1
    if settings.digest_workers > 0:
        return settings.digest_workers
    return min(os.cpu_count() or 1, MAX_WORKERS) if due >= PARALLEL_FROM else 1


def _merged(day: date, dry_run: bool, reports: list[RunReport]) -> RunReport:
    out = RunReport(day, dry_run)
    for report in reports:
        for name in out.summary():
            getattr(out, name).extend(getattr(report, name))
    return out


def _partition_main(
    settings: Settings, today: date, only: str | None, dry_run: bool, part: tuple[int, int], results: Any
) -> None:
    """A helper process of a big run: one partition of the subscribers, its outcome sent back."""
    try:
        with Store.open(settings) as store:
            report = send_digests(store, settings, today, only=only, dry_run=dry_run, write_index=False, partition=part)
        results.put((part[0], report, None))
    except BaseException as exc:  # reported to the parent, which raises it
        results.put((part[0], None, exc))


class _Helpers:
    """The helper processes of a big run (partitions 1..n-1; the calling process takes partition 0)."""

    def __init__(self, settings: Settings, today: date, only: str | None, dry_run: bool, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork: the parent has threads and open connections
        self.results = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=_partition_main,
                args=(settings, today, only, dry_run, (k, n), self.results),
                name=f"paperboy-digests-{k}",
                daemon=True,
            )
            for k in range(1, n)
        ]
        for proc in self.procs:
            proc.start()

    def join(self) -> list[RunReport]:
        """Wait for every helper; raise the first error one of them met (or its death)."""
        reports: dict[int, RunReport] = {}
        error: BaseException | None = None
        waiting = {k + 1 for k in range(len(self.procs))}
        while waiting:
            try:
                part, report, exc = self.results.get(timeout=1.0)
            except queue.Empty:
                dead = [k for k in waiting if not self.procs[k - 1].is_alive()]
                if dead and self.results.empty():
                    for k in dead:
                        waiting.discard(k)
                        error = error or RuntimeError(
                            f"digest worker {k} died (exit code {self.procs[k - 1].exitcode})"
                        )
                continue
            waiting.discard(part)
            if exc is not None:
                error = error or exc
            else:
                reports[part] = report
        for proc in self.procs:
            proc.join(timeout=10)
        if error is not None:
            raise error
        return [reports[k] for k in sorted(reports)]


class _Pipeline:
    """Sender threads taking claimed, rendered digests from a short queue."""

    def __init__(
        self,
        store: Store,
        senders: list[Sender],
        owner: str,
        report: RunReport,
        clock: Callable[[], datetime],
        close: bool,
    ) -> None:
        self.subs = store.subscriptions
        self.owner = owner
        self.report = report
        self.clock = clock
        self.close = close
        self.failed = threading.Event()
        self.errors: list[BaseException] = []
        self.queue: queue.Queue[tuple[Digest, Any] | None] = queue.Queue(maxsize=2 * len(senders))
        self.threads = [
            threading.Thread(target=self._work, args=(s,), name=f"digest-sender-{i}", daemon=True)
            for i, s in enumerate(senders)
        ]
        for thread in self.threads:
            thread.start()

    def put(self, digest: Digest, msg: Any) -> None:
        self.queue.put((digest, msg))

    def finish(self) -> None:
        """Let the senders drain the queue (or release it, after a failure), then end them."""
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def _work(self, sender: Sender) -> None:
        try:
            while (item := self.queue.get()) is not None:
                digest, msg = item
                if self.failed.is_set():
                    self._release(digest, "the run ended before this digest was handed over")
                    continue
                try:
                    self._deliver(sender, digest, msg)
                except BaseException as exc:
                    self.errors.append(exc)
                    self.failed.set()
        finally:
            if self.close:
                sender.close()

    def _release(self, digest: Digest, why: str) -> None:
        self.subs.release(digest.subscriber["id"], digest.period, self.owner, why)

    def _deliver(self, sender: Sender, digest: Digest, msg: Any) -> None:
        """Hand one claimed digest over and record the outcome."""
        subscriber, period = digest.subscriber, digest.period
        try:
            sender.send(msg)
        except Bounced as exc:
            self.subs.mark_bounced(subscriber["id"], period, str(exc), stamp(self.clock()))
            self.report.bounced.append(subscriber["email"])
            log.warning("bounced: %s (%s)", subscriber["email"], exc)
            return
        except Deferred as exc:
            self._release(digest, str(exc))
            self.report.deferred.append(subscriber["email"])
            log.warning("deferred: %s (%s)", subscriber["email"], exc)
            return
        except BaseException:
            self._release(digest, "the run ended before this digest was handed over")
            raise
        papers = [p["id"] for p in digest.papers]
        self.subs.mark_sent(subscriber["id"], period, papers, digest.window, stamp(self.clock()))
        self.report.sent.append(subscriber["email"])


def _prepare(
    builder: DigestBuilder,
    subscriber: dict[str, Any],
    period: str,
    today: date,
    row: dict[str, Any] | None,
    owner: str,
    report: RunReport,
    now: datetime,
    dry_run: bool,
) -> tuple[Digest, dict[str, Any] | None] | None:
    """A digest to send and the claim row to insert for it (None: already claimed, taken over here),
    or None with the reason noted in ``report``."""
    subs = builder.subs
    email = subscriber["email"]
    lease = stamp(now + LEASE)
    if row is not None:
        if row["state"] in ("sent", "bounced"):
            report.done.append(email)
            return None
        if row["state"] == "claimed" and row["lease_until"] > stamp(now) and not _owner_gone(row["owner"]):
            report.busy.append(email)
            return None
        if dry_run:
            report.would_send.append(email)
            return None
        if not subs.take_over(subscriber["id"], period, row["owner"], row["state"], owner, lease, stamp(now)):
            report.busy.append(email)
            return None
        digest = builder.rebuild(subscriber, period, today, row["content"])
        if digest.empty:  # its papers were hidden meanwhile: build afresh
            digest = builder.build(subscriber, today, period)
            if digest.empty:
                subs.release(subscriber["id"], period, owner, "nothing left to send")
                report.empty.append(email)
                return None
        digest.message_id = row["message_id"]
        return digest, None
    digest = builder.build(subscriber, today, period)
    if digest.empty:
        report.empty.append(email)
        return None
    if dry_run:
        report.would_send.append(email)
        return None
    digest.message_id = message_id(builder.settings, subscriber, period)
    claim = {
        "subscriber_id": subscriber["id"],
        "period": period,
        "state": "claimed",
        "owner": owner,
        "lease_until": lease,
        "attempts": 1,
        "message_id": digest.message_id,
        "content": digest.content(),
        "claimed_at": stamp(now),
    }
    return digest, claim
