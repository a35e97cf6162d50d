"""The store: merge rules, deduplication, re-keying, run records, migrations."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from support.backend import sqlite_only

from paperboy.sources.record import PaperRecord, Rejection
from paperboy.store.schema import SQLITE_ONLY_FOREIGN_KEYS, metadata


def rec(**kw) -> PaperRecord:
    base = {"title": "A Study of Things", "source": "jsonl", "place": "t:1"}
    base.update(kw)
    from paperboy.sources.base import finish

    out = finish(PaperRecord(**base))
    assert isinstance(out, PaperRecord)
    return out


def test_new_then_identical_is_unchanged(store):
    first = store.ingest("jsonl", "a", [rec(id="2501.00001", authors=["Ada Lovelace"], categories=["cs.LG"])])
    assert (first.new, first.updated, first.unchanged) == (1, 0, 0)
    again = store.ingest("jsonl", "a", [rec(id="2501.00001", authors=["Ada Lovelace"], categories=["cs.LG"])])
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1)
    assert store.count_papers() == 1


def test_later_version_wins_and_versions_are_remembered(store):
    store.ingest("arxiv", "a", [rec(id="2501.00001v1", title="Old title", abstract="old", source="arxiv")])
    s = store.ingest("arxiv", "b", [rec(id="2501.00001v2", title="New title", source="arxiv", doi="10.1/X")])
    assert s.updated == 1
    paper = store.get_paper("2501.00001")
    assert paper["title"] == "New title"
    assert paper["abstract"] == "old"  # the newer record had none: the old one fills it
    assert paper["doi"] == "10.1/X"  # DOIs keep their case (they match in any case)
    assert [v["version"] for v in paper["versions"]] == [1, 2]
    assert paper["version"] == 2
    # an older version arriving later only fills gaps
    s = store.ingest("arxiv", "c", [rec(id="2501.00001v1", title="Old title", comment="5 pages", source="arxiv")])
    paper = store.get_paper("2501.00001")
    assert paper["title"] == "New title" and paper["comment"] == "5 pages"


def test_source_authority_on_equal_versions(store):
    store.ingest("kaggle", "k", [rec(id="2501.00002", title="Exact Title", abstract="from arXiv", source="kaggle")])
    store.ingest("hf", "h", [rec(id="2501.00002", title="exact title!", abstract="from HF", upvotes=7, source="hf")])
    paper = store.get_paper("2501.00002")
    assert paper["title"] == "Exact Title" and paper["abstract"] == "from arXiv"
    assert paper["source_upvotes"] == 7
    assert paper["sources"] == ["hf", "kaggle"]


def test_records_without_id_match_by_doi_then_title(store):
    store.ingest("jsonl", "a", [rec(id="2501.00003", title=r"$\alpha$-Nets: {F}ast Learning", doi="10.5/abc")])
    by_doi = store.ingest("hf", "b", [rec(title="Totally different", doi="https://doi.org/10.5/ABC", source="hf")])
    by_title = store.ingest("hf", "c", [rec(title="α-Nets:  fast learning", source="hf", upvotes=3)])
    assert by_doi.new == 0 and by_title.new == 0
    assert store.count_papers() == 1
    assert store.get_paper("2501.00003")["source_upvotes"] == 3


def test_title_only_paper_is_rekeyed_when_its_arxiv_id_arrives(store):
    store.ingest("hf", "page", [rec(title="Deep Things", abstract="x", source="hf", upvotes=4)])
    (only,) = list(store.iter_papers())
    assert only["id"].startswith("title:")
    s = store.ingest("jsonl", "corpus", [rec(id="2502.00010", title="Deep things.", authors=["B. C."])])
    assert (s.new, s.updated) == (0, 1)
    assert store.count_papers() == 1
    paper = store.get_paper("2502.00010")
    assert paper["source_upvotes"] == 4 and paper["sources"] == ["hf", "jsonl"]
    assert store.get_paper(only["id"]) is None
    assert [p["id"] for p in store.papers_by_author("b c")] == ["2502.00010"]


def test_duplicates_inside_one_batch_become_one_row(store):
    s = store.ingest("jsonl", "a", [rec(id="2501.00004"), rec(id="2501.00004v2"), rec(title="Unique")])
    assert store.count_papers() == 2
    assert s.new == 2 and s.new + s.updated + s.unchanged == 3


def test_authors_normalized_for_author_pages(store):
    store.ingest("jsonl", "a", [rec(id="2501.00005", authors=["José Müller", "Ann Lee"])])
    store.ingest("jsonl", "a", [rec(id="2501.00006", title="Other", authors=["Muller, Jose"])])
    assert {p["id"] for p in store.papers_by_author("jose muller")} == {"2501.00005", "2501.00006"}


def test_changed_authors_replace_link_rows(store):
    store.ingest("jsonl", "a", [rec(id="2501.00007", authors=["A One", "B Two"])])
    store.ingest("arxiv", "b", [rec(id="2501.00007v3", authors=["C Three"], source="arxiv")])
    assert store.papers_by_author("a one") == []
    assert [p["id"] for p in store.papers_by_author("c three")] == ["2501.00007"]


def test_runs_and_rejections_are_recorded(store):
    items = [rec(id="2501.00008"), Rejection("f.jsonl:2", "missing title"), Rejection("f.jsonl:3", "bad JSON")]
    s = store.ingest("jsonl", "f.jsonl", items)
    assert (s.new, s.rejected, s.status) == (1, 2, "completed")
    (run,) = store.runs()
    assert (run["source"], run["new"], run["rejected"], run["status"]) == ("jsonl", 1, 2, "completed")
    assert run["finished_at"] >= run["started_at"]
    assert store.rejections(run["id"]) == [
        {"place": "f.jsonl:2", "reason": "missing title"},
        {"place": "f.jsonl:3", "reason": "bad JSON"},
    ]


def test_failed_run_keeps_committed_batches(store):
    def items():
        for i in range(120):
            yield rec(id=f"2501.{i:05d}", title=f"Paper {i}")
        raise OSError("disk went away")

    try:
        store.ingest("jsonl", "x", items(), batch_size=50)
    except OSError:
        pass
    (run,) = store.runs()
    assert run["status"] == "failed" and "disk went away" in run["error"]
    assert store.count_papers() == 100  # two whole batches; the open one is lost


def test_seq_orders_changes_for_derived_indices(store):
    store.ingest("jsonl", "a", [rec(id="2501.00011"), rec(id="2501.00012", title="B")])
    mark = store.max_seq()
    store.ingest("arxiv", "b", [rec(id="2501.00011v2", title="Changed", source="arxiv")])
    assert [p["id"] for p in store.iter_papers(after_seq=mark)] == ["2501.00011"]


def test_stats(store):
    store.ingest("jsonl", "a", [rec(id="2501.00013", categories=["cs.LG", "cs.AI"], announced="2025-01-02")])
    data = store.stats()
    assert data["papers"] == 1 and data["by_day"] == [("2025-01-02", 1)]
    assert data["by_category"] == [("cs.LG", 1)] and data["by_source"] == [("jsonl", 1)]


def test_migrations_match_schema(store):
    def compared(obj, name, kind, reflected, other) -> bool:  # noqa: ANN001
        """Alembic ignores a constraint's ``ddl_if``: the link tables' foreign keys exist on SQLite only."""
        sqlite = store.engine.dialect.name == "sqlite"
        return sqlite or kind != "foreign_key_constraint" or obj.parent.name not in SQLITE_ONLY_FOREIGN_KEYS

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"include_object": compared}), metadata)
    assert diff == []


@sqlite_only("WAL mode is a property of the SQLite file")
def test_sqlite_store_is_in_wal_mode(store, settings):
    with sqlite3.connect(settings.home / "paperboy.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_vectors_track_model_and_changes(store):
    store.ingest("jsonl", "a", [rec(id="2501.00020", title="One"), rec(id="2501.00021", title="Two")])
    todo = store.papers_to_embed("m1")
    assert [p["id"] for p in todo] == ["2501.00020", "2501.00021"]
    store.put_vectors("m1", [(p["id"], p["seq"], bytes(8)) for p in todo[:1]])
    assert [p["id"] for p in store.papers_to_embed("m1")] == ["2501.00021"]  # resumes where it stopped
    store.put_vectors("m1", [(todo[1]["id"], todo[1]["seq"], b"\x01" * 8)])
    assert store.papers_to_embed("m1") == [] and store.vector_counts("m1") == (2, 2)
    # a changed paper is embedded again; another model means everything again
    store.ingest("arxiv", "b", [rec(id="2501.00021v2", title="Two, revised", source="arxiv")])
    assert [p["id"] for p in store.papers_to_embed("m1")] == ["2501.00021"]
    assert store.vector_counts("m1") == (1, 2)
    assert len(store.papers_to_embed("m2")) == 2
    pages = list(store.iter_vectors("m1"))
    assert [[row[0] for row in page] for page in pages] == [["2501.00020", "2501.00021"]]


def test_rekeyed_paper_loses_its_old_vector(store):
    store.ingest("hf", "page", [rec(title="Deep Things", source="hf")])
    (old,) = store.papers_to_embed("m")
    store.put_vectors("m", [(old["id"], old["seq"], bytes(4))])
    store.ingest("jsonl", "corpus", [rec(id="2502.00099", title="Deep things")])
    assert [p["id"] for p in store.papers_to_embed("m")] == ["2502.00099"]
    assert [row[0] for page in store.iter_vectors("m") for row in page] == []


def test_one_list_of_paper_columns():
    """A paper row is made of exactly the content columns (plus its id), and the store shows all of
    them but the bookkeeping ones: one list, in merge.py, decides."""
    from paperboy.sources.base import finish
    from paperboy.sources.record import PaperRecord
    from paperboy.store import PAPER_FIELDS
    from paperboy.store import schema as t
    from paperboy.store.merge import BOOKKEEPING, CONTENT, new_row

    row = new_row(finish(PaperRecord(id="2501.00001", title="T", source="jsonl")), "2501.00001")
    assert set(row) == {"id", *CONTENT}
    assert set(PAPER_FIELDS) == {"id", *CONTENT} - set(BOOKKEEPING)
    assert set(CONTENT) <= set(t.papers.c.keys())


def test_bulk_paths_keep_every_character(store):
    """The bulk inserts (COPY on PostgreSQL, executemany on SQLite) store text exactly: tabs,
    newlines, backslashes, quotes, TeX and non-Latin letters, None and booleans."""
    tricky = 'A\ttab, a\nnewline, a \\backslash, \\N, "quotes", $\\alpha$, Ünïcødé, 数学, \r'
    out = store.ingest(
        "jsonl",
        "a",
        [
            rec(id="2501.00100", title=tricky, abstract=tricky, authors=[tricky, "B. Author"], categories=["cs.LG"]),
            rec(id="2501.00101", title="Plain", comment=None),
        ],
    )
    assert out.new == 2
    paper = store.get_paper("2501.00100")
    assert paper["abstract"] == tricky.strip() and paper["comment"] is None and paper["is_arxiv"] is True
    assert store.papers_by_author(tricky)[0]["id"] == "2501.00100"
    store.put_vectors("m", [("2501.00100", paper["seq"], b"\x00\\\t\n\xff" * 3)])
    assert [row[2] for page in store.iter_vectors("m") for row in page] == [b"\x00\\\t\n\xff" * 3]
