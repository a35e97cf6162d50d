"""Shared fixtures: a fresh store in a temporary home for each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperboy.config import Settings, load_settings
from paperboy.store import Store

REPO = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """The shared data folder: ``$PAPERBOY_SHARED``, else the first ``shared/`` beside the checkout or
    above it (``../shared`` for the main checkout, ``../../shared`` for a worktree under ``wt/``)."""
    if os.environ.get("PAPERBOY_SHARED"):
        return Path(os.environ["PAPERBOY_SHARED"])
    for parent in REPO.parents:
        if (parent / "shared").is_dir():
            return parent / "shared"
    return REPO.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("sqlite", "postgres"),
        default=os.environ.get("PAPERBOY_TEST_DATABASE") or "sqlite",
        help="the store's database: SQLite files (default) or a PostgreSQL server the suite starts "
        "(also PAPERBOY_TEST_DATABASE=postgres)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from support import backend

    backend.BACKEND = config.getoption("--backend")


def pytest_unconfigure(config: pytest.Config) -> None:
    from support import backend

    backend.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return f"store backend: {config.getoption('--backend')}"


SHARED = _shared()
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_developer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's ``PAPERBOY_*`` variables: with ``PAPERBOY_DATABASE_URL`` or
    ``PAPERBOY_SMTP_HOST`` set, they would run against real services.  (``PAPERBOY_SHARED``, where
    the shared data lies, is kept: it only says where to read the real samples.)"""
    for name in list(os.environ):
        if name.startswith("PAPERBOY_") and name != "PAPERBOY_SHARED":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _database(_no_developer_settings: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """On PostgreSQL (``--backend postgres``), a database of this test's own, named by
    ``PAPERBOY_DATABASE_URL`` for every ``load_settings`` of the test and every process it starts."""
    from support import backend

    url = backend.fresh_url()
    if url:
        monkeypatch.setenv("PAPERBOY_DATABASE_URL", url)
    yield url
    backend.drop(url)


@pytest.fixture
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small parameters: the same code paths, a hundredth of the time per hash."""
    from support.web import cheap_hashes

    cheap_hashes(monkeypatch)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a throw-away home: no rate-limit waits, short back-off."""
    return load_settings(
        tmp_path / "home",
        arxiv_min_interval=0.0,
        http_backoff=0.01,
        http_timeout=2.0,
        batch_size=50,
        page_cache_seconds=0,  # pages reflect every change at once; the cache has tests of its own
    )


@pytest.fixture
def store(settings: Settings):
    """An empty, migrated store."""
    with Store.open(settings) as st:
        yield st


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory):
    """The real default embedder, exported to ONNX once per test session."""
    from paperboy.indices.embedding import Embedder

    return Embedder.open(load_settings(tmp_path_factory.mktemp("embed-home")))
