"""Build the judged query set for ranking measurement from the real corpus (fixed seed).

Known-item queries: each is made from one sampled paper, which is its only relevant document.
Three kinds, so that neither keyword nor semantic search is favoured by construction:

* ``sentence``: a sentence from the middle of the abstract, as someone quoting it would type;
* ``title``: three to six content words of the title, shuffled, as a half-remembered title;
* ``paraphrase``: a middle sentence with common phrases swapped for synonyms and a third of the
  remaining words dropped, as a description in other words.

Run ``python -m bench.make_judged_set`` to write ``bench/data/known-item/{queries.jsonl,qrels.tsv}``.

A fourth kind is kept in its own set, ``bench/data/known-author/``, so the known-item figures stay
comparable with earlier runs: ``author``, the first author's surname and one content word of the
title, as someone remembering who wrote it and roughly what about (same 200 papers, own seed).
"""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import orjson

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
OUT = Path(__file__).resolve().parent / "data" / "known-item"
AUTHOR_OUT = Path(__file__).resolve().parent / "data" / "known-author"
SEED = 20251118
AUTHOR_SEED = 20260512
PAPERS = 200

STOP = set(
    "a an and are as at be by for from has have in is it its of on or that the this to was were which with we our "
    "via using towards toward into over under between based new".split()
)
SYNONYMS = {
    "large language models": "LLMs",
    "large language model": "LLM",
    "neural network": "deep net",
    "neural networks": "deep nets",
    "reinforcement learning": "RL",
    "state-of-the-art": "best existing",
    "outperforms": "beats",
    "propose": "introduce",
    "proposed": "introduced",
    "method": "approach",
    "methods": "approaches",
    "framework": "system",
    "dataset": "data collection",
    "datasets": "data collections",
    "performance": "results",
    "improve": "boost",
    "improves": "boosts",
    "significantly": "substantially",
    "demonstrate": "show",
    "experiments": "evaluations",
    "images": "pictures",
    "image": "picture",
    "model": "network",
    "models": "networks",
    "accuracy": "correctness",
    "efficient": "fast",
    "novel": "new",
    "training": "learning",
    "however": "but",
    "leverage": "use",
    "leverages": "uses",
    "utilize": "use",
    "task": "problem",
    "tasks": "problems",
}
_LATEX = re.compile(r"\$[^$]*\$|\\[A-Za-z]+|[{}]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]+")


def _clean(text: str) -> str:
    return " ".join(_LATEX.sub(" ", text).split())


def _middle_sentence(abstract: str, rng: random.Random) -> str | None:
    sentences = [s for s in _SENTENCE.split(_clean(abstract)) if len(s.split()) >= 8]
    if len(sentences) < 3:
        return None
    words = rng.choice(sentences[1:-1]).split()
    return " ".join(words[:25])


def _paraphrase(sentence: str, rng: random.Random) -> str:
    text = sentence.lower()
    for phrase in sorted(SYNONYMS, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(phrase)}\b", SYNONYMS[phrase], text)
    words = text.split()
    kept = [w for w in words if w in STOP or rng.random() > 0.33]
    return " ".join(kept)


def _title_words(title: str, rng: random.Random) -> str | None:
    words = [w for w in _WORD.findall(_clean(title)) if w.lower() not in STOP]
    if len(words) < 3:
        return None
    chosen = rng.sample(words, min(len(words), rng.randint(3, 6)))
    return " ".join(chosen)


def _sample(corpus: Path, papers: int, rng: random.Random) -> list[dict]:
    with gzip.open(corpus, "rb") as fh:
        rows = [orjson.loads(line) for line in fh]
    return rng.sample([r for r in rows if len(r["abstract"]) > 400], papers)


def _write(out: Path, queries: list[dict], qrels: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "queries.jsonl").write_bytes(b"".join(orjson.dumps(q) + b"\n" for q in queries))
    (out / "qrels.tsv").write_text("\n".join(qrels) + "\n")


def build_author(corpus: Path = CORPUS, out: Path = AUTHOR_OUT, papers: int = PAPERS) -> int:
    """Write the author-and-a-word set (the known-item set's papers); return the number of queries."""
    sample = _sample(corpus, papers, random.Random(SEED))
    rng = random.Random(AUTHOR_SEED)
    queries, qrels = [], []
    for paper in sample:
        names = [w for w in _WORD.findall(_clean((paper.get("authors") or [""])[0]))]
        words = [w for w in _WORD.findall(_clean(paper["title"])) if w.lower() not in STOP and len(w) > 3]
        if not names or not words:
            continue
        qid = f"author-{paper['id']}"
        queries.append({"query_id": qid, "text": f"{names[-1]} {rng.choice(words).lower()}", "kind": "author"})
        qrels.append(f"{qid} {paper['id']} 1")
    _write(out, queries, qrels)
    return len(queries)


def build(corpus: Path = CORPUS, out: Path = OUT, papers: int = PAPERS) -> int:
    """Write the query and relevance files; return the number of queries."""
    rng = random.Random(SEED)
    sample = _sample(corpus, papers, rng)
    queries, qrels = [], []
    for paper in sample:
        made = {
            "sentence": _middle_sentence(paper["abstract"], rng),
            "title": _title_words(paper["title"], rng),
        }
        made["paraphrase"] = _paraphrase(made["sentence"], rng) if made["sentence"] else None
        for kind, text in made.items():
            if text:
                qid = f"{kind}-{paper['id']}"
                queries.append({"query_id": qid, "text": text, "kind": kind})
                qrels.append(f"{qid} {paper['id']} 1")
    _write(out, queries, qrels)
    return len(queries)


if __name__ == "__main__":
    print(f"{build()} queries written to {OUT}")
    print(f"{build_author()} queries written to {AUTHOR_OUT}")
