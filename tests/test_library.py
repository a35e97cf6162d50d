"""Libraries: collections, saving, "not interested", imports matched by arXiv id / DOI / title with
the unmatched listed, BibTeX export round trips, private feed tokens, and the digest's sent papers."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from support.recs import fill, old, recent

from paperboy.services.errors import NotFound, ServiceError
from paperboy.services.library import DEFAULT_COLLECTION, LibraryService
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord
from paperboy.store import schema as t


@pytest.fixture
def lib(store, settings):
    fill(store, vectors=False)
    extra = PaperRecord(
        id=None, title="A Journal Paper Without arXiv", doi="10.1000/J.X.1", source="jsonl", place="x", abstract=""
    )
    store.ingest("jsonl", "extra", [finish(extra)])
    return LibraryService(store, settings)


def _user(store, name: str = "ada") -> dict:
    uid = store.people.create_user(name, f"{name}@example.org", "hash", "2026-07-01T00:00:00Z")
    return store.people.user(uid)


def test_collections_belong_to_their_owner(lib, store):
    ada, bob = _user(store, "ada"), _user(store, "bob")
    made = lib.create_collection(ada, "  Reading   group ")
    assert made["name"] == "Reading group"
    with pytest.raises(ServiceError) as dup:
        lib.create_collection(ada, "reading GROUP")
    assert dup.value.kind == "conflict"
    assert lib.create_collection(bob, "Reading group")["id"] != made["id"]  # names are per user
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(ServiceError):
            lib.create_collection(ada, bad)
    with pytest.raises(NotFound):
        lib.collection(bob, made["id"])
    with pytest.raises(NotFound):
        lib.delete_collection(bob, made["id"])
    with pytest.raises(NotFound):
        lib.export_bibtex(bob, made["id"])
    assert lib.rename_collection(ada, made["id"], "Group")["name"] == "Group"


def test_save_unsave_and_not_interested(lib, store):
    ada = _user(store)
    saved_in = lib.save(ada, recent(0))
    assert saved_in["name"] == DEFAULT_COLLECTION
    lib.save(ada, recent(0))  # twice counts once
    other = lib.save(ada, recent(1), new_name="Molecules")
    lib.save(ada, recent(0), collection_id=other["id"])
    sizes = {c["name"]: c["count"] for c in lib.collections(ada)}
    assert sizes == {DEFAULT_COLLECTION: 1, "Molecules": 2}
    with pytest.raises(NotFound):
        lib.save(ada, "9999.99999")
    assert {p["id"] for p in lib.papers(ada, other["id"])} == {recent(0), recent(1)}
    saved, dismissed = lib.marks(ada, [recent(0), recent(1), recent(2)])
    assert saved == {recent(0), recent(1)} and dismissed == set()

    lib.not_interested(ada, recent(2))
    assert lib.marks(ada)[1] == {recent(2)}
    assert [p["id"] for p in lib.dismissed(ada)] == [recent(2)]
    lib.save(ada, recent(2))  # saving takes the mark back: the user changed their mind
    assert lib.marks(ada)[1] == set()
    lib.not_interested(ada, recent(3))
    assert lib.not_interested(ada, recent(3), on=False) is True
    assert lib.marks(ada)[1] == set()

    assert lib.unsave(ada, recent(0), other["id"]) == 1
    assert lib.unsave(ada, recent(0)) == 1  # from every other collection
    assert recent(0) not in lib.marks(ada)[0]
    lib.delete_collection(ada, other["id"])
    assert [c["name"] for c in lib.collections(ada)] == [DEFAULT_COLLECTION]
    with store.engine.connect() as conn:  # the items went with it (SQLite runs without cascades)
        assert (
            conn.execute(t.collection_items.select().where(t.collection_items.c.collection_id == other["id"])).all()
            == []
        )


def test_positives_and_negatives_for_the_recommender(lib, store):
    ada = _user(store)
    lib.save(ada, old(0))
    store.activity.vote(recent(1), ada["id"], True, "2026-07-05T00:00:00Z")
    store.activity.vote(old(0), ada["id"], True, "2026-07-06T00:00:00Z")  # saved and voted: counted once, as a save
    lib.not_interested(ada, recent(4))
    positives = store.library.positives(ada["id"])
    assert sorted((pid, how) for pid, _, how in positives) == sorted([(old(0), "save"), (recent(1), "vote")])
    assert [pid for pid, _ in store.library.negatives(ada["id"])] == [recent(4)]


BIB = """@article{known, title = {Anything}, eprint = {%s}, archivePrefix = {arXiv}}
@article{bydoi, title = {Whatever}, doi = {https://doi.org/10.1000/j.x.1}}
@article{bytitle, title = {{Language} model reasoning: study %s}}
@article{missing, title = {A Paper Nobody Has}, eprint = {1999.99999}}
@misc{broken, title = {no end
"""


def test_import_matches_by_arxiv_doi_and_title_and_lists_the_rest(lib, store):
    ada = _user(store)
    text = BIB % (recent(0), recent(2))
    report = lib.import_file(ada, text.encode(), "mine.bib", collection_name="Imported stuff")
    assert report.format == "bibtex" and report.entries == 4
    assert report.by == {"arXiv id": 1, "DOI": 1, "title": 1}
    assert report.added == 3
    assert [(r.key, r.place) for r in report.unmatched] == [("missing", "line 4 (missing)")]
    assert report.problems and report.problems[0][0] == "line 5"
    assert report.collection["name"] == "Imported stuff"
    ids = {p["id"] for p in lib.papers(ada, report.collection["id"])}
    assert recent(0) in ids and recent(2) in ids and len(ids) == 3
    again = lib.import_file(ada, text.encode(), "mine.bib", collection_id=report.collection["id"])
    assert again.added == 0 and len(again.matched) == 3  # importing twice adds nothing


def test_import_refuses_bad_files_clearly(lib, store, settings):
    ada = _user(store)
    with pytest.raises(ServiceError, match="binary file"):
        lib.import_file(ada, b"\x00\x01\x02\x03", "x.pdf")
    with pytest.raises(ServiceError, match="no Title column"):
        lib.import_file(ada, b"a,b\n1,2\n", "x.csv")
    small = LibraryService(store, settings.with_overrides(library_max_upload_mb=0.001))
    with pytest.raises(ServiceError) as big:
        small.import_file(ada, b"@misc{a, title={b}}" + b" " * 2000, "x.bib")
    assert big.value.kind == "too_large"
    assert lib.collections(ada) == []  # nothing made by a failed import


def test_export_then_import_round_trip(lib, store):
    ada = _user(store)
    for pid in (recent(0), recent(1), old(3)):
        lib.save(ada, pid)
    lib.save(ada, store.library.ids_by_doi(["10.1000/j.x.1"])["10.1000/j.x.1"])  # a paper without arXiv id
    cid = lib.collections(ada)[0]["id"]
    name, text = lib.export_bibtex(ada, cid)
    assert name == "saved.bib" and text.count("@") == 4 and f"eprint = {{{recent(0)}}}" in text
    report = lib.import_file(ada, text.encode(), name, collection_name="Copy")
    assert len(report.matched) == 4 and not report.unmatched and not report.problems
    assert report.by == {"arXiv id": 3, "DOI": 1}


def test_ris_and_zotero_imports(lib, store):
    ada = _user(store)
    ris = f"TY  - JOUR\nTI  - x\nUR  - https://arxiv.org/abs/{recent(1)}v2\nER  - \nTY  - JOUR\nTI  - Unknown\nER  - \n"
    report = lib.import_file(ada, ris.encode(), "x.ris")
    assert report.format == "ris" and len(report.matched) == 1 and [r.place for r in report.unmatched] == ["line 5"]
    csv = (
        '"Key","Title","Url","Extra"\n'
        f'"A","t","","arXiv:{recent(3)}"\n'
        f'"B","Quantum error correction: study {recent(4)}","",""\n'
    )
    report = lib.import_file(ada, csv.encode(), "export.csv")
    assert report.format == "zotero-csv" and report.by == {"arXiv id": 1, "title": 1}


def test_feed_tokens(lib, store):
    ada = _user(store)
    first = lib.new_feed_token(ada)
    assert first.startswith("pf_") and lib.feed_user(first)["id"] == ada["id"]
    assert store.library.feed_token(ada["id"])["last_used_at"] is not None
    second = lib.new_feed_token(ada)
    assert lib.feed_user(first) is None and lib.feed_user(second)["id"] == ada["id"]
    for bad in (None, "", "pf_nope", "pb_" + second[3:], "pf_" + "x" * 300):
        assert lib.feed_user(bad) is None
    with store.engine.connect() as conn:  # only the hash is kept
        assert second not in str(conn.execute(t.feed_tokens.select()).all())


def test_papers_sent_in_a_digest_are_known_by_address(lib, store):
    ada = _user(store)
    with store.engine.begin() as conn:
        sub = conn.execute(
            insert(t.subscribers).values(
                email="ada@example.org",
                confirmed=True,
                bounced=False,
                frequency="daily",
                sections=[],
                items=5,
                categories=[],
                searches=[],
                link_key="k",
                created_at="2026-07-01T00:00:00Z",
            )
        ).inserted_primary_key[0]
        conn.execute(insert(t.digest_papers).values(subscriber_id=sub, paper_id=recent(2), period="2026-07-09"))
    assert store.library.sent_ids(ada["id"]) == {recent(2)}
    assert store.library.sent_ids(_user(store, "bob")["id"]) == set()
