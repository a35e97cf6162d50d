"""The ``topic:`` search filter: topic numbers and key phrases turned into the papers they stand for.

``topic:12`` means the papers of topic 12; ``topic:"graph neural networks"`` the papers with that
key phrase (normalized: case, accents and plurals ignored) together with the papers of topics
whose distinctive phrases include it.  Several ``topic:`` filters admit papers of any of them.
The keyword engine applies the result as a set of ids; the vector search as a mask over its labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from paperboy.indices.phrase_key import normalize_key
from paperboy.indices.query import Query
from paperboy.store import Store


def resolve(store: Store, query: Query) -> Query:
    """``query`` with ``topic_papers`` filled in (and a warning for a value that matches nothing)."""
    if not query.topics or query.topic_papers is not None:
        return query
    papers: set[str] = set()
    warnings = list(query.warnings)
    numbers = [int(v) for v in query.topics if v.isdigit() and len(v) < 10]
    phrases = [v for v in query.topics if not (v.isdigit() and len(v) < 10)]
    if numbers:
        found = store.topics.papers_in_topics(numbers)
        if not found:
            warnings.append(f"no topic {', '.join(map(str, numbers))}: see /topics for their numbers")
        papers |= found
    if phrases:
        keys = [normalize_key(v) for v in phrases]
        matching = [
            t["id"] for t in store.topics.topics() if any(normalize_key(term) in keys for term, _ in t["terms"])
        ]
        found = store.topics.papers_with_keys(keys) | store.topics.papers_in_topics(matching)
        if not found:
            warnings.append(f"no paper has the key phrase {', '.join(repr(p) for p in phrases)}")
        papers |= found
    return replace(query, topic_papers=frozenset(papers), warnings=warnings)


def with_topics(allowed: Callable[[str], bool] | np.ndarray | None, query: Query, vectors: Any) -> Any:
    """The vector search's admission (``SearchService._allow``) narrowed to the query's topic papers."""
    if query.topic_papers is None or not query.topics:
        return allowed
    papers = query.topic_papers
    if callable(allowed) and not isinstance(allowed, np.ndarray):
        return lambda pid: pid in papers and allowed(pid)
    mask = np.zeros(len(vectors.ids), dtype=bool)
    labels = [vectors.labels[pid] for pid in papers if pid in vectors.labels]
    mask[labels] = True
    if isinstance(allowed, np.ndarray):
        size = min(len(allowed), len(mask))
        mask = mask[:size] & allowed[:size]
    return mask
