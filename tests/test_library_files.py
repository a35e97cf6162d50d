"""Reading BibTeX, RIS and Zotero CSV exports (good, odd and broken), and writing BibTeX."""

from __future__ import annotations

import pytest

from paperboy.sources.library_files import (
    LibraryFileError,
    arxiv_id_in,
    citation_key,
    detect_format,
    parse_bibtex,
    parse_library,
    to_bibtex,
)

BIB = r"""% exported by a reference manager
@string{neurips = "NeurIPS"}
@article{vaswani2017,
  title = {Attention Is {All} You Need},
  author = {Vaswani, Ashish and Shazeer, Noam},
  eprint = {1706.03762v5},
  archivePrefix = {arXiv},
  year = 2017,
}
@misc{broken, title = {Never closed
@inproceedings{he2016,
  title = "Deep Residual Learning",
  doi = {https://doi.org/10.1109/CVPR.2016.90},
}
@article{preprint, title = {From the journal field}, journal = {arXiv preprint arXiv:2501.00001}}
@misc{oldstyle, title = {Old}, url = {https://arxiv.org/abs/hep-th/9901001v2}}
@misc{arxivdoi, title = {By DOI}, doi = {10.48550/arXiv.2502.00002}}
@misc{plain, title = {{Only} a title, nothing else}}
@misc{vaswani2017, title = {Same key again}, eprint = {2503.00003}}
"""

RIS = """TY  - JOUR
TI  - Attention is all you need
AU  - Vaswani, Ashish
DO  - 10.48550/arXiv.1706.03762
UR  - http://arxiv.org/abs/1706.03762
ER  -

TY  - CONF
T1  - Deep residual learning
DO  - https://doi.org/10.1109/CVPR.2016.90
ER  -
stray line between records
TY  - JOUR
TI  - Started but never ended
TY  - GEN
TI  - Notes hold the id
N1  - arXiv:2501.00001 [cs.LG]
ER  -
"""

CSV = (
    '\ufeff"Key","Item Type","Publication Year","Author","Title","DOI","Url","Extra","Report Number"\n'
    '"K1","preprint","2025","A, B","Some title","","http://arxiv.org/abs/2501.00003v1","arXiv:2501.00003 [cs]",""\n'
    '"K2","journalArticle","2024","C","Other title","10.1/ABC","","",""\n'
    '"K3","report","2025","D","A report","","","","arXiv:2502.00004"\n'
    ",,,,,,,,\n"
    '"K4","x"\n'
    '"K5","journalArticle","2024","E","Only a title","","","",""\n'
)


def test_bibtex_entries_ids_and_problems():
    parsed = parse_library(BIB.encode(), "library.bib")
    assert parsed.format == "bibtex"
    by_key = {}
    for ref in parsed.references:
        by_key.setdefault(ref.key, ref)
    assert by_key["vaswani2017"].arxiv_id == "1706.03762" and by_key["vaswani2017"].title == "Attention Is All You Need"
    assert by_key["he2016"].doi == "10.1109/cvpr.2016.90" and by_key["he2016"].arxiv_id is None
    assert by_key["preprint"].arxiv_id == "2501.00001"
    assert by_key["oldstyle"].arxiv_id == "hep-th/9901001"
    assert by_key["arxivdoi"].arxiv_id == "2502.00002" and by_key["arxivdoi"].doi is None  # arXiv's own DOI
    assert by_key["plain"].arxiv_id is None and by_key["plain"].title == "Only a title, nothing else"
    # a duplicated key still names a paper
    assert [(r.title, r.arxiv_id) for r in parsed.references][-1] == ("Same key again", "2503.00003")
    # places are lines a person can find; the broken entry is listed, not fatal
    assert by_key["vaswani2017"].place.startswith("line 3")
    assert [p for p, _ in parsed.problems] == ["line 10"]
    assert "could not read" in parsed.problems[0][1]


def test_ris_records_places_and_broken_records():
    parsed = parse_library(RIS, "export.ris")
    assert parsed.format == "ris"
    refs = parsed.references
    assert [r.place for r in refs] == ["line 1", "line 8", "line 15"]
    assert refs[0].arxiv_id == "1706.03762" and refs[0].doi is None
    assert refs[1].doi == "10.1109/cvpr.2016.90" and refs[1].title == "Deep residual learning"
    assert refs[2].arxiv_id == "2501.00001"
    reasons = dict(parsed.problems)
    assert "outside any record" in reasons["line 12"]
    assert "no end" in reasons["line 13"]


