"""Keyword index: matching, ranking, filters, incremental catch-up, recovery, snippets."""

from __future__ import annotations

import json
import random
import re
import string

import pytest
from support.backend import fresh_url

from paperboy.config import load_settings
from paperboy.indices.keyword import STATE_FILE, KeywordIndex, snippet
from paperboy.indices.query import parse_query
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord
from paperboy.store import Store

PAPERS = [
    # id, title, abstract, authors, categories, announced
    (
        "2501.00001",
        "Learning to Rank with Transformers",
        "We study ranking of documents with attention models.",
        ["Ada Lovelace", "Charles Babbage"],
        ["cs.IR", "cs.LG"],
        "2025-01-06",
    ),
    (
        "2501.00002",
        "Graph Neural Networks for Molecules",
        "Message passing networks learned on molecular graphs predict properties.",
        ["Marie Curie"],
        ["cs.LG", "q-bio.BM"],
        "2025-01-20",
    ),
    (
        "2502.00003",
        "A Survey of Diffusion Models",
        "Diffusion models generate images. This survey covers score matching and sampling.",
        ["Yann LeCun", "Marie Curie"],
        ["cs.CV"],
        "2025-02-10",
    ),
    (
        "2502.00004",
        "Sampling Strategies",
        "We compare sampling strategies for diffusion models in image generation.",
        ["Alan Turing"],
        ["cs.CV", "stat.ML"],
        "2025-02-24",
    ),
    (
        "2503.00005",
        "State Space Models for Long Sequences",
        "A state space model handles long sequences; space and state are efficient.",
        ["Grace Hopper"],
        ["cs.LG"],
        "2025-03-03",
    ),
    (
        "2503.00006",
        "Efficient Attention",
        "The state of attention: space complexity of sequences, model state and memory.",
        ["Edsger Dijkstra"],
        ["cs.CL"],
        "2025-03-17",
    ),
    (
        "2504.00007",
        "Reinforcement Learning from Human Feedback",
        "Policies learned from preferences. <script>alert('x')</script> & more.",
        ["John von Neumann", "Ada Lovelace"],
        ["cs.AI", "cs.LG"],
        "2025-04-07",
    ),
    (
        "2504.00008",
        "Quantum Error Correction Codes",
        "Surface codes protect qubits against noise.",
        ["Richard Feynman"],
        ["quant-ph"],
        "2025-04-21",
    ),
    (
        "2505.00009",
        "Protein Folding",
        "We predict protein structure; our approach uses transformers trained on sequences.",
        ["Rosalind Franklin"],
        ["q-bio.BM"],
        "2025-05-05",
    ),
    (
        "2505.00010",
        "Naïve Bayes Revisited",
        "Classic classifiers with zebra features still matter.",
        ["Thomas Bayes"],
        ["stat.ML"],
        "2025-05-19",
    ),
    (
        "2506.00011",
        "Zebra Stripes",
        "Zebra patterns in vision benchmarks.",
        ["Ada Lovelace"],
        ["cs.CV"],
        "2025-06-02",
    ),
    (
        "2506.00012",
        "Translation of Low-Resource Languages",
        "Machine translation for languages with little data, using back-translation.",
        ["Noam Chomsky"],
        ["cs.CL"],
        "2025-06-16",
    ),
]


def record(pid: str, title: str, abstract: str, authors: list[str], cats: list[str], day: str | None) -> PaperRecord:
    out = finish(
        PaperRecord(
            id=pid,
            title=title,
            abstract=abstract,
            authors=authors,
            categories=cats,
            announced=day,
            published=day,
            source="jsonl",
            place="t:1",
        )
    )
    assert isinstance(out, PaperRecord)
    return out


