"""Text shown on pages: LaTeX made readable, URLs made links, everything else escaped."""

from __future__ import annotations

import pytest

from paperboy.services.text import preview
from paperboy.web.text import paragraphs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Code at https://github.com/a/b.",
            'Code at <a href="https://github.com/a/b" rel="nofollow noopener">https://github.com/a/b</a>.',
        ),
        (
            "(see http://x.org/p?a=1&b=2)",
            '(see <a href="http://x.org/p?a=1&amp;b=2" rel="nofollow noopener">http://x.org/p?a=1&amp;b=2</a>)',
        ),
        (
            "https://en.wikipedia.org/wiki/Foo_(bar), then",
            '<a href="https://en.wikipedia.org/wiki/Foo_(bar)" rel="nofollow noopener">'
            "https://en.wikipedia.org/wiki/Foo_(bar)</a>, then",
        ),
        ("no links: javascript:alert(1) <b>x</b>", "no links: javascript:alert(1) &lt;b&gt;x&lt;/b&gt;"),
    ],
)
def test_paragraphs_link_urls_and_escape_the_rest(text, expected):
    assert str(paragraphs(text)) == expected


def test_a_quote_ends_a_url_so_no_attribute_can_be_injected():
    out = str(paragraphs('see http://a.org/"onmouseover="alert(1) now'))
    assert out.startswith('see <a href="http://a.org/" rel="nofollow noopener">http://a.org/</a>&quot;onmouseover')
    assert out.count("<a ") == 1


def test_latex_is_converted_before_links_are_found():
    assert str(paragraphs(r"We gain 40\% at $\alpha=1$: https://x.org")).startswith("We gain 40% at α=1: <a ")


def test_previews_stay_plain_text():
    assert "<a" not in preview("see https://x.org/" + "y" * 300, 50)


def test_pages_and_mail_read_a_title_the_same_way():
    """One readable(): braces and LaTeX are cleaned in a digest as on the site."""
    from paperboy.services import digest_mail
    from paperboy.web.render import env

    title = "Scaling {GPT} models to $10^{9}$ tokens"
    assert digest_mail.readable is env.filters["readable"]
    assert "{" not in env.filters["readable"](title) and "GPT" in env.filters["readable"](title)
