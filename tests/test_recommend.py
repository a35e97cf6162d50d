"""The recommender: taste from positives and negatives, exclusions, the window, explanations, stores
without vectors or abstracts, every method, the offline evaluation, and the two commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import insert
from support.recs import LAST_DAY, MODEL, TOPICS, fill, old, recent, topic_of, vector_for

from paperboy.services.recommend import BadRequest, Recommender
from paperboy.services.recs_eval import (
    evaluate,
    load_interactions,
    rank_metrics,
    split_users,
    store_features,
)
from paperboy.services.taste import METHODS
from paperboy.store import Store
from paperboy.store import schema as t

NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)


def _recommender(store, settings) -> Recommender:
    return Recommender(store, settings, clock=lambda: NOW, check_every=0)


def _topics(found) -> list[int]:
    return [topic_of(r.id) for r in found.results]


@pytest.fixture
def filled(store):
    fill(store)
    return store


def test_recommends_the_liked_topic_from_the_window_and_says_why(filled, settings):
    found = _recommender(filled, settings).recommend([old(2)], limit=10)
    assert (found.first, found.last) == ("2026-07-04", LAST_DAY.isoformat())  # 7 days up to the newest day
    assert found.candidates == 7 * 2 * len(TOPICS)
    assert found.features == "embeddings + tf-idf"
    assert _topics(found)[:10] == [2] * 10  # the window holds 14 papers of topic 2
    top = found.results[0]
    assert top.why.closest[0]["id"] == old(2) and top.why.closest[0]["title"].startswith("Language model reasoning")
    assert 0 < top.why.closest[0]["similarity"] <= 1
    assert {"reasoning", "chain"} & set(top.why.terms)
    assert "like “Language model reasoning" in top.why.text() and "shares" in top.why.text()
    assert all(r.score >= s.score for r, s in zip(found.results, found.results[1:], strict=False))


def test_two_interests_and_the_nearest_one_explains(filled, settings):
    found = _recommender(filled, settings).recommend([old(0), old(3)], limit=28)
    assert set(_topics(found)) == {0, 3}
    for r in found.results:
        assert r.why.closest[0]["id"] == (old(0) if topic_of(r.id) == 0 else old(3))


def test_negatives_are_never_recommended_and_push_their_kind_down(filled, settings):
    rec = _recommender(filled, settings)
    before = rec.recommend([old(0), old(1)], limit=28)
    assert set(_topics(before)) == {0, 1}
    after = rec.recommend([old(0), old(1)], [recent(1), recent(1, 1)], limit=28)
    assert recent(1) not in [r.id for r in after.results] and recent(1, 1) not in [r.id for r in after.results]
    assert _topics(after)[:14] == [0] * 14  # the disliked kind now comes after the liked one


def test_given_papers_excluded_unknown_ids_reported_ids_normalized(filled, settings):
    rec = _recommender(filled, settings)
    found = rec.recommend([recent(4), f"arXiv:{recent(4, 1)}v2", "9999.00000", "not-a-paper"], limit=100)
    assert found.positives == [recent(4), recent(4, 1)]
    assert found.unknown == ["9999.00000", "not-a-paper"]
    ids = [r.id for r in found.results]
    assert recent(4) not in ids and recent(4, 1) not in ids
    assert len(ids) == found.candidates - 2
    assert rec.recommend(["9999.00000"]).results == []


def test_window_since_and_bad_dates(filled, settings):
    rec = _recommender(filled, settings)
    assert rec.recommend([old(0)], since="all", limit=500).candidates == len(list(filled.iter_papers()))
    found = rec.recommend([old(0)], since="2026-07-09", limit=500)
    assert {r.id[:7] for r in found.results} <= {"2607.09", "2607.10"}
    narrow = Recommender(filled, settings.with_overrides(recs_window_days=2), check_every=0)
    assert narrow.recommend([old(0)]).first == "2026-07-09"
    for bad in ("yesterday", "2026-02-30"):
        with pytest.raises(BadRequest):
            rec.recommend([old(0)], since=bad)
    with pytest.raises(BadRequest):
        rec.recommend([old(0)], since="2026-08-01")  # after the newest day
    with pytest.raises(BadRequest):
        rec.recommend([old(0)], method="magic")


@pytest.mark.parametrize("method", METHODS)
def test_every_method_finds_the_topic(filled, settings, method):
    found = _recommender(filled, settings).recommend([old(3), recent(3, 6)], limit=5, method=method)
    assert _topics(found) == [3] * 5, method


def test_titles_only_store_without_vectors(store, settings):
    fill(store, titles_only=True, vectors=False)
    found = _recommender(store, settings).recommend([old(4)], limit=5)
    assert found.features == "tf-idf"
    assert _topics(found) == [4] * 5
    assert found.results[0].why.closest[0]["id"] == old(4)
    assert {"quantum", "error", "correction"} & set(" ".join(found.results[0].why.terms).split())


def test_store_with_no_usable_words_still_answers(store, settings):
    from paperboy.sources.base import finish
    from paperboy.sources.record import PaperRecord

    records = [
        finish(PaperRecord(id=f"2607.0000{i}", title="The", announced="2026-07-0" + str(i + 1), source="jsonl"))
        for i in range(3)
    ]
    store.ingest("jsonl", "x", records)
    found = _recommender(store, settings).recommend(["2607.00000"], limit=5)
    assert found.features == "none" and {r.id for r in found.results} == {"2607.00001", "2607.00002"}


def test_store_with_no_dates_ranks_every_paper(store, settings):
    from paperboy.sources.base import finish
    from paperboy.sources.record import PaperRecord

    titles = ["Quantum codes for qubits", "Quantum decoders for qubits", "Robots grasping cups", "Robots pushing cups"]
    store.ingest("jsonl", "x", [finish(PaperRecord(title=x, source="jsonl")) for x in titles])
    ids = {p["title"]: p["id"] for p in store.iter_papers()}
    found = _recommender(store, settings).recommend([ids["Quantum codes for qubits"]], limit=1)
    assert (found.first, found.last) == (None, None) and found.results[0].id == ids["Quantum decoders for qubits"]


def test_papers_without_vectors_still_ranked_by_words(store, settings):
    fill(store, vectors=False)
    papers = [p for p in store.iter_papers() if p["id"] != recent(2, 2)]  # one recent paper not embedded yet
    store.put_vectors(MODEL, [(p["id"], p["seq"], vector_for(p["id"]).tobytes()) for p in papers])
    found = _recommender(store, settings).recommend([old(2)], limit=14)
    assert found.features == "embeddings + tf-idf" and recent(2, 2) in [r.id for r in found.results]
    assert set(_topics(found)) == {2}


def _user(store, name="ada"):
    return store.people.create_user(name, f"{name}@example.org", "hash", "2026-01-01T00:00:00Z")


def test_for_user_learns_from_saves_votes_and_not_interested(filled, settings):
    lib = filled.library
    uid = _user(filled)
    rec = _recommender(filled, settings)
    assert rec.for_user(uid).cold
    saved = lib.ensure_collection(uid, "Saved", "2026-07-09T00:00:00Z")
    lib.add_items(saved, [recent(0)], "2026-07-09T00:00:00Z")
    filled.activity.vote(recent(1), uid, True, "2026-07-09T00:00:00Z")
    lib.set_feedback(uid, recent(1, 1), "not_interested", "2026-07-09T00:00:00Z")
    found = rec.for_user(uid, limit=100)
    ids = [r.id for r in found.results]
    assert not found.cold and set(found.positives) == {recent(0), recent(1)}
    assert recent(0) not in ids and recent(1) not in ids and recent(1, 1) not in ids
    assert _topics(found)[0] == 0  # a save weighs more than a vote
    seen = [r.id for r in rec.for_user(uid, limit=100, include_seen=True).results]
    assert recent(0) in seen and recent(1) in seen and recent(1, 1) not in seen  # "not interested" stays out


def test_recent_saves_weigh_more(filled, settings):
    lib = filled.library
    uid = _user(filled)
    saved = lib.ensure_collection(uid, "Saved", "2026-01-01T00:00:00Z")
    lib.add_items(saved, [old(4)], "2025-01-01T00:00:00Z")  # a year and a half ago
    lib.add_items(saved, [old(2)], "2026-07-09T00:00:00Z")  # yesterday
    found = _recommender(filled, settings).for_user(uid, limit=14)
    assert _topics(found) == [2] * 14


def test_papers_already_mailed_are_left_out_unless_asked(filled, settings):
    uid = _user(filled)
    lib = filled.library
    lib.add_items(lib.ensure_collection(uid, "Saved", "2026-07-01T00:00:00Z"), [old(0)], "2026-07-01T00:00:00Z")
    with filled.engine.begin() as conn:
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
        conn.execute(insert(t.digest_papers).values(subscriber_id=sub, paper_id=recent(0), period="2026-07-10"))
    rec = _recommender(filled, settings)
    assert recent(0) not in [r.id for r in rec.for_user(uid, limit=100).results]
    assert recent(0) in [r.id for r in rec.for_user(uid, limit=100, include_seen=True).results]


def test_the_cached_window_follows_new_papers_and_hidden_ones(filled, settings):
    from paperboy.sources.base import finish
    from paperboy.sources.record import PaperRecord

    rec = _recommender(filled, settings)
    assert rec.recommend([old(2)], limit=1).results[0].id != "2607.19999"
    filled.ingest(
        "jsonl",
        "late",
        [
            finish(
                PaperRecord(
                    id="2607.19999",
                    title="Language model reasoning: chain of thought",
                    announced="2026-07-10",
                    abstract=TOPICS[2][1],
                    source="jsonl",
                )
            )
        ],
    )
    paper = filled.get_paper("2607.19999")
    filled.put_vectors(MODEL, [(paper["id"], paper["seq"], vector_for(old(2)).tobytes())])
    found = rec.recommend([old(2)], limit=15)
    assert found.candidates == 71 and "2607.19999" in [r.id for r in found.results]  # among its topic's 15
    filled.activity.set_hidden("2607.19999", True)
    assert "2607.19999" not in [r.id for r in rec.recommend([old(2)], limit=50).results]


def test_in_the_background_a_stale_window_answers_while_the_new_one_is_built(filled, settings):
    import time

    from paperboy.sources.base import finish
    from paperboy.sources.record import PaperRecord

    rec = Recommender(filled, settings, clock=lambda: NOW, check_every=0, background=True)
    before = rec.recommend([old(2)], limit=50)
    late = PaperRecord(
        id="2607.19998", title="Chain of thought", announced="2026-07-10", abstract=TOPICS[2][1], source="jsonl"
    )
    filled.ingest("jsonl", "late", [finish(late)])
    stale = rec.recommend([old(2)], limit=50)  # answered at once from the old window
    assert stale.candidates == before.candidates and "2607.19998" not in [r.id for r in stale.results]
    deadline = time.monotonic() + 30
    while rec.recommend([old(2)], limit=50).candidates == before.candidates and time.monotonic() < deadline:
        time.sleep(0.05)
    fresh = rec.recommend([old(2)], limit=50)
    assert fresh.candidates == before.candidates + 1 and "2607.19998" in [r.id for r in fresh.results]
    assert not rec._rebuilding


def test_warming_builds_the_default_window_before_the_first_visitor(filled, settings):
    rec = Recommender(filled, settings, clock=lambda: NOW, check_every=60, background=True)
    assert not rec._pools
    rec.warm()
    assert list(rec._pools) == [rec.window()]
    warmed = rec._pools[rec.window()]
    rec.recommend([old(2)], limit=5)
    assert rec._pools[rec.window()] is warmed  # the first visitor is answered from it, nothing rebuilt


# -- the offline evaluation ------------------------------------------------------------------------
def _interactions(tmp_path, store) -> tuple:
    """Users = topics: each likes every paper of one topic (and one user has an unknown paper)."""
    lines = ["# user paper"]
    for p in store.iter_papers():
        lines.append(f"fan of {TOPICS[topic_of(p['id'])][0]}\t{p['id']}")
    lines.append("fan of Quantum error correction\t0000.00000")
    lines.append("loner 2607.10000")
    path = tmp_path / "interactions.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def test_eval_splits_metrics_and_methods(filled, tmp_path):
    path, _ = _interactions(tmp_path, filled)
    users = load_interactions(path)
    assert len(users) == 6 and users["loner"] == ["2607.10000"]
    features = store_features(filled, MODEL)
    assert len(features) == 110 and features.dense_share == 1.0
    index = {pid: i for i, pid in enumerate(features.ids)}
    splits, unknown = split_users(users, index, seed=0)
    assert unknown == 1 and len(splits) == 5  # the loner has one paper: nothing to hold out
    assert all(len(s.test) == round(0.2 * 22) and not set(s.test) & set(s.train) for s in splits)
    assert split_users(users, index, seed=0)[0] == splits  # fixed seed, same split
    assert split_users(users, index, seed=1)[0] != splits
    scores = {s.method: s for s in evaluate(features, splits, ["mix", "centroid", "svm"], k=5)}
    for s in scores.values():
        assert s.users == 5
        assert 0.99 <= s.ndcg <= 1.0 and s.recall == pytest.approx(1.0)  # topics are perfectly separable


def test_rank_metrics():
    ranked = np.array([5, 1, 7, 3])
    assert rank_metrics(ranked, {1, 3}, k=4) == (
        1.0,
        pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3))),
    )
    assert rank_metrics(ranked, {9}, k=4) == (0.0, 0.0)
    assert rank_metrics(ranked, {5, 9}, k=1) == (0.5, 1.0)


def test_bad_interaction_files(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("user1 2501.00001\njustoneword\n")
    with pytest.raises(BadRequest, match="bad.tsv:2"):
        load_interactions(bad)
    empty = tmp_path / "empty.tsv"
    empty.write_text("# nothing\n\n")
    with pytest.raises(BadRequest, match="no interactions"):
        load_interactions(empty)
    with pytest.raises(BadRequest, match="cannot read"):
        load_interactions(tmp_path / "missing.tsv")


# -- the commands ---------------------------------------------------------------------------------
def _run(home, *args):
    """The command in this process (a subprocess per call would cost seconds of imports each)."""
    from typer.testing import CliRunner

    from paperboy.cli.main import app

    result = CliRunner().invoke(app, ["--home", str(home), *args], env={"COLUMNS": "200"})
    result.returncode = result.exit_code
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_recommend_and_eval_recs_commands(settings, tmp_path):
    with Store.open(settings) as st:
        fill(st)
        path, _ = _interactions(tmp_path, st)
    home = settings.home
    done = _run(
        home, "recommend", "--positive", old(1), recent(1, 5), "--negative", recent(3), "--limit", "4", "--json"
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert len(results) == 4 and all(set(r) >= {"id", "score"} for r in results)
    assert [topic_of(r["id"]) for r in results] == [1] * 4
    assert results[0]["score"] >= results[-1]["score"] and results[0]["why"]["closestPapers"]

    repeated = _run(home, "recommend", "-p", old(1), "-p", recent(1, 5), "-l", "4", "--json")
    same = _run(home, "recommend", "--positive", f"{old(1)},{recent(1, 5)}", "-l", "4", "--json")
    assert json.loads(repeated.stdout) == json.loads(same.stdout)

    table = _run(home, "recommend", "--positive", old(0), "nope", "-l", "3")
    assert table.returncode == 0 and "why" in table.stdout and "no paper 'nope'" in table.stderr
    for args, message in (
        ((), "give at least one --positive"),
        (("--positive", "nope"), "none of the positive papers"),
        (("--positive", old(0), "--since", "soon"), "since must be a date"),
        (("--positive", old(0), "--method", "magic"), "unknown method"),
    ):
        failed = _run(home, "recommend", *args)
        assert failed.returncode in (1, 2) and message in failed.stderr and "Traceback" not in failed.stderr

    evaluated = _run(home, "eval-recs", "--interactions", str(path), "-m", "mix", "-m", "svm", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    data = json.loads(evaluated.stdout)
    assert data["users"] == 5 and set(data["methods"]) == {"mix", "svm"} and data["k"] == 50
    assert data["methods"]["mix"]["recall"] == pytest.approx(1.0)
    printed = _run(home, "eval-recs", "--interactions", str(path), "--users", "3", "-m", "centroid")
    assert printed.returncode == 0 and "Recall@50" in printed.stdout and "nDCG@50" in printed.stdout
    missing = _run(home, "eval-recs", "--interactions", str(tmp_path / "nope.tsv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
