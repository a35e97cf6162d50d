"""``paperboy migrate-store``: a SQLite home moved to PostgreSQL and back, nothing lost (every
table's count and a sample of rows compared), a non-empty target refused, orphans reported.

Runs against the suite's PostgreSQL server whatever ``--backend`` says: the point is to go from
one backend to the other.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from sqlalchemy import insert, select
from support import backend
from support.web import corpus
from typer.testing import CliRunner

from paperboy.cli.main import app
from paperboy.config import Settings, load_settings
from paperboy.services.subscriptions import LINK_KEY
from paperboy.store import Store
from paperboy.store import schema as t
from paperboy.store.transfer import count_rows

_names = itertools.count(1)
OLD_KEY = "5e" * 32
NOW = "2026-07-10T12:00:00Z"


def _pg_database() -> str:
    """An empty database (no schema: the command migrates it)."""
    return backend.server().create_database(f"migrate_{next(_names)}")


def _cli(home: Path, url: str, *args: str):
    # the store named explicitly: on a PostgreSQL run the test's own database is in the environment
    return CliRunner().invoke(app, ["--home", str(home), *args], env={"PAPERBOY_DATABASE_URL": url, "COLUMNS": "200"})


def _fill(settings: Settings) -> None:
    """A store with a bit of everything: papers, people, votes, comments, vectors, a library."""
    with Store.open(settings) as st:
        st.ingest("jsonl", "fixture", corpus())
        users = [st.people.create_user(f"user{i}", f"user{i}@example.org", "$argon2id$x", NOW) for i in range(3)]
        papers = [p["id"] for p in st.iter_papers()]
        for i, uid in enumerate(users):
            for pid in papers[i : i + 5]:
                st.activity.vote(pid, uid, True, NOW)
            st.activity.add_comment(papers[i], uid, f"comment {i}\twith a tab\nand a line", NOW)
        st.put_vectors(
            "m", [(p["id"], p["seq"], bytes(range(i % 256, i % 256 + 16))) for i, p in enumerate(st.iter_papers())]
        )
        cid = st.library.create_collection(users[0], "Reading", NOW)
        st.library.add_items(cid, papers[:4], NOW)


def _sample(url: str) -> dict[str, object]:
    """What must survive a move: papers, votes, comments, vectors, the library, the signing key."""
    with Store.open(load_settings(Path("/nonexistent-home"), database_url=url)) as st:
        ids = sorted(p["id"] for p in st.iter_papers())
        papers = [{k: v for k, v in p.items()} for p in st.get_papers(ids[::5])]
        with st.engine.connect() as conn:
            votes = sorted(tuple(r) for r in conn.execute(select(t.votes.c.paper_id, t.votes.c.user_id)))
            comments = sorted(tuple(r) for r in conn.execute(select(t.comments.c.id, t.comments.c.body)))
            items = sorted(
                tuple(r)
                for r in conn.execute(select(t.collection_items.c.collection_id, t.collection_items.c.paper_id))
            )
        vectors = sorted(row for page in st.iter_vectors("m") for row in page)
        stats = st.activity.listed(ids[:6])
        return {
            "papers": papers,
            "votes": votes,
            "comments": comments,
            "items": items,
            "vectors": vectors,
            "stats": [(p["id"], p["upvotes"], p["num_comments"]) for p in stats],
            "secret": st.secrets.get(LINK_KEY),
        }


def test_sqlite_to_postgresql_and_back_loses_nothing(tmp_path):
    home = tmp_path / "home"
    lite = load_settings(home, database_url="")
    home.mkdir()
    (home / "secret.key").write_text(OLD_KEY + "\n")  # a home from before the key moved into the store
    _fill(lite)
    pg_url = _pg_database()

    result = _cli(home, "", "migrate-store", "--to", pg_url)
    assert result.exit_code == 0, result.output
    assert "copied to" in result.output and "papers" in result.output
    assert count_rows(Store.open(lite).engine) == count_rows(
        Store.open(load_settings(home, database_url=pg_url)).engine
    )
    there = _sample(pg_url)
    assert there == _sample(lite.db_url)
    assert there["secret"] == OLD_KEY  # links mailed before the move still open
    assert len(there["votes"]) == 15 and len(there["vectors"]) == len(corpus())

    # PostgreSQL's id sequences continue after the copied ids: new rows get new ids
    with Store.open(load_settings(home, database_url=pg_url)) as st:
        before = max(c[0] for c in there["comments"])  # type: ignore[union-attr]
        new = st.activity.add_comment(there["papers"][0]["id"], 1, "after the move", NOW)  # type: ignore[index]
        assert new == before + 1
        assert st.people.create_user("late", "late@example.org", "$argon2id$x", NOW) == 4

    back = tmp_path / "back.db"
    result = _cli(tmp_path / "pg-home", pg_url, "migrate-store", "--to", f"sqlite:///{back}")
    assert result.exit_code == 0, result.output
    assert count_rows(Store.open(load_settings(home, database_url=pg_url)).engine) == count_rows(
        Store.open(load_settings(tmp_path / "x", database_url=f"sqlite:///{back}")).engine
    )
    assert _sample(f"sqlite:///{back}") == _sample(pg_url)


def test_a_store_that_holds_data_is_refused_unless_replaced(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _fill(load_settings(first, database_url=""))
    with Store.open(load_settings(second, database_url="")) as st:
        st.ingest("jsonl", "other", corpus()[:3])
    target = f"sqlite:///{second / 'paperboy.db'}"
    refused = _cli(first, "", "migrate-store", "--to", target)
    assert refused.exit_code == 1 and "already holds a store" in refused.output and "--replace" in refused.output
    assert count_rows(Store.open(load_settings(second, database_url="")).engine)["papers"] == 3  # untouched
    replaced = _cli(first, "", "migrate-store", "--to", target, "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert _sample(target) == _sample(f"sqlite:///{first / 'paperboy.db'}")


def test_rows_left_behind_by_rekeyed_papers_are_reported_not_copied(tmp_path):
    home = tmp_path / "home"
    lite = load_settings(home, database_url="")
    _fill(lite)
    with Store.open(lite) as st, st.engine.begin() as conn:  # SQLite checks no foreign keys: an orphan vote
        conn.execute(insert(t.votes).values(paper_id="title:gone", user_id=1, created_at=NOW))
    result = _cli(home, "", "migrate-store", "--to", _pg_database())
    assert result.exit_code == 0, result.output
    assert "1 rows referred to rows no longer in the store" in result.output


def test_an_unreachable_target_is_one_line(tmp_path):
    home = tmp_path / "home"
    _fill(load_settings(home, database_url=""))
    result = _cli(home, "", "migrate-store", "--to", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.exit_code == 1 and "cannot open the target" in result.output and "Traceback" not in result.output
