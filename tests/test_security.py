"""Attacks on a running paperboy (issue 13), each reproduced: races, hostile data, floods.

Races run for real, in threads released together; where the outcome must not depend on the
scheduler, a barrier holds every thread at the point the attack needs (inside the password
hash, say), so a test that passes cannot have passed by luck of timing.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from argon2 import PasswordHasher
from webkit import PASSWORD, cheap_hashes, csrf, running_app

from paperboy.services import accounts as accounts_module
from paperboy.services.accounts import Accounts


@pytest.fixture
def fast_hashes(monkeypatch) -> None:
    cheap_hashes(monkeypatch)


class BarrierHasher(PasswordHasher):
    """Cheap argon2 whose ``hash`` returns only once ``parties`` threads are all inside it: the
    widest possible window between whatever a sign-up checks before hashing and its insert."""

    def __init__(self, parties: int) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.barrier = threading.Barrier(parties)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.barrier.wait(timeout=60)
        return super().hash(password, salt=salt)


def _together(n: int, job: Any) -> list[Any]:
    """``job(i)`` for i in 0..n-1, in n threads started at the same moment; results or exceptions."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait(timeout=60)
        try:
            return job(i)
        except Exception as exc:  # noqa: BLE001 - the caller looks at what each attempt got
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# -- 1. one admin, however sign-ups race ------------------------------------------------------------
def test_simultaneous_first_sign_ups_make_exactly_one_admin(store, settings, monkeypatch):
    n = 20
    monkeypatch.setattr(accounts_module, "_hasher", BarrierHasher(n))
    monkeypatch.setattr(accounts_module, "_hash_slots", threading.BoundedSemaphore(n), raising=False)
    accounts = Accounts(store, settings)
    users = _together(n, lambda i: accounts.register(f"user{i}", f"user{i}@example.org", PASSWORD))
    assert all(isinstance(u, dict) for u in users), users
    assert sum(u["is_admin"] for u in users) == 1
    admins = [u for u in (store.people.user(x["id"]) for x in users) if u["is_admin"]]
    assert len(admins) == 1
    # later accounts never become admins, even after the admin is demoted
    monkeypatch.setattr(accounts_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    store.people.set_admin(admins[0]["id"], False)
    assert not accounts.register("late", "late@example.org", PASSWORD)["is_admin"]


def test_simultaneous_sign_ups_through_the_web_make_one_admin(settings, fast_hashes):
    n = 12
    with running_app(settings) as web:
        clients = [web.browser() for _ in range(n)]
        tokens = [csrf(c) for c in clients]

        def sign_up(i: int) -> int:
            form = {"username": f"racer{i}", "email": f"racer{i}@example.org", "password": PASSWORD}
            r = clients[i].post("/register", data={**form, "csrf_token": tokens[i]}, follow_redirects=False)
            return r.status_code

        assert _together(n, sign_up) == [303] * n
        admins = [f"racer{i}" for i in range(n) if web.store.people.user_by_name(f"racer{i}")["is_admin"]]
        assert len(admins) == 1, admins
