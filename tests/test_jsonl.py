"""The JSON-lines importer: both documented shapes, gzip and plain, and every kind of bad input."""

from __future__ import annotations

import gzip
import random
import string
from pathlib import Path

import orjson
import pytest
from conftest import FIXTURES

from paperboy.sources import jsonl
from paperboy.sources.record import PaperRecord, Rejection, SourceError

CORPUS = FIXTURES / "jsonl" / "corpus.jsonl"
GENERIC = FIXTURES / "jsonl" / "generic.jsonl"


def _split(items: list) -> tuple[list[PaperRecord], list[Rejection]]:
    records = [i for i in items if isinstance(i, PaperRecord)]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert len(records) + len(rejections) == len(items)
    return records, rejections


def _write(path: Path, *lines: bytes | str | dict) -> Path:
    raw = [
        orjson.dumps(line) if isinstance(line, dict) else line.encode() if isinstance(line, str) else line
        for line in lines
    ]
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def test_corpus_shape():
    records, rejections = _split(list(jsonl.read(CORPUS)))
    assert rejections == []
    first, second = records
    assert first.id == "2503.11677" and first.source == "jsonl"
    assert first.title == "Simulation of prosthetic vision with PRIMA system"
    assert first.abstract.startswith("Objective. Patients") and "\n" in first.abstract  # line breaks kept
    assert first.authors == ["Jungyeon Park", "Daniel Palanker"]
    assert first.categories == ["cs.HC", "cs.CV"]
    assert first.comment is None
    assert first.announced == "2025-03-18"
    assert first.abs_url == "https://arxiv.org/abs/2503.11677"
    assert first.pdf_url == "https://arxiv.org/pdf/2503.11677"
    assert first.place == f"{CORPUS}:1"
    assert second.title == r"$\alpha$-Nets: {F}ast Learning with $\tanh$"  # LaTeX kept as written
    assert second.categories == []
    assert second.authors == ["Émile Zola"]
    assert second.code_url == "https://github.com/zola/nets"  # found in the comment


def test_generic_shape():
    records, rejections = _split(list(jsonl.read(GENERIC)))
    assert rejections == []
    one, two, three = records
    assert (one.id, one.authors, one.categories) == ("2401.00001", ["A. Author", "B. Author"], ["cs.LG", "cs.AI"])
    assert (one.published, one.announced) == ("2024-01-02", "2024-01-02")
    # authors as "A, B", categories as "cs.LG cs.AI", the id taken from an arXiv URL with its version
    assert (two.id, two.version) == ("2401.00002", 2)
    assert two.authors == ["C. Author", "D. Author"]
    assert two.categories == ["cs.LG", "cs.AI"]
    assert two.announced == "2024-01-03" and two.published == "2024-01-03T10:00:00Z"
    # a non-arXiv id is kept as the paper's id, the URL is its page, no arXiv links are made up
    assert three.id == "openreview:XyZ123"
    assert three.abs_url == "https://openreview.net/forum?id=XyZ123" and three.pdf_url is None
    assert three.abstract == "Third."  # "summary" is accepted for "abstract"


def test_gzip_and_plain_read_alike(tmp_path: Path):
    packed = tmp_path / "corpus.jsonl.gz"
    packed.write_bytes(gzip.compress(CORPUS.read_bytes()))
    plain = list(jsonl.read(CORPUS))
    unpacked = list(jsonl.read(packed))
    assert len(plain) == len(unpacked) == 2
    for a, b in zip(plain, unpacked, strict=True):
        assert b.place == f"{packed}:{a.place.rsplit(':', 1)[1]}"
        b.place = a.place
        assert a == b


def test_bad_lines_are_rejected_with_place_and_reason_and_the_rest_imported(tmp_path: Path):
    path = _write(
        tmp_path / "bad.jsonl",
        {"id": "2401.00001", "title": "Good One"},
        '{"id": "2401.00002", "title": "broken',  # bad JSON
        {"id": "2401.00003", "abstract": "no title"},
        {"id": "2401.00004", "title": 42},
        {"id": "2401.00005", "title": "Authors as a dict", "authors": {"name": "A"}},
        "[1, 2, 3]",  # valid JSON, not an object
        b'{"id": "2401.00007", "title": "Caf\xe9 latin-1"}',  # not UTF-8
        "",  # blank lines are skipped silently
        {"id": "2401.00009", "title": "Good Two"},
    )
    records, rejections = _split(list(jsonl.read(path)))
    assert [r.title for r in records] == ["Good One", "Good Two"]
    assert [r.place for r in records] == [f"{path}:1", f"{path}:9"]
    reasons = {r.place.rsplit(":", 1)[1]: r.reason for r in rejections}
    assert set(reasons) == {"2", "3", "4", "5", "6", "7"}
    assert all(r.place.startswith(f"{path}:") for r in rejections)
    assert reasons["2"].startswith("bad JSON")
    assert reasons["3"] == "missing title"
    assert reasons["4"] == "field 'title' must be a string, not int"
    assert "'authors'" in reasons["5"]
    assert reasons["6"] == "expected a JSON object, got list"
    assert reasons["7"] == "not valid UTF-8"


def test_truncated_gzip_keeps_the_lines_before_and_names_the_place(tmp_path: Path):
    rnd = random.Random(7)  # random text so the compressed file is large enough to cut mid-way
    noise = ["".join(rnd.choices(string.ascii_letters, k=300)) for _ in range(2000)]
    lines = [
        orjson.dumps({"id": f"2401.{i:05d}", "title": f"Paper {i}", "abstract": text})
        for i, text in enumerate(noise, 1)
    ]
    path = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(b"\n".join(lines) + b"\n")
    path.write_bytes(whole[: len(whole) // 2])
    records, rejections = _split(list(jsonl.read(path)))
    assert 0 < len(records) < 2000
    assert [r.title for r in records] == [f"Paper {i}" for i in range(1, len(records) + 1)]  # nothing half-read
    assert len(rejections) == 1
    assert rejections[0].place == f"{path}:{len(records) + 1}"
    assert "truncated gzip" in rejections[0].reason


def test_wrong_path_or_directory_is_one_line_source_error(tmp_path: Path):
    for target, words in ((tmp_path / "missing.jsonl", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(SourceError) as err:
            list(jsonl.read(target))
        assert words in str(err.value) and "\n" not in str(err.value)


def test_a_file_that_is_not_json_lines_is_a_source_error(tmp_path: Path):
    path = _write(tmp_path / "notes.txt", "just some text", "more text")
    with pytest.raises(SourceError, match="not a JSON-lines file"):
        list(jsonl.read(path))


def test_importing_the_same_file_twice_changes_nothing(store):
    for path in (CORPUS, GENERIC):
        first = store.ingest("jsonl", str(path), jsonl.read(path))
        assert (first.new, first.updated, first.rejected) == (first.seen, 0, 0)
    papers = {p["id"]: p for p in store.iter_papers()}
    for path in (CORPUS, GENERIC):
        again = store.ingest("jsonl", str(path), jsonl.read(path))
        assert (again.new, again.updated, again.unchanged) == (0, 0, again.seen)
    assert {p["id"]: p for p in store.iter_papers()} == papers
    assert set(papers) == {"2503.11677", "2503.11678", "2401.00001", "2401.00002", "openreview:XyZ123"}
