"""Shared pieces of the library and recommendation tests: a small corpus of five topics with made-up
embeddings (a random direction per topic plus noise, so neighbours are known without loading the
model), a running app, and sign-up / token helpers.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import numpy as np
from fastapi.testclient import TestClient

from paperboy.config import Settings
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord
from paperboy.store import Store
from support.web import register

MODEL = "test-model/fp32"
DIM = 32
PASSWORD = "correct horse battery"
#: (title stem, abstract) per topic: distinct words, so TF-IDF separates them as well as the vectors do.
TOPICS = [
    (
        "Protein folding with diffusion models",
        "We denoise protein backbones; residues and folding energy guide diffusion.",
    ),
    ("Graph neural networks for molecules", "Message passing over atoms and bonds predicts molecular properties."),
    ("Language model reasoning", "Chain of thought prompting improves reasoning of large language models."),
    ("Robot manipulation by reinforcement learning", "A robot arm learns grasping policies from reward signals."),
    ("Quantum error correction", "Surface codes protect qubits; decoders correct syndromes in quantum hardware."),
]
LAST_DAY = date(2026, 7, 10)
#: Days that have papers: the last 10 days (2 papers per topic each) and one old day in May.
DAYS = [LAST_DAY - timedelta(days=d) for d in range(10)] + [date(2026, 5, 4)]


def paper_id(day: date, n: int) -> str:
    return f"{day:%y%m}.{day.day:02d}{n:03d}"


def topic_of(pid: str) -> int:
    """The topic of a corpus paper, from its id."""
    return int(pid[-3:]) % len(TOPICS)


def corpus(titles_only: bool = False) -> list[PaperRecord]:
    """Two papers per topic per day; ``titles_only`` leaves the abstracts empty."""
    out = []
    for day in DAYS:
        for n in range(2 * len(TOPICS)):
            title, abstract = TOPICS[n % len(TOPICS)]
            pid = paper_id(day, n)
            record = PaperRecord(
                id=pid,
                title=f"{title}: study {pid}",
                abstract="" if titles_only else abstract,
                authors=[f"Author {n % len(TOPICS)}", f"Person {pid}"],
                categories=["cs.LG"],
                announced=day.isoformat(),
                published=f"{day.isoformat()}T10:00:00Z",
                source="jsonl",
                place=f"test:{pid}",
            )
            done = finish(record)
            assert isinstance(done, PaperRecord)
            out.append(done)
    return out


def vector_for(pid: str, seed: int = 0) -> np.ndarray:
    """A unit vector near its topic's direction (noise keeps papers of a topic apart but close)."""
    centres = np.random.default_rng(seed).normal(size=(len(TOPICS), DIM))
    noise = np.random.default_rng(zlib.crc32(pid.encode())).normal(size=DIM) * 0.35
    vec = centres[topic_of(pid)] / np.linalg.norm(centres[topic_of(pid)]) + noise / np.sqrt(DIM)
    return (vec / np.linalg.norm(vec)).astype(np.float32)


def fill(store: Store, titles_only: bool = False, vectors: bool = True) -> list[str]:
    """Import the corpus (and its vectors); returns every paper id."""
    store.ingest("jsonl", "fixture", corpus(titles_only))
    papers = list(store.iter_papers())
    if vectors:
        store.put_vectors(MODEL, [(p["id"], p["seq"], vector_for(p["id"]).tobytes()) for p in papers])
    return [p["id"] for p in papers]


def recent(topic: int, day_offset: int = 0, which: int = 0) -> str:
    """A paper of ``topic`` announced ``day_offset`` days before the last day."""
    return paper_id(LAST_DAY - timedelta(days=day_offset), topic + which * len(TOPICS))


def old(topic: int) -> str:
    """A paper of ``topic`` from May (outside the 7-day window)."""
    return paper_id(date(2026, 5, 4), topic)


# -- the web app -------------------------------------------------------------------------------------
@contextmanager
def running_app(settings: Settings, vectors: bool = True) -> Iterator[TestClient]:
    """The app over the corpus (keyword index built inline, no semantic search), started."""
    from paperboy.web.app import create_app

    with Store.open(settings) as st:
        fill(st, vectors=vectors)
    app = create_app(settings, semantic=False, index_at_start=True)
    with TestClient(app) as client:
        yield client


def sign_up(client: TestClient, name: str) -> None:
    """Sign up (and so sign in) through the form, as ``name@example.org``."""
    register(client, name, f"{name}@example.org", PASSWORD)
