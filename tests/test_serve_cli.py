"""``paperboy serve`` as a new user starts it: one server per home, a clear word when the port is
taken, and links that point where the server really listens."""

from __future__ import annotations

import email
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.servers import free_port
from support.web import running_app

from paperboy.config import load_settings


def _env() -> dict[str, str]:
    """The test's environment when the server starts (on PostgreSQL, the test's database)."""
    return {**os.environ, "COLUMNS": "200", "PAPERBOY_DIGEST_SCHEDULE": "0"}


def _serve(home: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paperboy",
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--no-index",
            "--no-semantic",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )


def _wait_listening(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the server did not start")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    proc = _serve(tmp_path / "home", port)
    try:
        _wait_listening(port, proc)
        yield tmp_path / "home", port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_second_server_on_the_same_home_is_refused(server):
    home, _ = server
    second = subprocess.run(
        [sys.executable, "-m", "paperboy", "--home", str(home), "serve", "--port", str(free_port()), "--no-index"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert second.returncode == 1
    assert "already served by paperboy serve (pid" in second.stdout and "another --home" in second.stdout
    assert "paperboy on" not in second.stdout and "Traceback" not in second.stderr


def test_a_port_in_use_is_said_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "paperboy", "--home", str(tmp_path / "home"), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in done.stdout and "--port" in done.stdout
    assert "paperboy on" not in done.stdout and "Errno" not in done.stdout + done.stderr


def test_mail_links_follow_the_port_the_server_listens_on(server):
    home, port = server
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as web:
        web.get("/forgot")
        token = web.cookies["pb_csrf"]
        web.post(
            "/register",
            data={"username": "ada", "email": "ada@example.org", "password": "correct horse b", "csrf_token": token},
        )
        token = web.cookies["pb_csrf"]  # rotated at sign-up
        link = _mailed(home, "/confirm-email/")  # the address is confirmed by the mailed link first
        web.post(link, data={"csrf_token": token})
        web.post("/forgot", data={"email": "ada@example.org", "csrf_token": token})
        assert _mailed(home, "/reset/").startswith(f"http://127.0.0.1:{port}/reset/")


def _mailed(home: Path, path: str) -> str:
    """The first link to ``path`` in the outbox, once a mail holding one is there."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mails = [email.message_from_bytes(p.read_bytes()) for p in (home / "outbox").glob("*.eml")]
        text = "".join(m.get_payload(decode=True).decode() for m in mails)
        found = re.search(rf"http://\S+{re.escape(path)}\S+", text)
        if found:
            return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no mail with a {path} link")


def test_feeds_link_to_the_address_asked_when_no_base_url_is_set(tmp_path):
    settings = load_settings(tmp_path / "home", page_cache_seconds=0)
    assert settings.base_url == "" and settings.site_url == "http://127.0.0.1:8000"
    assert load_settings(tmp_path / "home", served_url="http://box:18800").site_url == "http://box:18800"
    with running_app(settings) as web:
        feed = web.browser("http://papers.lab.test:18800").get("/feeds/daily.atom").text
        assert "http://papers.lab.test:18800/papers/" in feed and ":8000" not in feed
    with running_app(load_settings(tmp_path / "other", base_url="https://papers.example.org/")) as web:
        feed = web.browser("http://127.0.0.1:9999").get("/feeds/daily.atom").text
        assert "https://papers.example.org/papers/" in feed and "9999/papers" not in feed


def _failed_logins(url: str, forwarded_for: str, n: int) -> list[int]:
    """``n`` wrong sign-ins (each for another unknown account) claiming to come from ``forwarded_for``."""
    codes = []
    with httpx.Client(base_url=url, timeout=30, headers={"X-Forwarded-For": forwarded_for}) as client:
        client.get("/login")
        for i in range(n):
            data = {"login": f"nobody{i}-{forwarded_for}", "password": "wrong", "csrf_token": client.cookies["pb_csrf"]}
            codes.append(client.post("/login", data=data).status_code)
    return codes


@pytest.mark.parametrize("proxy", [True, False])
def test_behind_a_proxy_each_visitor_has_their_own_address(tmp_path, proxy):
    """``--proxy``: the per-address sign-in limit counts the address the proxy forwards, so one
    visitor's failures do not lock everybody out; without it the header is the visitor's own word."""
    port = free_port()
    command = [sys.executable, "-m", "paperboy", "--home", str(tmp_path / "home"), "serve", "--port", str(port)]
    command += ["--no-index", "--no-semantic", *(["--proxy", "127.0.0.1"] if proxy else [])]
    env = {**_env(), "PAPERBOY_LOGIN_MAX_FAILURES": "2"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        _wait_listening(port, proc)
        url = f"http://127.0.0.1:{port}"
        assert _failed_logins(url, "203.0.113.7", 3)[-1] == 429  # this address used up its attempts
        other = _failed_logins(url, "198.51.100.9", 1)
        assert other == ([400] if proxy else [429])  # another visitor: still let in to try, only through a proxy
    finally:
        proc.terminate()
        proc.wait(timeout=30)
