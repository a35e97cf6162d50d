"""Shared pieces of the digest tests: a real SMTP server with scripted failures, a small corpus.

The SMTP server is aiosmtpd's ``Controller`` on 127.0.0.1 (a free port), with a handler that can
answer 451 (try again later) a given number of times, 550 (no such mailbox) for chosen addresses,
or call a hook when a message arrives (the crash tests kill the sender from there).  The corpus is
36 papers over six announcement days in July 2026, four topics with their own categories and words,
one paper whose title and abstract hold HTML, plus hand-made vectors per topic (no model needed).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from paperboy.config import Settings
from paperboy.indices.embedding import vector_model_name
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord
from paperboy.store import Store

XSS = "<script>alert(1)</script>"
DAYS = ["2026-07-01", "2026-07-02", "2026-07-03", "2026-07-06", "2026-07-07", "2026-07-08"]
TOPICS = [
    ("diffusion", "Diffusion models for protein design", ["q-bio.BM", "cs.LG"]),
    ("language", "Transformer language models at scale", ["cs.CL"]),
    ("robots", "Reinforcement learning for robot grasping", ["cs.RO", "cs.AI"]),
    ("quantum", "Quantum error correction codes", ["quant-ph"]),
]
PER_DAY = 6


def mail_settings(settings: Settings, port: int, **extra: Any) -> Settings:
    """Settings sending to the loopback server, with short back-off and no rate limit."""
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "mail_from": "paperboy <digest@paperboy.test>",
        "base_url": "https://papers.example.org",
        "digest_backoff": 0.01,
        "digest_retries": 3,
        "digest_rate_per_minute": 0,
        "http_timeout": 5.0,
    }
    values.update(extra)
    return settings.with_overrides(**values)


# -- the corpus -------------------------------------------------------------------------------------
def paper_id(day_index: int, n: int) -> str:
    return f"2607.{day_index:02d}{n:03d}"


def topic_of(pid: str) -> int:
    return int(pid[-3:]) % len(TOPICS)


def records(days: list[str] | None = None) -> list[PaperRecord]:
    """``PER_DAY`` papers for each day (every topic each day; the first day's first paper holds HTML)."""
    out = []
    for day in days or DAYS:
        d = DAYS.index(day)
        for n in range(PER_DAY):
            pid = paper_id(d, n)
            word, title, cats = TOPICS[topic_of(pid)]
            kw: dict[str, Any] = {
                "id": pid,
                "title": f"{title}, part {d}.{n}",
                "abstract": f"We study {title.lower()} ({word}). " + "Results are reported in detail. " * 20,
                "authors": [f"Author {d}{n}", "Ada Lovelace", "Grace Hopper"],
                "categories": cats,
                "announced": day,
                "published": f"{day}T10:00:00Z",
                "source": "jsonl",
                "place": "test:1",
            }
            if d == 0 and n == 0:
                kw["title"] = f"Attack {XSS} vectors & <b>bold</b> claims"
                kw["abstract"] = f"An abstract with {XSS} and <img src=x onerror=alert(2)> inside (diffusion)."
            rec = finish(PaperRecord(**kw))
            assert isinstance(rec, PaperRecord), rec
            out.append(rec)
    return out


def load(store: Store, days: list[str] | None = None, vectors: bool = True) -> None:
    """Import the corpus's papers of ``days`` (all by default) and their hand-made vectors."""
    store.ingest("jsonl", "digest-fixture", records(days))
    if vectors:
        rng = np.random.default_rng(5)
        axes = np.eye(len(TOPICS), 16, dtype=np.float32)
        rows = []
        for paper in store.iter_papers():
            vec = axes[topic_of(paper["id"])] + rng.normal(0, 0.05, 16).astype(np.float32)
            vec /= np.linalg.norm(vec)
            rows.append((paper["id"], paper["seq"], vec.astype("<f4").tobytes()))
        store.put_vectors(vector_model_name(store.settings), rows)  # type: ignore[arg-type]


def day(text: str) -> date:
    return date.fromisoformat(text)
