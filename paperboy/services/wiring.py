"""Everything a request may use, built once per process by ``build_services``.

One place decides which services exist and how they share the store, the settings and the clock,
so the web app, the tests and any other interface build them the same way (and a test that needs
another "now" passes a clock instead of patching attributes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paperboy.config import Settings
from paperboy.services.accounts import Accounts
from paperboy.services.community import Community
from paperboy.services.feed import Feed
from paperboy.services.follows import FollowService
from paperboy.services.groups import GroupService
from paperboy.services.library import LibraryService
from paperboy.services.live_search import LiveSearch
from paperboy.services.notes import NoteService
from paperboy.services.recommend import Recommender
from paperboy.services.subscriptions import Subscribing
from paperboy.services.topic_views import TopicViews
from paperboy.services.webhooks import WebhookService
from paperboy.store import Store


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """The services of one process, over one open store."""

    settings: Settings
    store: Store
    accounts: Accounts
    community: Community
    feed: Feed
    search: LiveSearch
    library: LibraryService
    recommender: Recommender
    subscribing: Subscribing
    topics: TopicViews
    follows: FollowService
    groups: GroupService
    notes: NoteService
    webhooks: WebhookService

    def close(self) -> None:
        """Stop the background work (submission fetches; mail already asked for goes out), then close the store."""
        self.community.close()
        self.accounts.later.drain(5)
        self.store.close()


def build_services(
    settings: Settings,
    *,
    semantic: bool = True,
    embedder: Any = None,
    clock: Callable[[], datetime] = _now,
) -> Services:
    """Open the store and every service over it; ``clock`` is "now" for all of them."""
    store = Store.open(settings)
    search = LiveSearch(settings, store, semantic=semantic, embedder=embedder)
    keyword = lambda: search.keyword  # noqa: E731 - the live index, reloaded as the indexer writes it
    return Services(
        settings=settings,
        store=store,
        accounts=Accounts(store, settings, clock=clock),
        community=Community(store, settings, clock=clock),
        feed=Feed(store, settings.page_size),
        search=search,
        library=LibraryService(store, settings),
        # the web app rebuilds stale recommendation windows in a thread, answering from the old one meanwhile
        recommender=Recommender(store, settings, clock=clock, background=True),
        subscribing=Subscribing(store, settings, clock=clock),
        topics=TopicViews(store),
        follows=FollowService(store, settings, keyword=keyword),
        groups=GroupService(store, settings),
        notes=NoteService(store),
        webhooks=WebhookService(store, settings, keyword=keyword),
    )
