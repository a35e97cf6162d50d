"""The search syntax: words, phrases, exclusions, filters, and text that must never break it."""

from __future__ import annotations

import random
import string
from datetime import date

import pytest

from paperboy.indices.query import MAX_TERMS, Query, parse_date, parse_query


def test_words_phrases_and_exclusions():
    q = parse_query('diffusion "state space model" -survey NOT gan -"image generation" transformer')
    assert q.terms == ["diffusion", "transformer"]
    assert q.phrases == ["state space model"]
    assert q.excluded == ["survey", "gan"]
    assert q.excluded_phrases == ["image generation"]
    assert q.warnings == [] and not q.truncated and not q.is_empty


def test_operators_are_not_words():
    q = parse_query("a AND b OR c && d || e + f")
    assert q.terms == ["a", "b", "c", "d", "e", "f"]
    # lower-case "and"/"or" are ordinary words
    assert parse_query("rock and roll").terms == ["rock", "and", "roll"]


def test_one_word_phrase_is_a_word_and_duplicates_collapse():
    q = parse_query('"diffusion" diffusion "  a   b  " "a b"')
    assert q.terms == ["diffusion"] and q.phrases == ["a b"]


@pytest.mark.parametrize(
    ("text", "authors"),
    [
        ("author:lecun", ["lecun"]),
        ('author:"Yann LeCun"', ["Yann LeCun"]),
        ('author:"LeCun, Yann" author:hinton', ["LeCun, Yann", "hinton"]),
        ('AUTHOR:"  Yann   LeCun ', ["Yann LeCun"]),  # unbalanced quote runs to the end
        ("au:bengio by:hinton", ["bengio", "hinton"]),
    ],
)
def test_author_filter(text, authors):
    q = parse_query(text)
    assert q.authors == authors and q.terms == [] and q.has_filters and not q.has_text


def test_category_filter_is_lower_cased_and_validated():
    q = parse_query("cat:cs.LG category:stat.ML cat:cs cat:q-bio.BM cat:cs.LG cat:'; cat:a.b.c")
    assert q.categories == ["cs.lg", "stat.ml", "cs", "q-bio.bm"]
    assert len(q.warnings) == 2 and all("category" in w for w in q.warnings)


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("since:2025-03-04", date(2025, 3, 4), None),
        ("since:2025-03", date(2025, 3, 1), None),
        ("since:2025", date(2025, 1, 1), None),
        ("until:2025-02", None, date(2025, 2, 28)),
        ("until:2024-02", None, date(2024, 2, 29)),
        ("until:2025", None, date(2025, 12, 31)),
        ("until:2025-3-7", None, date(2025, 3, 7)),
        ("since:2025-01-01 until:2025-06-30", date(2025, 1, 1), date(2025, 6, 30)),
    ],
)
def test_date_filters(text, since, until):
    q = parse_query(text)
    assert (q.since, q.until) == (since, until) and q.warnings == []


@pytest.mark.parametrize(
    "value", ["2025-13", "2025-02-30", "yesterday", "0000", "2025-00-10", "20250101", "2025-1-1-1"]
)
def test_invalid_dates_are_ignored_with_a_warning(value):
    q = parse_query(f"since:{value} until:{value} words")
    assert q.since is None and q.until is None
    assert len(q.warnings) == 2 and all(value in w for w in q.warnings)
    assert q.terms == ["words"]


def test_since_after_until_warns():
    q = parse_query("since:2025-06 until:2025-01")
    assert q.since == date(2025, 6, 1) and any("after" in w for w in q.warnings)


def test_filters_as_keyword_arguments_merge_with_text():
    q = parse_query(
        "graphs author:curie cat:cs.LG",
        author=["Ada Lovelace", "curie"],
        categories="cs.AI",
        since="2025-02",
        until=date(2025, 3, 31),
    )
    assert q.terms == ["graphs"]
    assert q.authors == ["curie", "Ada Lovelace"]
    assert q.categories == ["cs.lg", "cs.ai"]
    assert (q.since, q.until) == (date(2025, 2, 1), date(2025, 3, 31))
    assert parse_query(None, author="x").authors == ["x"]
    bad = parse_query("", since="nope", categories=["!!"])
    assert bad.since is None and bad.categories == [] and len(bad.warnings) == 2 and bad.is_empty


def test_unknown_fields_are_words():
    q = parse_query('title:attention http://example.org/x re:"a b c"')
    assert q.terms == ["title:attention", "http://example.org/x", "re"]
    assert q.phrases == ["a b c"]


