"""Turning result rows into plain dicts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row


def as_dict(row: Row[Any]) -> dict[str, Any]:
    """A row as a dict with plain ``str`` keys (SQLAlchemy's ``quoted_name`` keys upset orjson)."""
    return {str(k): v for k, v in row._mapping.items()}
