"""The store: the single source of truth (SQLite by default, any SQLAlchemy backend later)."""

from paperboy.store.ingest import RunSummary
from paperboy.store.merge import PAPER_FIELDS
from paperboy.store.store import Store

__all__ = ["PAPER_FIELDS", "RunSummary", "Store"]
