"""The accounts service: registration rules, sign-in and its rate limit, sessions, passwords,
password-reset links (mailed through a real SMTP server, or written to the outbox) and API tokens."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import pytest
from sqlalchemy import inspect, select, text
from support.mail import body_text, smtp_server
from support.servers import free_port

from paperboy.services.accounts import AccountError, Accounts, TooManyAttempts, token_hash
from paperboy.services.mail import MailError
from paperboy.store import schema as t

START = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
PW = "correct horse battery"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(store, settings, clock, fast_hashes) -> Accounts:
    return Accounts(store, settings, clock=clock)


def _all_values(store) -> list[str]:
    """Every value of every account table, as text."""
    out = []
    with store.engine.connect() as conn:
        for table in (t.users, t.sessions, t.api_tokens, t.password_resets):
            for row in conn.execute(select(table)):
                out += [str(v) for v in row]
    return out


# -- registration ----------------------------------------------------------------------------------
BAD_NAMES = ["", " ", "a", "-alice", ".alice", "_alice", "al ice", "alice!", "al/ice", "x" * 41, "älice", "<b>", "a\nb"]
BAD_EMAILS = [
    "",
    "plain",
    "no-at.example.org",
    "a@b",
    "a@@example.org",
    "a b@example.org",
    "@example.org",
    "a@example.c",
    "x" * 65 + "@example.org",
    "a@" + "x" * 260 + ".org",
    "a@example .org",
]


def test_bad_user_names_are_refused(accounts):
    for name in BAD_NAMES:
        with pytest.raises(AccountError) as err:
            accounts.register(name, "someone@example.org", PW)
        assert err.value.field == "username", name
    assert accounts.people.count_users() == 0


def test_good_user_names(accounts):
    for name in ["al", "Alice", "alice.b", "a_b-c", "9lives", "x" * 40]:
        assert accounts.register(name, f"{name}@example.org", PW)["username"] == name


def test_bad_emails_are_refused(accounts):
    for email in BAD_EMAILS:
        with pytest.raises(AccountError) as err:
            accounts.register("alice", email, PW)
        assert err.value.field == "email", email
    assert accounts.people.count_users() == 0


def test_short_or_huge_passwords_are_refused(accounts):
    for password in ["", "1234567", " " * 3, "x" * 1025, None]:
        with pytest.raises(AccountError) as err:
            accounts.register("alice", "alice@example.org", password)
        assert err.value.field == "password"
    assert accounts.people.count_users() == 0


def test_eight_characters_is_enough(accounts):
    assert accounts.register("alice", "alice@example.org", "12345678")


def test_duplicate_names_and_emails_in_any_case(accounts):
    alice = accounts.register("Alice", "Alice@Example.org", PW, email_confirmed=True)
    assert alice["email"] == "alice@example.org"  # kept in one case
    for name, email, field in [
        ("alice", "other@example.org", "username"),
        ("ALICE", "other2@example.org", "username"),
        ("bob", "alice@example.org", "email"),
        ("bob", "ALICE@EXAMPLE.ORG", "email"),
        ("bob", "  alice@example.org  ", "email"),
    ]:
        with pytest.raises(AccountError, match="already registered") as err:
            accounts.register(name, email, PW, email_confirmed=True)  # an admin adding accounts is told
        assert err.value.field == field
    assert accounts.people.count_users() == 1


def test_first_user_is_admin_and_later_ones_are_not(accounts):
    first = accounts.register("root", "root@example.org", PW)
    second = accounts.register("bob", "bob@example.org", PW)
    assert first["is_admin"] and not second["is_admin"]


def test_only_argon2_hashes_are_stored(store, settings, clock):
    """With the real (default) parameters: argon2id, never the password itself."""
    accounts = Accounts(store, settings, clock=clock)
    user = accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    assert "password_hash" not in user
    record = store.people.login_record("alice")
    assert record["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not any(PW in value for value in _all_values(store))
    with store.engine.connect() as conn:  # nor anywhere else in the database
        for name in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                assert not any(PW in str(v) for v in row), name


def test_hashes_with_old_parameters_are_upgraded_on_sign_in(store, settings, clock, monkeypatch):
    from argon2 import PasswordHasher

    from paperboy.services import accounts as module

    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(module, "_hasher", weak)
    accounts = Accounts(store, settings, clock=clock)
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    assert "m=1024,t=1,p=1" in store.people.login_record("alice")["password_hash"]
    monkeypatch.setattr(module, "_hasher", PasswordHasher())
    accounts.authenticate("alice", PW)
    upgraded = store.people.login_record("alice")["password_hash"]
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert accounts.authenticate("alice", PW)["username"] == "alice"


# -- signing in ----------------------------------------------------------------------------------
def test_authenticate_by_name_or_email_in_any_case(accounts):
    accounts.register("Alice", "alice@example.org", PW, email_confirmed=True)
    for login in ["Alice", "alice", "ALICE", " alice ", "alice@example.org", "ALICE@Example.ORG"]:
        user = accounts.authenticate(login, PW, "10.0.0.1")
        assert user["username"] == "Alice"
        assert "password_hash" not in user


def test_wrong_credentials_give_the_same_answer(accounts):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    cases = [("alice", "wrong password"), ("nobody", PW), ("", PW), ("alice", ""), ("alice", PW.upper()), (None, None)]
    for n, (login, password) in enumerate(cases):
        with pytest.raises(AccountError, match="Wrong user name or password") as err:
            accounts.authenticate(login, password, f"10.0.0.{n}")
        assert not isinstance(err.value, TooManyAttempts)


def test_five_failures_lock_the_account_whatever_the_address(accounts):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    for n in range(5):
        with pytest.raises(AccountError):
            accounts.authenticate("alice", f"guess {n}", f"10.0.0.{n}")
    # the sixth try is refused before the password is even checked, from any address
    with pytest.raises(TooManyAttempts) as err:
        accounts.authenticate("alice", PW, "10.9.9.9")
    assert 0 < err.value.retry_after <= accounts.settings.login_window
    with pytest.raises(TooManyAttempts):
        accounts.authenticate("ALICE", PW, "10.9.9.8")  # the same account in another case
    # other accounts are not affected
    accounts.register("bob", "bob@example.org", PW)
    assert accounts.authenticate("bob", PW, "10.9.9.9")["username"] == "bob"


def test_five_failures_from_one_address_lock_that_address(accounts):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    for n in range(5):  # a spray of names from one address
        with pytest.raises(AccountError):
            accounts.authenticate(f"user{n}", "guess", "203.0.113.7")
    with pytest.raises(TooManyAttempts):
        accounts.authenticate("alice", PW, "203.0.113.7")
    assert accounts.authenticate("alice", PW, "198.51.100.1")["username"] == "alice"


def test_four_failures_are_allowed_and_success_resets_the_account_count(accounts):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    for round_ in range(3):
        for n in range(4):
            with pytest.raises(AccountError) as err:
                accounts.authenticate("alice", f"guess {n}", f"10.{round_}.0.{n}")
            assert not isinstance(err.value, TooManyAttempts)
        assert accounts.authenticate("alice", PW, f"10.{round_}.1.1")["username"] == "alice"


def test_the_lock_ends_after_the_window(accounts, clock):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    for n in range(5):
        with pytest.raises(AccountError):
            accounts.authenticate("alice", "guess", f"10.0.0.{n}")
    clock.advance(seconds=60)
    with pytest.raises(TooManyAttempts) as err:
        accounts.authenticate("alice", PW)
    window = accounts.settings.login_window
    assert err.value.retry_after == window - 60
    clock.advance(seconds=window - 60)
    assert accounts.authenticate("alice", PW)["username"] == "alice"


# -- sessions --------------------------------------------------------------------------------------
def test_sessions_expire_and_are_stored_hashed(accounts, store, clock):
    user = accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    session = accounts.start_session(user)
    assert session.expires == START + timedelta(days=accounts.settings.session_days)
    assert accounts.session_user(session.token)["username"] == "alice"
    with store.engine.connect() as conn:
        stored = conn.execute(select(t.sessions.c.token_hash)).scalars().all()
    assert stored == [hashlib.sha256(session.token.encode()).hexdigest()]
    assert session.token not in _all_values(store)
    clock.advance(days=accounts.settings.session_days, seconds=-1)
    assert accounts.session_user(session.token) is not None
    clock.advance(seconds=2)
    assert accounts.session_user(session.token) is None


def test_session_lookups_of_nonsense(accounts):
    user = accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    session = accounts.start_session(user)
    for token in [None, "", "x", session.token[:-1], session.token + "x", "x" * 5000, token_hash(session.token)]:
        assert accounts.session_user(token) is None


def test_sign_out_ends_only_that_session(accounts):
    user = accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    one, two = accounts.start_session(user), accounts.start_session(user)
    accounts.end_session(one.token)
    assert accounts.session_user(one.token) is None
    assert accounts.session_user(two.token)["id"] == user["id"]
    accounts.end_session(None)  # harmless


def test_change_password_ends_the_other_sessions(accounts):
    user = accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    here, laptop, phone = (accounts.start_session(user) for _ in range(3))
    with pytest.raises(AccountError) as err:
        accounts.change_password(user, "not it", "new password 1", here.token)
    assert err.value.field == "current"
    with pytest.raises(AccountError) as err:
        accounts.change_password(user, PW, "short", here.token)
    assert err.value.field == "new"
    assert accounts.session_user(laptop.token)  # failed changes end nothing
    accounts.change_password(user, PW, "new password 1", here.token)
    assert accounts.session_user(here.token)["username"] == "alice"
    assert accounts.session_user(laptop.token) is None and accounts.session_user(phone.token) is None
    with pytest.raises(AccountError):
        accounts.authenticate("alice", PW)
    assert accounts.authenticate("alice", "new password 1")


# -- password resets -------------------------------------------------------------------------------
def _outbox(settings) -> list:
    folder = settings.home / "outbox"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_reset_link_works_once_and_ends_every_session(accounts, settings):
    user = accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    session = accounts.start_session(user)
    token = accounts.request_reset("ALICE@example.org")
    assert token and accounts.reset_valid(token)
    with pytest.raises(AccountError):  # a too-short password does not spend the link
        accounts.reset_password(token, "short")
    assert accounts.reset_valid(token)
    assert accounts.reset_password(token, "brand new password")["id"] == user["id"]
    assert accounts.session_user(session.token) is None
    assert accounts.authenticate("alice", "brand new password")
    assert not accounts.reset_valid(token)
    with pytest.raises(AccountError, match="expired or was already used"):
        accounts.reset_password(token, "another new password")
    assert accounts.authenticate("alice", "brand new password")
    assert token not in _all_values(accounts.store)


def test_reset_links_expire(accounts, clock):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    token = accounts.request_reset("alice@example.org")
    clock.advance(hours=accounts.settings.reset_hours, seconds=-1)
    assert accounts.reset_valid(token)
    clock.advance(seconds=2)
    assert not accounts.reset_valid(token)
    with pytest.raises(AccountError):
        accounts.reset_password(token, "brand new password")
    assert accounts.authenticate("alice", PW)


def test_made_up_reset_tokens(accounts):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    accounts.request_reset("alice@example.org")
    for token in ["", "nonsense", "x" * 300, None]:
        assert not accounts.reset_valid(token)
        with pytest.raises(AccountError):
            accounts.reset_password(token, "brand new password")
    assert accounts.authenticate("alice", PW)


def test_unknown_email_gets_no_token_and_no_mail(accounts, settings):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    for email in ["bob@example.org", "", "alice", None]:
        assert accounts.request_reset(email) is None
    assert _outbox(settings) == []


def test_reset_mail_goes_to_the_outbox_without_smtp(accounts, settings):
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    token = accounts.request_reset("alice@example.org")
    (path,) = _outbox(settings)
    assert path.suffix == ".eml" and not path.name.startswith(".tmp")
    msg = message_from_bytes(path.read_bytes())
    assert msg["To"] == "alice@example.org"
    assert msg["From"] == settings.mail_from
    assert msg["Subject"] == "Reset your paperboy password"
    assert msg["Message-ID"] and msg["Date"]
    assert f"{settings.base_url}/reset/{token}" in body_text(msg)


def test_reset_mail_through_a_real_smtp_server(store, settings, clock, fast_hashes):
    with smtp_server() as (received, port):
        smtp = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=port, base_url="https://papers.example.org/")
        accounts = Accounts(store, smtp, clock=clock)
        accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
        token = accounts.request_reset("alice@example.org")
    assert _outbox(settings) == []  # sent, not written
    (msg,) = received.messages
    assert msg["To"] == "alice@example.org"
    assert msg["Subject"] == "Reset your paperboy password"
    body = body_text(msg)
    links = re.findall(r"https://\S+", body)
    assert links == [f"https://papers.example.org/reset/{token}"]  # base URL without a doubled slash
    assert "alice" in body and "2 hours" in body
    # the mailed link is the one that works
    assert accounts.reset_password(links[0].rsplit("/", 1)[1], "brand new password")


def test_smtp_refusing_the_recipient_is_a_permanent_error(store, settings, clock, fast_hashes):
    with smtp_server(refuse=("alice@example.org",)) as (received, port):
        accounts = Accounts(store, settings.with_overrides(smtp_host="127.0.0.1", smtp_port=port), clock=clock)
        accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
        with pytest.raises(MailError) as err:
            accounts.request_reset("alice@example.org")
    assert err.value.permanent
    assert received.messages == []


def test_smtp_server_down_is_a_temporary_error(store, settings, clock, fast_hashes):
    down = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=free_port(), http_timeout=2.0)
    accounts = Accounts(store, down, clock=clock)
    accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    with pytest.raises(MailError) as err:
        accounts.request_reset("alice@example.org")
    assert not err.value.permanent
    assert _outbox(settings) == []  # not silently written elsewhere


# -- API tokens ------------------------------------------------------------------------------------
def test_api_tokens_are_stored_hashed_and_can_be_revoked(accounts, store, clock):
    alice = accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    bob = accounts.register("bob", "bob@example.org", PW)
    token = accounts.create_api_token(alice, "  laptop script  ")
    other = accounts.create_api_token(alice, "")
    assert token.startswith("pb_") and len(token) > 40 and token != other
    assert token not in _all_values(store)
    (listed_other, listed) = store.people.tokens(alice["id"])
    assert listed["name"] == "laptop script" and listed_other["name"] == "token"
    assert listed["prefix"] == token[:10] and "token_hash" not in listed
    with store.engine.connect() as conn:
        hashes = set(conn.execute(select(t.api_tokens.c.token_hash)).scalars())
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert listed["last_used_at"] is None
    clock.advance(minutes=5)
    assert accounts.api_user(token)["username"] == "alice"
    assert store.people.tokens(alice["id"])[1]["last_used_at"] == "2026-07-01T09:05:00Z"
    assert not store.people.delete_token(bob["id"], listed["id"])  # not bob's to revoke
    assert accounts.api_user(token)["username"] == "alice"
    assert store.people.delete_token(alice["id"], listed["id"])
    assert accounts.api_user(token) is None
    assert accounts.api_user(other)["username"] == "alice"


def test_unknown_api_tokens(accounts):
    user = accounts.register("alice", "alice@example.org", PW, email_confirmed=True)
    real = accounts.create_api_token(user, "t")
    for token in [None, "", "pb_", "pb_nonsense", "Bearer " + real, real + " ", "x" * 300, "pb_" + "x" * 300]:
        assert accounts.api_user(token) is None, token
    assert accounts.api_user(real[3:]) is None  # without its prefix
    assert accounts.api_user(token_hash(real)) is None  # the stored hash is no key
    assert accounts.api_user(real)["id"] == user["id"]