def test_zotero_csv_rows():
    parsed = parse_library(CSV.encode("utf-8"), "My Library.csv")
    assert parsed.format == "zotero-csv"
    by_key = {r.key: r for r in parsed.references}
    assert by_key["K1"].arxiv_id == "2501.00003" and by_key["K1"].place == "row 2"
    assert by_key["K2"].doi == "10.1/abc"
    assert by_key["K3"].arxiv_id == "2502.00004"
    assert by_key["K5"].title == "Only a title" and not by_key["K5"].arxiv_id
    assert parsed.problems == [("row 6", "only 2 of 9 columns")]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "x.bib", "empty"),
        (b"   \n\n", "x.ris", "empty"),
        (b"%PDF-1.5\x00\x01\x02binary", "paper.pdf", "binary"),
        (b"just some words\nnothing else", "notes.txt", "cannot tell"),
        (b"@misc{x, title = {never closed", "x.bib", "no readable BibTeX entry (line 1"),
        (b"% only a comment\n", "x.bib", "no BibTeX entries"),
        (b"TY  - JOUR\nTI  - no end\n", "x.ris", "no complete RIS record (line 1"),
        (b"hello\n", "x.ris", "no RIS records"),
        (b'"a","b"\n"1","2"\n', "x.csv", "no Title column"),
        (b'"Title","DOI"\n', "x.csv", "header but no rows"),
        (b'"Title","DOI"\n"unclosed quote,\n', "x.csv", "CSV"),
    ],
)
def test_malformed_files_say_why(data, name, message):
    with pytest.raises(LibraryFileError) as caught:
        parse_library(data, name)
    assert message in str(caught.value)


def test_unknown_format_is_refused():
    with pytest.raises(LibraryFileError, match="unknown format"):
        parse_library(b"@misc{a, title={b}}", "a.bib", "endnote")


def test_format_detected_from_content_and_old_encodings():
    assert detect_format("\n  @Article{x,\n title={y}}", "") == "bibtex"
    assert detect_format("TY  - JOUR\nER  - \n", "upload") == "ris"
    assert detect_format('"Key","Title"\n', "upload") == "zotero-csv"
    latin = "@misc{x, title = {Caf\u00e9 models}, eprint = {2501.00001}}".encode("cp1252")
    assert parse_library(latin, "x.bib").references[0].title == "Café models"


def test_arxiv_ids_in_free_text():
    assert arxiv_id_in("see arXiv:2501.00001v3 for details") == "2501.00001"
    assert arxiv_id_in("arXiv preprint arXiv:1706.03762") == "1706.03762"
    assert arxiv_id_in("https://arxiv.org/pdf/2501.12345v2.pdf") == "2501.12345"
    assert arxiv_id_in("10.48550/ARXIV.2402.00001") == "2402.00001"
    assert arxiv_id_in("pages 2501.00001-2501.00009") is None  # a bare number is not an id outside eprint fields
    assert arxiv_id_in(None, "", "nothing") is None


def _paper(pid: str, title: str, **kw):
    base = {"id": pid, "is_arxiv": True, "title": title, "authors": ["Ada Lovelace", "Émile Zola"]}
    base.update(
        {"published": "2025-01-02T00:00:00Z", "categories": ["cs.LG"], "abs_url": f"https://arxiv.org/abs/{pid}"}
    )
    return base | kw


def test_bibtex_export_reads_back():
    papers = [
        _paper("2501.00001", "Attention & {friends}: 100% of $\\alpha$"),
        _paper("2501.00002", "Unbalanced } brace", doi="10.1/xyz", journal_ref="J. Things 1 (2025)"),
        _paper("2501.00003", "Attention & {friends}: 100% of $\\alpha$"),  # same key: gets a suffix
        _paper("title:abc", "A paper with no arXiv id", is_arxiv=False, abs_url=None),
    ]
    text = to_bibtex(papers)
    assert "\\&" in text and "\\%" in text and "@article{" in text
    parsed = parse_bibtex(text)
    assert parsed.problems == []
    keys = [r.key for r in parsed.references]
    assert keys == ["lovelace2025attention", "lovelace2025unbalanced", "lovelace2025attentiona", "lovelace2025paper"]
    assert [r.arxiv_id for r in parsed.references] == ["2501.00001", "2501.00002", "2501.00003", None]
    assert parsed.references[1].doi == "10.1/xyz"
    assert parsed.references[3].title == "A paper with no arXiv id"


def test_citation_keys_are_ascii():
    assert citation_key({"authors": ["Émile Zola"], "title": "The Ölympics", "published": "2024-03-01"}) == (
        "zola2024olympics"
    )
    assert citation_key({"authors": [], "title": "", "announced": None}) == "paper"
