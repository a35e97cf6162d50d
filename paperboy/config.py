"""Settings: one place for every knob, read from the home directory and the environment.

Precedence (highest first): explicit overrides (CLI flags, tests), ``PAPERBOY_*`` environment
variables, ``<home>/settings.toml``, the defaults below.  Every layer receives a ``Settings``
instead of reading the environment itself, so tests can run many homes side by side.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_HOME = Path.home() / ".paperboy"


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one paperboy installation."""

    home: Path = DEFAULT_HOME
    #: SQLAlchemy URL of the store; empty means the embedded SQLite file inside ``home``.
    database_url: str = ""
    #: Records per transaction during imports: a crash loses at most one open batch.  Large
    #: batches matter: every commit rewrites the touched pages of the random-order indexes.
    batch_size: int = 10000

    # Network sources: base URLs are settings so tests (and mirrors) can point elsewhere.
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    #: OAI-PMH metadata format: ``arXivRaw`` (every version with its date) or ``arXiv``.
    arxiv_oai_format: str = "arXivRaw"
    arxiv_rss_url: str = "https://rss.arxiv.org/atom"
    hf_api_url: str = "https://huggingface.co/api/daily_papers"
    #: arXiv asks for at most one request every 3 seconds; shared by every arXiv client in the process.
    arxiv_min_interval: float = 3.0
    http_timeout: float = 30.0
    http_retries: int = 5
    #: First back-off delay in seconds; doubles on each retry (Retry-After wins when sent).
    http_backoff: float = 2.0
    #: Longest wait (seconds) for a rate-limit slot or a back-off before a request gives up
    #: (0: as long as it takes, as an import may; submissions set their own).
    http_max_wait: float = 0.0
    user_agent: str = "paperboy/0.1 (self-hosted paper discovery)"
    #: Categories fetched by ``make run`` when the sample corpus is absent.
    categories: tuple[str, ...] = ("cs.LG", "cs.CL", "cs.CV", "cs.AI")

    #: Embedding model: the packaged MiniLM's name or a local folder (never downloaded from a hub).
    embedding_model: str = "all-MiniLM-L6-v2"
    #: int8 (dynamically quantized) model: about twice as fast as fp32 on CPU; see indices/embedding.py.
    embedding_quantized: bool = True
    #: Tokens per text; longer texts are truncated (the model was trained on 256).
    embedding_max_tokens: int = 256
    #: Where exported (ONNX) models are kept, shared by every home; empty: ``$XDG_CACHE_HOME/paperboy/models``
    #: (``~/.cache/paperboy/models``).  Derived data: deleting it costs one export (about half a minute).
    models_dir: str = ""
    #: The background indexer (issue 16): embedding processes (one single-threaded process each;
    #: 1 = in the indexer itself), or a distributed engine's address (``local:N`` starts a local
    #: Dask cluster of N workers; needs the ``cluster`` extra).  ``paperboy index`` takes both as options.
    index_workers: int = 1
    index_cluster: str = ""
    #: Seconds the background indexer waits between passes (new papers arrive by import and submission).
    index_interval: float = 10.0
    #: Seconds the indexer lease lasts without renewal: one replica's indexer embeds for the whole
    #: store while it renews; if it dies, another takes over after this long (at once on the same host).
    index_lease_seconds: float = 60.0

    # The web app (issue 4).
    #: Where people reach this installation, for emailed links and feeds.  Empty: pages and feeds
    #: use the address each request came to, and mail the address ``paperboy serve`` listens on.
    base_url: str = ""
    #: Set by ``paperboy serve`` for its own processes: the address it listens on (not a setting to write).
    served_url: str = ""
    #: Papers per page on feed, search and profile pages.
    page_size: int = 50
    #: Days a sign-in lasts.
    session_days: int = 30
    #: Failed sign-ins allowed per account and per address within ``login_window`` seconds.
    login_max_failures: int = 5
    login_window: int = 900
    #: Sign-ups allowed per client address and per email address within ``login_window`` seconds.
    register_max_attempts: int = 10
    #: Submission rules, as on Hugging Face: a daily cap per user and a maximum paper age.
    submit_daily_cap: int = 5
    submit_max_age_days: int = 30
    #: Papers fetched from arXiv at once for submissions, per web process (off the request
    #: threads), and how many more may wait their turn before submitters are asked to come back.
    submit_fetch_workers: int = 2
    submit_fetch_queue: int = 8
    #: A submission's fetch: seconds per request, retries, and the longest wait for arXiv's rate
    #: limit (3 s between requests, shared with imports) before it fails with "busy".
    submit_fetch_timeout: float = 10.0
    submit_fetch_retries: int = 1
    submit_fetch_max_wait: float = 30.0
    #: Comments one user may post within ``comment_window`` seconds (counted as each is written).
    comment_limit: int = 10
    comment_window: int = 600
    #: Hours a password-reset link works, and an address-confirmation link.
    reset_hours: int = 2
    confirm_hours: int = 72
    #: Pages for visitors who are not signed in are cached until votes, comments or papers change;
    #: this is how often (seconds) a web process looks for such a change (0: no cache).
    page_cache_seconds: float = 1.0
    #: Anybody may register (turn off for a private installation: admins add users from the CLI).
    registration_open: bool = True

    # Mail.  With no ``smtp_host``, mail is written to ``<home>/outbox/`` instead of being sent.
    smtp_host: str = ""
    smtp_port: int = 25
    #: ``none``, ``starttls`` or ``ssl``.
    smtp_security: str = "none"
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = "paperboy <paperboy@localhost>"

    # Libraries and recommendations (issue 5).
    #: Days of papers the "for you" feed ranks, counting back from the newest announcement day.
    recs_window_days: int = 7
    #: Days after which a save or vote counts half as much in a user's taste (older ones fade further).
    recs_half_life_days: float = 90.0
    #: Largest BibTeX / RIS / CSV file the library import accepts, in megabytes.
    library_max_upload_mb: float = 10.0

    # Email digests (issue 6).
    #: Local time of day (``HH:MM``) at which ``paperboy serve`` sends the digests.
    digest_time: str = "07:00"
    #: IANA time zone of ``digest_time`` and of "today" for digest periods.
    digest_timezone: str = "UTC"
    #: Day weekly digests go out (``monday`` … ``sunday``); a later day of the week catches up.
    digest_weekday: str = "monday"
    #: Send digests on the schedule from ``paperboy serve`` (off: use cron and ``paperboy digest send``).
    digest_schedule: bool = True
    #: Messages per minute at most, per run (its processes share it; 0: no limit).
    digest_rate_per_minute: int = 600
    #: Retries of a temporary failure (SMTP 4xx, no connection) before it is left for the next run.
    digest_retries: int = 5
    #: First retry delay in seconds; doubles on each retry.
    digest_backoff: float = 2.0
    #: Papers per section in a new subscription's digest.
    digest_items: int = 5
    #: SMTP connections each digest process keeps open at once (a message waits for the server's
    #: replies four times; several connections keep building busy meanwhile).
    digest_connections: int = 4
    #: Processes a digest run uses; 0: one per core (at most 4) for runs of 1,000 digests or more.
    digest_workers: int = 0

    # A lab's layer (issue 18).
    #: Let chat webhooks post to loopback and private-network addresses (off: refused, against
    #: server-side request forgery; turn on for a chat server inside your own network).
    webhook_allow_private: bool = False
    #: Seconds a chat service may take to answer one webhook request.
    webhook_timeout: float = 10.0
    #: Serve the MCP endpoint (streamable HTTP, token-authenticated) at /mcp inside ``paperboy serve``.
    mcp_http: bool = True
    # Topics, key phrases and the map (issue 17).
    #: Topics to make; 0: about one per 800 papers (at most 200).
    topics_k: int = 0
    #: The background indexer rebuilds the topics and the map when the papers grew by this share
    #: since the last build, or when that build is this many days old and papers arrived since.
    topics_rebuild_growth: float = 0.25
    topics_rebuild_days: float = 7.0
    #: Fewest embedded papers worth grouping into topics.
    topics_min_papers: int = 20

    @property
    def db_url(self) -> str:
        """The effective store URL."""
        return self.database_url or f"sqlite:///{self.home / 'paperboy.db'}"

    @property
    def models_path(self) -> Path:
        """The folder of exported models (``models_dir``, else the user's cache)."""
        if self.models_dir:
            return Path(self.models_dir).expanduser()
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "paperboy" / "models"

    @property
    def site_url(self) -> str:
        """The address for links made away from a request (mail): ``base_url``, else where
        ``paperboy serve`` listens, else its default address."""
        return (self.base_url or self.served_url or "http://127.0.0.1:8000").rstrip("/")

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with some fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def _coerce(name: str, raw: Any) -> Any:
    """Convert a TOML or environment value to the field's type."""
    default = getattr(Settings, name, None) if name != "home" else DEFAULT_HOME
    if isinstance(default, Path):
        return Path(raw).expanduser()
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple):
        if isinstance(raw, str):
            return tuple(part for part in raw.replace(",", " ").split() if part)
        return tuple(raw)
    return raw


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings for a home directory (``--home``, else ``PAPERBOY_HOME``, else ~/.paperboy)."""
    env = os.environ
    home_path = Path(home or env.get("PAPERBOY_HOME") or DEFAULT_HOME).expanduser().resolve()
    values: dict[str, Any] = {}
    names = {f.name for f in fields(Settings)} - {"home"}
    toml_path = home_path / "settings.toml"
    if toml_path.is_file():
        with toml_path.open("rb") as fh:
            for key, raw in tomllib.load(fh).items():
                if key in names:
                    values[key] = _coerce(key, raw)
    for key in names:
        raw = env.get(f"PAPERBOY_{key.upper()}")
        if raw is not None:
            values[key] = _coerce(key, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(home=home_path, **values)
