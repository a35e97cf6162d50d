"""The indexer lease: one holder at a time, taken over when it expires or its process is gone."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

from paperboy.store import Store
from paperboy.store.leases import Leases
from paperboy.store.owners import HOST


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_one_holder_until_it_expires_or_gives_it_up(store):
    clock = Clock()
    leases = Leases(store.engine, clock)
    assert leases.acquire("indexer", "a:1:x", ttl=60)
    assert not leases.acquire("indexer", "b:2:y", ttl=60)
    assert leases.holder("indexer")["owner"] == "a:1:x"
    clock.now += timedelta(seconds=45)
    assert leases.renew("indexer", "a:1:x", ttl=60)  # a heartbeat pushes expiry on
    clock.now += timedelta(seconds=45)
    assert not leases.acquire("indexer", "b:2:y", ttl=60)
    assert leases.acquire("indexer", "a:1:x", ttl=60)  # the holder may take it again (a renewal)
    clock.now += timedelta(seconds=61)
    assert leases.holder("indexer") is None
    assert leases.acquire("indexer", "b:2:y", ttl=60)  # expired: taken over
    assert not leases.renew("indexer", "a:1:x", ttl=60)  # and the old holder knows it lost it
    leases.release("indexer", "a:1:x")  # not the holder: nothing happens
    assert leases.holder("indexer")["owner"] == "b:2:y"
    leases.release("indexer", "b:2:y")
    assert leases.acquire("indexer", "a:1:x", ttl=60)  # given up: taken at once


def test_a_holder_whose_process_ended_is_replaced_at_once(store):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    leases = Leases(store.engine, Clock())
    assert leases.acquire("indexer", f"{HOST}:{ended.pid}", ttl=3600)
    assert leases.holder("indexer") is None
    assert leases.acquire("indexer", "b:2:y", ttl=60)


def claim_at_once(settings, lease: str, names: list[str]) -> list[str]:
    """Each name claims ``lease`` from its own engine (as separate processes would), all at once."""
    barrier = threading.Barrier(len(names))
    won: list[str] = []

    def claim(name: str) -> None:
        with Store.open(settings) as own:
            barrier.wait()
            if own.leases.acquire(lease, name, ttl=60):
                won.append(name)

    threads = [threading.Thread(target=claim, args=(name,)) for name in names]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return won


def test_concurrent_claimants_never_both_win(settings, store):
    for round_ in range(10):
        won = claim_at_once(settings, f"job-{round_}", [f"h:{i}:t" for i in range(4)])
        assert len(won) == 1 and store.leases.holder(f"job-{round_}")["owner"] == won[0]