@pytest.fixture
def filled(store):
    store.ingest("jsonl", "fixture", [record(*p) for p in PAPERS])
    return store


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One indexed fixture corpus for the read-only tests (building one takes a few tenths of a second)."""
    settings = load_settings(tmp_path_factory.mktemp("kw") / "home", batch_size=50, database_url=fresh_url())
    with Store.open(settings) as st:
        st.ingest("jsonl", "fixture", [record(*p) for p in PAPERS])
        idx = KeywordIndex.for_settings(settings)
        idx.catch_up(st)
        yield idx


@pytest.fixture
def index(filled, settings):
    idx = KeywordIndex.for_settings(settings)
    assert idx.catch_up(filled) == len(PAPERS)
    return idx


def ids(index: KeywordIndex, text: str, **kw) -> list[str]:
    return [h.id for h in index.search(parse_query(text, **kw), limit=50)]


def test_catch_up_indexes_everything_and_persists_position(index, filled, settings):
    assert len(index) == len(PAPERS)
    assert index.last_seq == filled.max_seq()
    again = KeywordIndex.for_settings(settings)
    assert again.last_seq == filled.max_seq() and len(again) == len(PAPERS)
    assert again.catch_up(filled) == 0


def test_stemming_finds_other_word_forms(shared):
    # "learning" finds "learned" in an abstract and "Learning" in a title
    assert set(ids(shared, "learning")) == {"2501.00001", "2501.00002", "2504.00007"}
    assert ids(shared, "molecule") == ["2501.00002"]
    assert ids(shared, "naive") == ["2505.00010"]  # accents folded


def test_any_word_matches_and_papers_with_more_words_rank_first(shared):
    hits = shared.search(parse_query("diffusion sampling"), limit=50)
    assert {h.id for h in hits} == {"2502.00003", "2502.00004"}  # the only papers with either word
    hits = shared.search(parse_query("quantum zebra"), limit=50)
    assert {h.id for h in hits} == {"2504.00008", "2505.00010", "2506.00011"}
    assert shared.count(parse_query("quantum zebra")) == 3
    assert shared.count("quantum zebra") == 3  # text is parsed on the way in
    assert ids(shared, "xylophone") == []
    assert ids(shared, "xylophone zebra") == ["2506.00011", "2505.00010"]  # an unknown word costs nothing


def test_a_long_question_finds_papers_sharing_most_but_not_all_of_its_words(shared):
    question = "which transformers predict the structure of a protein from its amino acid sequence?"
    # no paper has every word ("amino", "acid" and "which" are nowhere); the protein paper shares the most
    assert shared.search(parse_query(question), every_word=True) == []
    found = ids(shared, question)
    assert found[0] == "2505.00009"
    # papers sharing only "transformers" or "sequences" follow it, below
    assert {"2501.00001", "2503.00005"} <= set(found[1:])


def test_every_word_is_a_conjunction_for_alerts(shared):
    assert {h.id for h in shared.search(parse_query("diffusion models"), every_word=True)} == {
        "2502.00003",
        "2502.00004",
    }
    assert len(ids(shared, "models")) > len(shared.search(parse_query("diffusion models"), every_word=True))
    assert shared.search(parse_query("quantum zebra"), every_word=True) == []
    assert shared.count(parse_query("quantum zebra"), every_word=True) == 0
    # filters, phrases and exclusions hold the same way
    assert [h.id for h in shared.search(parse_query("diffusion models -survey"), every_word=True)] == ["2502.00004"]


def test_author_names_are_words_of_the_paper(shared):
    # an author and a word: the paper with both first, the author's other papers and the word's after
    found = ids(shared, "lovelace zebra")
    assert found[0] == "2506.00011"
    assert {"2501.00001", "2504.00007", "2505.00010"} <= set(found)
    assert ids(shared, '"marie curie" diffusion')[0] == "2502.00003"


def test_phrase_versus_bag_of_words(shared):
    bag = ids(shared, "state space model")
    phrase = ids(shared, '"state space model"')
    assert set(bag[:2]) == {"2503.00005", "2503.00006"} and len(bag) > 2  # then papers with "model" alone
    assert phrase == ["2503.00005"]
    # stop words inside a phrase keep their place: "learning to rank" matches the title
    assert ids(shared, '"learning to rank"') == ["2501.00001"]
    assert ids(shared, '"rank to learning"') == []


def test_more_occurrences_rank_higher(shared):
    # "zebra" is in one title and its abstract, and in another abstract
    hits = shared.search(parse_query("zebra"))
    assert [h.id for h in hits] == ["2506.00011", "2505.00010"]
    assert hits[0].score > hits[1].score > 0
    # "sampling": title of 2502.00004, abstract of 2502.00003
    assert ids(shared, "sampling")[0] == "2502.00004"


def test_excluded_terms_and_phrases(shared):
    assert set(ids(shared, "diffusion")) == {"2502.00003", "2502.00004"}
    assert ids(shared, "diffusion -survey") == ["2502.00004"]
    assert ids(shared, "diffusion NOT survey") == ["2502.00004"]
    assert ids(shared, 'diffusion -"image generation"') == ["2502.00003"]
    # exclusions alone: everything else, newest first
    assert len(ids(shared, "-zebra")) == len(PAPERS) - 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("author:curie", {"2501.00002", "2502.00003"}),
        ('author:"Marie Curie"', {"2501.00002", "2502.00003"}),
        ('author:"Curie, Marie"', {"2501.00002", "2502.00003"}),
        ('author:"M. Curie"', {"2501.00002", "2502.00003"}),
        ('author:"Pierre Curie"', set()),
        ("author:lovelace author:babbage", {"2501.00001"}),
        ('author:"john von neumann"', {"2504.00007"}),
        ("cat:cs.CV", {"2502.00003", "2502.00004", "2506.00011"}),
        ("cat:stat.ml cat:quant-ph", {"2502.00004", "2505.00010", "2504.00008"}),
        ("cat:q-bio", {"2501.00002", "2505.00009"}),
        ("since:2025-06-01", {"2506.00011", "2506.00012"}),
        ("until:2025-01", {"2501.00001", "2501.00002"}),
        ("since:2025-02 until:2025-02", {"2502.00003", "2502.00004"}),
        ("since:2025-06-02 until:2025-06-02", {"2506.00011"}),
        ("since:2026", set()),
        ("models cat:cs.CV since:2025-02-15", {"2502.00004"}),
        ("learning author:lovelace cat:cs.AI", {"2504.00007"}),
    ],
)
def test_filters(shared, text, expected):
    assert set(ids(shared, text)) == expected
    assert shared.count(parse_query(text)) == len(expected)


def test_filters_as_parameters(shared):
    assert set(ids(shared, "", author="Lovelace", categories=["cs.CV", "cs.IR"])) == {"2501.00001", "2506.00011"}
    assert ids(shared, "diffusion", since="2025-02-15", until="2025-03") == ["2502.00004"]


def test_filter_only_queries_list_newest_first(shared):
    assert ids(shared, "cat:cs.lg") == ["2504.00007", "2503.00005", "2501.00002", "2501.00001"]


def test_filters_do_not_change_scores(shared):
    plain = {h.id: h.score for h in shared.search(parse_query("learning"))}
    filtered = {h.id: h.score for h in shared.search(parse_query("learning cat:cs.LG"))}
    for pid, score in filtered.items():
        assert score == pytest.approx(plain[pid])


def test_paging_and_count(shared):
    query = parse_query("cat:cs.lg")
    assert shared.count(query) == 4
    first = shared.search(query, limit=2)
    second = shared.search(query, limit=2, offset=2)
    assert len(first) == len(second) == 2 and not {h.id for h in first} & {h.id for h in second}
    assert shared.search(query, limit=2, offset=10) == []
    assert shared.search(query, limit=0) == []
    assert shared.search(parse_query("diffusion sampling"), limit=5, offset=5) == []


def test_stop_words_and_empty_queries(shared):
    assert ids(shared, "") == []
    assert ids(shared, "the of and") == []
    assert shared.count(parse_query("the")) == 0
    assert set(ids(shared, "the diffusion")) == {"2502.00003", "2502.00004"}


HOSTILE = [
    '"unbalanced',
    'a"b"c"',
    "AND OR NOT",
    "+ - : * ( ) ^ ~ [ ] { } \\ /",
    "title:foo^3 abstract:[a TO z]",
    "'; DROP TABLE papers; --",
    "\x00\x01\x1b[31m",
    "🤖🧬 transformers 🔥",
    "author: cat: since: until:",
    'since:2025-13-45 until:abcd cat:!!! author:""',
    "x" * 10_000,
    "word " * 2000,
    "*",
    "a*b?c",
    "learning~2 rank^10",
    "(diffusion OR survey) AND -(models)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_never_raise(shared, text):
    query = parse_query(text)
    hits = shared.search(query, limit=10_000)  # more than the corpus holds: every hit
    assert isinstance(shared.search(query, limit=5), list)
    assert shared.count(query) == len(hits)  # the count says how many a search finds


def test_random_text_never_raises(shared):
    rng = random.Random(7)
    alphabet = string.printable + "\"'-:*()^~[]{}\\/éß漢字🤖\u200b\u202e\x00"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        shared.search(parse_query(text), limit=3)
        shared.count(parse_query(text))


def test_hypothesis_search_never_raises(shared):
    hypothesis = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @hypothesis.settings(max_examples=150, deadline=None, database=None)
    @hypothesis.given(st.text(max_size=80))
    def check(text: str) -> None:
        shared.search(parse_query(text), limit=3)
        shared.count(parse_query(text))

    check()


def test_incremental_catch_up_indexes_only_changes(filled, index):
    before = index.last_seq
    new = record("2507.00013", "Sparse Autoencoders", "Interpretability features.", ["Chris Olah"], ["cs.LG"], None)
    changed = record(*PAPERS[7][:1], "Topological Qubit Memory", *PAPERS[7][2:])
    filled.ingest("arxiv", "update", [new, changed])
    assert index.catch_up(filled) == 2
    assert index.last_seq == filled.max_seq() > before
    assert ids(index, "autoencoders") == ["2507.00013"]
    assert ids(index, "topological qubit") == ["2504.00008"]
    assert ids(index, "quantum error correction") == []  # the old title is gone
    assert ids(index, "surface codes") == ["2504.00008"]  # the abstract stayed
    assert len(index) == len(PAPERS) + 1
    assert index.catch_up(filled) == 0


def test_update_and_delete(index):
    index.update([{"id": "x:1", "seq": 0, "title": "Wombat Burrows", "abstract": "", "authors": [], "categories": []}])
    assert ids(index, "wombat") == ["x:1"]
    index.update([{"id": "x:1", "seq": 0, "title": "Koala Trees", "abstract": "", "authors": [], "categories": []}])
    assert ids(index, "wombat") == [] and ids(index, "koala") == ["x:1"]
    index.delete(["x:1", "2506.00011"])
    assert ids(index, "koala") == [] and ids(index, "zebra") == ["2505.00010"]


def test_missing_index_directory_is_rebuilt(filled, index, settings):
    path = KeywordIndex.default_path(settings)
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
    again = KeywordIndex.for_settings(settings)
    assert again.last_seq == 0 and len(again) == 0
    assert again.catch_up(filled) == len(PAPERS)
    assert ids(again, "zebra") == ["2506.00011", "2505.00010"]


@pytest.mark.parametrize("damage", ["meta", "segments", "state", "version"])
def test_damaged_index_is_rebuilt(filled, index, settings, damage):
    path = KeywordIndex.default_path(settings)
    if damage == "meta":
        (path / "meta.json").write_text("{not json")
    elif damage == "segments":
        for child in path.iterdir():
            if child.suffix in {".idx", ".term", ".store", ".pos"}:
                child.write_bytes(b"garbage")
    elif damage == "state":
        (path / STATE_FILE).write_text("")
    else:
        (path / STATE_FILE).write_text(json.dumps({"schema_version": -1, "last_seq": 99}))
    again = KeywordIndex.for_settings(settings)
    again.catch_up(filled)
    assert len(again) == len(PAPERS) and again.last_seq == filled.max_seq()
    assert ids(again, "zebra") == ["2506.00011", "2505.00010"]


def test_index_ahead_of_store_is_rebuilt(filled, index, settings):
    path = KeywordIndex.default_path(settings)
    index.update([{"id": "ghost", "seq": 10_000, "title": "Ghost Paper", "abstract": "", "authors": []}])
    assert json.loads((path / STATE_FILE).read_text())["last_seq"] == 10_000
    again = KeywordIndex.for_settings(settings)
    assert again.last_seq == 10_000
    assert again.catch_up(filled) == len(PAPERS)
    assert again.last_seq == filled.max_seq()
    assert ids(again, "ghost") == [] and len(again) == len(PAPERS)


def test_index_holding_papers_the_store_lacks_is_rebuilt(filled, index):
    index.update([{"id": "stale", "seq": 1, "title": "Stale Paper", "abstract": "", "authors": []}])
    index.catch_up(filled)
    assert ids(index, "stale") == [] and len(index) == len(PAPERS)


def test_foreign_directory_is_not_wiped(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(RuntimeError):
        KeywordIndex.open(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_snippet_escapes_html_and_marks_stems(filled):
    abstract = filled.get_paper("2504.00007")["abstract"]
    out = snippet(abstract, ["learning"])
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp; more" in out
    assert "<mark>learned</mark>" in out
    assert snippet("Deep LEARNING and learners", ["learn"]) == "Deep <mark>LEARNING</mark> and <mark>learners</mark>"
    assert snippet("The cat and the hat", ["the"]) == "The cat and the hat"  # stop words are not marked
    assert snippet("", ["x"]) == ""


def test_snippet_cuts_around_the_first_match():
    text = " ".join(f"filler{i}" for i in range(200)) + " the quantum <b>leap</b> " + "tail " * 100
    out = snippet(text, parse_query("quantum").terms_for_highlight, width=120)
    assert "<mark>quantum</mark>" in out and "&lt;b&gt;leap&lt;/b&gt;" in out
    assert out.startswith("…") and out.endswith("…")
    assert len(out) < 200
    # no match: the start of the text
    assert snippet(text, ["absent"], width=50).startswith("filler0 filler1")


def _marked_by_stemming_every_word(text: str, terms: list[str]) -> list[str]:
    """The words ``snippet`` must mark, found the slow way: fold and stem every word of the text."""
    from paperboy.indices.keyword import _fold_stem, _fold_word, _stem_word

    stems, prefixes = set(), set()
    for term in terms:
        for word in re.findall(r"\w+", term):
            folded = _fold_word(word)
            stem = _stem_word(folded) if folded else ""
            if stem:
                stems.add(stem)
                if len(folded) >= 3:
                    prefixes.add(folded)
    marked = []
    for word in re.findall(r"\w+", " ".join(text.split())):
        folded, stem = _fold_stem(word)
        if folded and (folded.startswith(tuple(prefixes) or ("\0",)) or stem in stems):
            marked.append(word)
    return marked


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("DYING stars and dying light; lying, tying and skies", ["die", "lie", "tie", "sky"]),
        (
            "Über Schrödinger's café, naïve Bayes, İstanbul and ÅNGSTRÖM",
            ["uber", "schrodinger", "istanbul", "angstrom"],
        ),
        ("_under_score x_1 and 3D point-clouds of 3d scenes", ["under", "x", "3d", "score"]),
        ("Ｆｕｌｌ width ＡＩ models, full stops", ["full", "ai"]),
        ("Studies of the study: STUDIED, studying, studious", ["studies"]),
        ("Graph neural networks for graphs; GNNs and networked graphics", ["graph", "networks", "gnn"]),
    ],
)
def test_snippet_marks_what_stemming_every_word_marks(text, terms):
    """The fast candidate scan (two-letter heads, ``_STEM_HEADS``, non-ASCII words) misses nothing."""
    out = snippet(text, terms, width=10_000)
    assert re.findall(r"<mark>(.*?)</mark>", out) == _marked_by_stemming_every_word(text, terms)


def test_snippet_marks_match_stemming_every_word_on_random_text():
    rng = random.Random(7)
    vocabulary = "learning learned learners Dying dies ties Über naïve graph graphs GRAPHICAL _x x_y 3d ai".split()
    vocabulary += [
        "".join(rng.choice(string.ascii_letters + "éöİ_") for _ in range(rng.randint(1, 9))) for _ in range(60)
    ]
    for _ in range(300):
        text = " ".join(rng.choice(vocabulary) for _ in range(40))
        terms = [rng.choice(vocabulary) for _ in range(rng.randint(1, 6))]
        out = snippet(text, terms, width=10_000)
        assert re.findall(r"<mark>(.*?)</mark>", out) == _marked_by_stemming_every_word(text, terms), (text, terms)
