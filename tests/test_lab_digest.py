"""The digest's "From people you follow" section, sent through a real SMTP server, and migration 0011
over a store made before it."""

from __future__ import annotations

from support.digest import DAYS, day, load, mail_settings
from support.mail import smtp_server, text_part

from paperboy.services.accounts import Accounts
from paperboy.services.delivery import send_digests
from paperboy.services.subscriptions import Subscribing
from paperboy.store import Store


def test_a_digest_leads_with_papers_from_what_the_account_follows(settings, fast_hashes):
    with smtp_server() as (box, port), Store.open(mail_settings(settings, port)) as st:
        load(st)
        user = Accounts(st, st.settings).register(
            "reader", "reader@example.org", "correct horse battery", email_confirmed=True
        )
        target = "Author 12"  # one of the corpus's authors on the second day: paper 2607.01002
        st.follows.follow(user["id"], "author", "author 12", target, "2026-07-01T00:00:00Z", 10)
        Subscribing(st, st.settings).add_confirmed("reader@example.org", sections=["following", "trending"], items=3)
        report = send_digests(st, st.settings, day(DAYS[1]))
        assert report.sent == ["reader@example.org"]
        text = text_part(box.messages[-1])
        head, _, rest = text.partition("TRENDING")
        assert "FROM PEOPLE YOU FOLLOW" in head and "/papers/2607.01002" in head and f"You follow {target}" in head
        assert "/papers/2607.01002" not in rest  # once per digest, in the most specific section
        sent = st.subscriptions.sends(state="sent")[0]
        assert sent["content"]["sections"][0]["name"] == "following"


def test_migration_0011_keeps_collections_and_adds_the_lab_tables(settings):
    from sqlalchemy import create_engine, inspect, text
    from support.backend import blank_url

    from paperboy.store.db import alembic_config

    settings = settings.with_overrides(database_url=blank_url())  # no schema: migrated here, step by step
    settings.home.mkdir(parents=True)
    engine = create_engine(settings.db_url)
    from alembic import command

    cfg = alembic_config(settings.db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, username_key, email, password_hash, is_admin, created_at) "
                "VALUES ('a', 'a', 'a@x.org', 'h', FALSE, '2026-01-01T00:00:00Z')"
            )
        )
        conn.execute(
            text("INSERT INTO collections (user_id, name, name_key, created_at) VALUES (1, 'Saved', 'saved', 'x')")
        )
    engine.dispose()
    with Store.open(settings) as st:
        assert [c["name"] for c in st.library.collections(1)] == ["Saved"]
        names = set(inspect(st.engine).get_table_names())
        assert {
            "follows",
            "groups",
            "group_members",
            "group_invites",
            "reading_queue",
            "notes",
            "webhooks",
            "webhook_sends",
            "webhook_papers",
        } <= names
        gid = st.groups.create("Lab", "", 1, "2026-01-01T00:00:00Z", 5)
        cid = st.groups.create_collection(gid, "Saved", "2026-01-01T00:00:00Z", 5)  # same name as a personal one
        assert cid != st.library.collections(1)[0]["id"] and len(st.library.collections(1)) == 1