def test_negated_filter_warns_but_applies():
    q = parse_query("-cat:cs.LG")
    assert q.categories == ["cs.lg"] and len(q.warnings) == 1


def test_empty_and_symbol_only_queries():
    for text in ["", "   ", "-", '""', "\"'", "AND OR NOT", "+ - : * ( ) ^ ~ [ ] { } \\ /", "🤖🔥", "NOT"]:
        q = parse_query(text)
        assert q.is_empty, text
        assert q.terms_for_highlight == []


def test_term_cap_is_reported():
    q = parse_query(" ".join(f"w{i}" for i in range(500)))
    assert len(q.terms) == MAX_TERMS and q.truncated
    assert any(str(MAX_TERMS) in w for w in q.warnings)
    assert not parse_query("a b c").truncated


def test_huge_input_parses():
    q = parse_query("x" * 10_000 + ' "' + "y " * 10_000)
    assert len(q.terms) == 1 and len(q.terms[0]) <= 100
    q = parse_query("word " * 100_000)
    assert q.terms == ["word"] and q.truncated  # only the first characters were read


def test_control_and_format_characters_are_spaces():
    q = parse_query("deep\x00learning\u200bnets\x1b[31m \u202eevil")
    assert q.terms == ["deep", "learning", "nets", "[31m", "evil"]


def test_terms_for_highlight():
    q = parse_query('Graph "Neural Networks" -survey author:curie graph')
    assert q.terms_for_highlight == ["graph", "neural", "networks"]


def test_describe_round_trips():
    text = 'graphs "state space" -survey -"a b" author:"Marie Curie" author:lecun cat:cs.lg since:2025-02-01'
    q = parse_query(text)
    assert q.describe() == text
    again = parse_query(q.describe())
    assert again == q


def test_parse_date_end_of_period():
    assert parse_date("2025-02", end=True) == date(2025, 2, 28)
    assert parse_date("2025", end=False) == date(2025, 1, 1)
    assert parse_date(None) is None
    with pytest.raises(ValueError):
        parse_date("2025/01/01")
    with pytest.raises(ValueError):
        parse_date(20250101)  # type: ignore[arg-type]


HOSTILE = [
    '"unbalanced',
    '""""""',
    'a"b"c"d',
    "AND",
    "OR OR OR",
    "NOT NOT x",
    "-",
    "--x",
    "+x -y !z",
    ":",
    "::::",
    "author:",
    'author:"',
    "cat:",
    "since:",
    "until:---",
    "*",
    "?*",
    "( ) [ ] { }",
    "a:b:c:d",
    "x^2 y~ z~0.5",
    "[2025 TO 2026]",
    "\\",
    '\\\\"',
    "/regex/",
    "'; DROP TABLE papers; --",
    "1 OR 1=1",
    "<script>alert(1)</script>",
    "🤖🧬💥",
    "\x00\x01\x02\x7f",
    "\ud800",
    "\u202e\u200d\ufeff",
    "漢字 テスト",
    "ǅǈǋ ß ﬁ",
    "x" * 10_000,
    "word " * 2000,
    '"' * 5001,
    "author:" + "a" * 5000,
    "since:" + "9" * 500,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_parse(text):
    q = parse_query(text)
    assert isinstance(q, Query)
    assert len(q.terms) + len(q.phrases) + len(q.excluded) + len(q.excluded_phrases) <= MAX_TERMS
    assert all(len(t) <= 100 for t in q.terms)
    q.describe()
    q.terms_for_highlight  # noqa: B018


def test_random_text_parses():
    rng = random.Random(11)
    alphabet = string.printable + "\"'-:*()^~[]{}\\/éß漢字🤖\u200b\u202e\x00\ud800"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        q = parse_query(text)
        assert isinstance(q, Query)


def test_hypothesis_parse_never_raises():
    hypothesis = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @hypothesis.settings(max_examples=400, deadline=None, database=None)
    @hypothesis.given(st.text(), st.one_of(st.none(), st.text(max_size=20)), st.one_of(st.none(), st.text(max_size=12)))
    def check(text: str, author: str | None, since: str | None) -> None:
        q = parse_query(text, author=author, since=since, until=since, categories=[author or ""])
        assert isinstance(q, Query)
        assert len(q.terms) <= MAX_TERMS
        # what a query says about itself parses to the same query
        assert parse_query(q.describe()).describe() == q.describe()

    check()
