"""The store's tables, in SQLAlchemy Core, portable across SQLite and PostgreSQL.

Dates are ISO 8601 strings (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ``): they sort correctly,
read the same on every backend and need no conversion in the import hot path.  Lists (authors,
categories, versions) are kept as JSON on the paper row for fast reads, and the ones that are
queried (authors, categories, sources) also as rows of their own.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.types import TypeEngine

metadata = MetaData()


def Chars(length: int) -> TypeEngine:  # noqa: N802 - reads as a type, like String(n)
    """Text of about ``length`` characters: ``VARCHAR(length)`` on SQLite (which never enforces a
    length, so old stores keep their tables), ``text`` on PostgreSQL.

    Why not ``VARCHAR(n)`` on PostgreSQL: it would refuse what SQLite takes, and a whole import
    batch failed on 230 real category strings of 33-62 characters.  Lengths that matter to people
    (user names, collection names) are checked by the services, the same on both backends.
    """
    return Text().with_variant(String(length), "sqlite")


#: Row ids and the columns holding them: 64-bit on PostgreSQL, where a user can name any id up to
#: 2^63 - 1 in a URL; SQLite's ``INTEGER PRIMARY KEY`` is 64-bit already (and must stay
#: ``INTEGER`` to remain the rowid).
Id = BigInteger().with_variant(Integer(), "sqlite")

papers = Table(
    "papers",
    metadata,
    #: Monotonic change counter and row key: every insert or change takes the next value, so
    #: derived indices catch up by reading rows with a larger seq, and inserts append in order.
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("id", Chars(64), nullable=False, unique=True),
    #: True when ``id`` is an arXiv id (then abs/pdf links are arXiv's).
    Column("is_arxiv", Boolean, nullable=False),
    Column("version", Integer),
    Column("versions", JSON, nullable=False),
    Column("title", Text, nullable=False),
    #: Normalized title, for matching records that carry no id.
    Column("title_key", Text, nullable=False),
    Column("abstract", Text, nullable=False),
    Column("authors", JSON, nullable=False),
    #: Each author's affiliations, parallel to ``authors`` (``[]`` when no author has any).
    Column("affiliations", JSON, nullable=False, server_default="[]"),
    Column("categories", JSON, nullable=False),
    Column("primary_category", Chars(32)),
    Column("comment", Text),
    Column("journal_ref", Text),
    #: The first DOI, case kept (matched case-insensitively: ``ix_papers_doi_key``).
    Column("doi", Chars(255)),
    #: Every DOI the sources gave (arXiv allows several), the first being ``doi``.
    Column("dois", JSON, nullable=False, server_default="[]"),
    Column("license", Text),
    Column("abs_url", Text),
    Column("pdf_url", Text),
    Column("code_url", Text),
    Column("project_url", Text),
    Column("published", Chars(20)),
    Column("updated", Chars(20)),
    Column("announced", Chars(10)),
    #: Votes reported by a source (Hugging Face), not paperboy's own.
    Column("source_upvotes", Integer),
    #: Hugging Face's Daily Papers metadata: daily_at, daily_by, thumbnail, ai_summary (sources/record.py).
    Column("hf", JSON),
    #: Authority of the current field values: (version, source rank) decides merges.
    Column("field_rank", Integer, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("first_seen", Chars(20), nullable=False),
    Column("last_changed", Chars(20), nullable=False),
    Index("ix_papers_title_key", "title_key"),
    Index("ix_papers_announced", "announced"),
)
#: DOIs match whatever their case (the DOI system ignores it); the stored DOI keeps it.
Index("ix_papers_doi_key", func.lower(papers.c.doi))

# Link tables are clustered on the column they are searched by (one B-tree each, no rowid):
# an author's papers, a category's papers, a paper's sources.  They are written only in the
# transaction that writes their paper, which also deletes them with it (store/ingest.py), so their
# foreign key is never checked: SQLite runs with foreign keys off, and PostgreSQL does not get
# the constraint (checking it cost as much server time as inserting the rows; migration 0012).
#: Tables whose foreign key to ``papers`` exists on SQLite only.
SQLITE_ONLY_FOREIGN_KEYS = ("paper_authors", "paper_categories", "paper_sources")


def _paper_link() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE").ddl_if(dialect="sqlite")


paper_authors = Table(
    "paper_authors",
    metadata,
    #: Normalized name: one author page per key.
    Column("author_key", Text, primary_key=True),
    Column("paper_id", Chars(64), primary_key=True),
    #: Place in the paper's author list; the display name is ``papers.authors[position]``.
    Column("position", Integer, primary_key=True),
    _paper_link(),
    sqlite_with_rowid=False,
)

paper_categories = Table(
    "paper_categories",
    metadata,
    Column("category", Chars(32), primary_key=True),
    Column("paper_id", Chars(64), primary_key=True),
    Column("is_primary", Boolean, nullable=False),
    _paper_link(),
    sqlite_with_rowid=False,
)

paper_sources = Table(
    "paper_sources",
    metadata,
    Column("paper_id", Chars(64), primary_key=True),
    Column("source", Chars(16), primary_key=True),
    #: Hash of the last record this source gave: an identical record is "unchanged" at once.
    Column("record_hash", Chars(32)),
    Column("first_seen", Chars(20), nullable=False),
    Column("last_seen", Chars(20), nullable=False),
    _paper_link(),
    sqlite_with_rowid=False,
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", Chars(16), nullable=False),
    Column("target", Text, nullable=False),
    Column("started_at", Chars(20), nullable=False),
    Column("finished_at", Chars(20)),
    #: running, completed, failed (error says why) or interrupted; a running one whose process
    #: is gone reads as died (``Store.runs``).
    Column("status", Chars(16), nullable=False),
    Column("new", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("error", Text),
    #: ``host:pid`` of the importing process, and when it last committed a batch: a run still
    #: "running" whose process is gone (``kill -9``) is shown as died, not running forever.
    Column("owner", Chars(80)),
    Column("heartbeat_at", Chars(20)),
)

rejections = Table(
    "rejections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("ingest_runs.id", ondelete="CASCADE"), nullable=False),
    Column("place", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_rejections_run", "run_id"),
)

harvest_state = Table(
    "harvest_state",
    metadata,
    Column("key", Chars(255), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", Chars(20), nullable=False),
)

paper_vectors = Table(
    "paper_vectors",
    metadata,
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    #: The model (and precision) that made the vector: another model means re-embedding.
    Column("model", Chars(128), nullable=False),
    #: ``papers.seq`` of the text that was embedded: a newer seq means the paper changed since.
    Column("seq", Integer, nullable=False),
    #: float32, little-endian, ``dim`` values.
    Column("vector", LargeBinary, nullable=False),
    #: When the vector was written: the ``vectors`` counter, taken in the writing transaction and
    #: held (row-locked) until its commit, so vectors become visible in ``change`` order however
    #: out of ``seq`` order they are written.  Vector indices catch up by it (``store/changes.py``).
    Column("change", Id, nullable=False, server_default="0"),
    Index("ix_paper_vectors_model_change", "model", "change"),
)

# -- people and what they do (issue 4) ----------------------------------------------------------
# Kept apart from ``papers`` on purpose: votes and comments change often and must not touch
# ``papers.seq`` (which would make the indices re-read the paper) nor slow the import path.

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: Shown on pages; unique ignoring case (``username_key``).
    Column("username", Chars(40), nullable=False),
    Column("username_key", Chars(40), nullable=False, unique=True),
    #: The confirmed address (sign-in by email, reset links, digests); empty until confirmed.
    Column("email", Chars(255), unique=True),
    #: An address given at sign-up (or changed to) whose confirmation link was not yet followed:
    #: it claims nothing, so registering somebody else's address reveals and blocks nothing.
    Column("email_pending", Chars(255)),
    #: argon2id hash (``argon2-cffi``); never the password.
    Column("password_hash", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", Chars(20), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    #: SHA-256 of the cookie's random token: a leaked database holds no usable session.
    Column("token_hash", Chars(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Chars(20), nullable=False),
    Column("expires_at", Chars(20), nullable=False),
    Index("ix_sessions_user", "user_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", Chars(80), nullable=False),
    Column("token_hash", Chars(64), nullable=False, unique=True),
    #: The token's first characters, so its owner can tell tokens apart.
    Column("prefix", Chars(16), nullable=False),
    Column("created_at", Chars(20), nullable=False),
    Column("last_used_at", Chars(20)),
    Index("ix_api_tokens_user", "user_id"),
)

password_resets = Table(
    "password_resets",
    metadata,
    Column("token_hash", Chars(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", Chars(20), nullable=False),
    Column("used_at", Chars(20)),
)

email_confirmations = Table(
    "email_confirmations",
    metadata,
    #: SHA-256 of the mailed link's token.
    Column("token_hash", Chars(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("email", Chars(255), nullable=False),
    Column("expires_at", Chars(20), nullable=False),
    Column("used_at", Chars(20)),
)

#: Rate-limited attempts (sign-ins, sign-ups, reset requests), one row each, counted inside the
#: transaction that adds the row, so simultaneous attempts can never all slip under a limit.
attempts = Table(
    "attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: What is limited, e.g. ``login-account:alice`` or ``login-address:203.0.113.7``.
    Column("key", Chars(300), nullable=False),
    Column("created_at", Chars(20), nullable=False),
    Index("ix_attempts_key", "key", "created_at"),
)

#: Submissions of papers by arXiv id, including those still being fetched and those that failed:
#: each one counts toward the submitter's daily cap, whatever became of it.
submissions = Table(
    "submissions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_id", Chars(64), nullable=False),
    Column("created_at", Chars(20), nullable=False),
    #: fetching, done (the paper is submitted), refused or failed (``message`` says why).
    Column("state", Chars(16), nullable=False),
    #: Why it was refused or failed, as a kind of ``services/errors.py`` (``conflict``, ``unavailable`` …).
    Column("kind", Chars(16)),
    Column("message", Text),
    Column("finished_at", Chars(20)),
    #: ``host:pid`` of the process fetching it: a fetch whose process died is shown as failed.
    Column("owner", Chars(80)),
    Index("ix_submissions_user", "user_id", "created_at"),
    Index("ix_submissions_paper", "paper_id", "state"),
)

votes = Table(
    "votes",
    metadata,
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", Chars(20), nullable=False),
    Index("ix_votes_user", "user_id", "created_at"),
)

paper_stats = Table(
    "paper_stats",
    metadata,
    #: One row per paper that anybody acted on (voted, commented, submitted, hidden).
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    #: paperboy's own votes (a source's votes stay in ``papers.source_upvotes``).
    Column("upvotes", Integer, nullable=False, default=0),
    Column("num_comments", Integer, nullable=False, default=0),
    #: Reddit-style hot score: log10 of the votes plus the paper's age term; see services/feed.py.
    Column("hot", Float, nullable=False, default=0.0),
    #: Hidden by an admin: left out of feeds, search and the API.
    Column("hidden", Boolean, nullable=False, default=False),
    Column("submitted_by", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("submitted_at", Chars(20)),
    Index("ix_paper_stats_hot", "hot"),
    Index("ix_paper_stats_submitted", "submitted_by", "submitted_at"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    #: Markdown source as typed; rendered safely (no raw HTML) when shown.
    Column("body", Text, nullable=False),
    Column("created_at", Chars(20), nullable=False),
    Column("edited_at", Chars(20)),
    Column("hidden", Boolean, nullable=False, default=False),
    Index("ix_comments_paper", "paper_id", "id"),
    Index("ix_comments_user", "user_id", "id"),
)

# -- email digests (issue 6) ----------------------------------------------------------------------
# Subscribers need no account: an address confirmed by a mailed link is enough.  Links in mail are
# signed with the installation's secret and the subscription's ``link_key`` (services/subscriptions.py).

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: Lower case; one subscription per address.
    Column("email", Chars(255), nullable=False, unique=True),
    #: Double opt-in: nothing but the confirmation mail goes out before this is true.
    Column("confirmed", Boolean, nullable=False, default=False),
    #: A permanent delivery failure (SMTP 5xx) stops all mail to the address.
    Column("bounced", Boolean, nullable=False, default=False),
    Column("bounce_reason", Text),
    #: ``daily`` (only on days with new papers) or ``weekly``.
    Column("frequency", Chars(8), nullable=False, default="daily"),
    #: Chosen sections in order: trending, categories, searches, similar.
    Column("sections", JSON, nullable=False),
    #: Papers per section.
    Column("items", Integer, nullable=False, default=5),
    Column("categories", JSON, nullable=False),
    #: Saved searches (the search syntax), sent as keyword alerts.
    Column("searches", JSON, nullable=False),
    #: Random value mixed into this subscription's signed links: a new subscription gets new links.
    Column("link_key", Chars(32), nullable=False),
    Column("created_at", Chars(20), nullable=False),
    #: When the last confirmation mail went out (resending is rate-limited).
    Column("confirm_sent_at", Chars(20)),
    Column("confirmed_at", Chars(20)),
    Column("bounced_at", Chars(20)),
    #: The last digest sent: its period, when, the newest announcement day it covered and the
    #: store's change counter then (papers that arrive late for a covered day are caught by seq).
    Column("last_period", Chars(16)),
    Column("last_sent_at", Chars(20)),
    Column("covered_until", Chars(10)),
    Column("covered_seq", Integer),
)

digest_sends = Table(
    "digest_sends",
    metadata,
    #: One row per (subscriber, period): the claim that makes each digest go out once.
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    #: ``2026-07-10`` (daily) or ``2026-W28`` (weekly).
    Column("period", Chars(16), primary_key=True),
    #: claimed (a sender holds it), sent, failed (temporary: retried) or bounced (never retried).
    Column("state", Chars(8), nullable=False),
    #: The sender holding the claim: ``host:pid:random``.
    Column("owner", Chars(120), nullable=False),
    #: A claim whose owner is gone, or whose lease ran out, may be taken over.
    Column("lease_until", Chars(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    #: The same Message-ID on every attempt, so a resent duplicate is recognisable as one.
    Column("message_id", Chars(255), nullable=False),
    #: The digest as built when first claimed (sections of paper ids, window): resent unchanged.
    Column("content", JSON, nullable=False),
    Column("claimed_at", Chars(20), nullable=False),
    Column("sent_at", Chars(20)),
    Column("error", Text),
    Index("ix_digest_sends_state", "state", "period"),
)

digest_papers = Table(
    "digest_papers",
    metadata,
    #: Every paper ever sent to a subscriber: no paper goes to the same address twice.  No foreign
    #: key to ``papers``: a re-keyed paper must not be blocked by old digests.
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Chars(64), primary_key=True),
    Column("period", Chars(16), nullable=False),
    sqlite_with_rowid=False,
)

# -- libraries and recommendations (issue 5) ------------------------------------------------------
# A signed-in user's library: named collections of saved papers, and papers marked "not interested".
# Saves and votes are the recommender's positives, "not interested" its negatives (services/recommend.py).

collections = Table(
    "collections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: The owner; NULL for a group's shared collection (``group_id``), which no one user owns.
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("name", Chars(100), nullable=False),
    #: Lower case: one collection per name and user, whatever the case.
    Column("name_key", Chars(100), nullable=False),
    Column("created_at", Chars(20), nullable=False),
    #: Set for a group's shared collection (issue 18): every member saves into it.
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE"), nullable=True),
    Index("ux_collections_user_name", "user_id", "name_key", unique=True),
    Index("ux_collections_group_name", "group_id", "name_key", unique=True),
)

collection_items = Table(
    "collection_items",
    metadata,
    Column("collection_id", Id, ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    #: When it was saved: recent saves weigh more in the user's taste.
    Column("added_at", Chars(20), nullable=False),
    #: Who saved it (a user id, kept for a group's shared collections; NULL in personal ones and older
    #: rows).  No foreign key: it was added without copying the table (see migration 0011).
    Column("added_by", Id, nullable=True),
    Index("ix_collection_items_paper", "paper_id"),
)

paper_feedback = Table(
    "paper_feedback",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    #: ``not_interested`` (the only kind so far): never recommended again, and a negative example.
    Column("kind", Chars(16), nullable=False),
    Column("created_at", Chars(20), nullable=False),
)

feed_tokens = Table(
    "feed_tokens",
    metadata,
    #: SHA-256 of the token in a user's private "for you" feed link (read-only; a new link replaces it).
    Column("token_hash", Chars(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("created_at", Chars(20), nullable=False),
    Column("last_used_at", Chars(20)),
)

#: Change counters: ``activity`` goes up with every vote, comment, submission or hiding, so
#: caches of pages (which show those) know when they are stale without reading the rows.
counters = Table(
    "counters",
    metadata,
    Column("name", Chars(32), primary_key=True),
    Column("value", Id, nullable=False),
)

#: Leases on work only one process may do for the whole store at a time (``indexer``: embedding
#: and the topic build), taken and renewed in one transaction each (``store/leases.py``).
leases = Table(
    "leases",
    metadata,
    Column("name", Chars(32), primary_key=True),
    #: ``host:pid`` (and a tag) of the holder.
    Column("owner", Chars(255), nullable=False),
    Column("acquired_at", Chars(20), nullable=False),
    Column("heartbeat_at", Chars(20), nullable=False),
    #: The holder keeps it only while it renews before this moment; afterwards anyone may take it.
    Column("expires_at", Chars(20), nullable=False),
)


# -- a lab's layer (issue 18): follows, groups, notes, chat webhooks --------------------------------

follows = Table(
    "follows",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    #: What is followed: ``author`` (target: the author key), ``category`` (lower case; ``cs`` is
    #: every ``cs.*``), ``search`` (the query text) or ``topic`` (the topic id).
    Column("kind", Chars(16), primary_key=True),
    Column("target", Chars(300), primary_key=True),
    #: How it is shown (an author's spelling, a category as written).
    Column("label", Chars(300), nullable=False),
    Column("created_at", Chars(20), nullable=False),
    #: Follower counts: one B-tree walk per author page.
    Index("ix_follows_target", "kind", "target"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", Chars(100), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", Chars(20), nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    #: ``owner`` (invites, removes, renames, webhooks) or ``member``.
    Column("role", Chars(8), nullable=False),
    Column("joined_at", Chars(20), nullable=False),
    Index("ix_group_members_user", "user_id"),
)

group_invites = Table(
    "group_invites",
    metadata,
    #: SHA-256 of the random token in the invitation link: a leaked database invites nobody.
    Column("token_hash", Chars(64), primary_key=True),
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("created_by", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", Chars(20), nullable=False),
    Column("expires_at", Chars(20), nullable=False),
    #: How many people joined through it.
    Column("uses", Integer, nullable=False, default=0),
    Index("ix_group_invites_group", "group_id"),
)

reading_queue = Table(
    "reading_queue",
    metadata,
    #: A group's papers to read by a day ("Friday's papers").
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Chars(10), primary_key=True),
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("added_by", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("added_at", Chars(20), nullable=False),
)

notes = Table(
    "notes",
    metadata,
    #: A private note of one user on one saved paper (Markdown, rendered without raw HTML).
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("body", Text, nullable=False),
    Column("created_at", Chars(20), nullable=False),
    Column("updated_at", Chars(20), nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: Exactly one of user_id and group_id: whose hook it is.
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE")),
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE")),
    Column("name", Chars(100), nullable=False),
    #: slack, mattermost, discord, teams or matrix: which JSON shape the message takes.
    Column("service", Chars(16), nullable=False),
    #: The incoming-webhook URL (a secret: shown masked, never logged).
    Column("url", Text, nullable=False),
    #: Matrix only: the access token of the account that posts (a secret, never shown).
    Column("secret", Text),
    #: digest, collection (``target``: its id) or search (``target``: the query).
    Column("kind", Chars(16), nullable=False),
    Column("target", Text, nullable=False, default=""),
    Column("created_by", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", Chars(20), nullable=False),
    Column("last_sent_at", Chars(20)),
    Column("last_error", Text),
    Index("ix_webhooks_user", "user_id"),
    Index("ix_webhooks_group", "group_id"),
)

webhook_sends = Table(
    "webhook_sends",
    metadata,
    #: The send log of chat webhooks, as ``digest_sends`` is for mail: one row per (hook, period).
    Column("webhook_id", Id, ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True),
    Column("period", Chars(16), primary_key=True),
    #: claimed, sent, failed (temporary: retried) or dead (refused for good: never retried).
    Column("state", Chars(8), nullable=False),
    Column("owner", Chars(120), nullable=False),
    Column("lease_until", Chars(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    #: The message as first built (paper ids, title): resent unchanged after a crash.
    Column("content", JSON, nullable=False),
    Column("claimed_at", Chars(20), nullable=False),
    Column("sent_at", Chars(20)),
    Column("error", Text),
)

webhook_papers = Table(
    "webhook_papers",
    metadata,
    #: Every paper a hook ever posted: no paper goes to the same channel twice.
    Column("webhook_id", Id, ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Chars(64), primary_key=True),
    Column("period", Chars(16), nullable=False),
    sqlite_with_rowid=False,
)

# -- topics, key phrases and the map (issue 17) -------------------------------------------------
# Derived from the stored vectors and texts by services/topics.py, but kept in the store: pages and
# the API read them, topic ids are kept across rebuilds (links and feeds stay), and a whole build is
# written in one transaction, so readers see the old topics or the new ones, never half of each.

topic_builds = Table(
    "topic_builds",
    metadata,
    #: Only finished builds are recorded (in the transaction that writes their topics).
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model", Chars(128), nullable=False),
    #: How it was made: clustering, k, layout and their settings; ``next_id`` for new topics.
    Column("params", JSON, nullable=False),
    Column("started_at", Chars(20), nullable=False),
    Column("finished_at", Chars(20), nullable=False),
    Column("papers", Integer, nullable=False),
    Column("topics", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    #: The build's phrase vocabulary and document frequencies (zlib-compressed JSON): key phrases
    #: of papers that arrive later are weighed with them.
    Column("vocabulary", LargeBinary, nullable=False),
)

topics = Table(
    "topics",
    metadata,
    #: Kept across rebuilds for the topic whose centroid is closest to the old one.
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("build_id", Id, nullable=False),
    #: A few of its most distinctive phrases (class-based TF-IDF), for people.
    Column("label", Text, nullable=False),
    #: ``[[phrase, weight], ...]``, most distinctive first.
    Column("terms", JSON, nullable=False),
    Column("size", Integer, nullable=False),
    #: Unit-length mean of its papers' vectors (float32 bytes).
    Column("centroid", LargeBinary, nullable=False),
    #: Where its label sits on the map, and its colour there (a palette index).
    Column("x", Float, nullable=False),
    Column("y", Float, nullable=False),
    Column("color", Integer, nullable=False),
)

paper_topics = Table(
    "paper_topics",
    metadata,
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", Id, nullable=False),
    #: ``paper_vectors.seq`` it was placed from: a newer vector means placing it again.
    Column("seq", Integer, nullable=False),
    #: The paper's point on the map.
    Column("x", Float, nullable=False),
    Column("y", Float, nullable=False),
    #: Cosine to its topic's centroid (the most typical papers have the highest).
    Column("score", Float, nullable=False),
    Index("ix_paper_topics_topic", "topic_id", "score"),
)

paper_keywords = Table(
    "paper_keywords",
    metadata,
    Column("paper_id", Chars(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    #: ``papers.seq`` of the text they were taken from.
    Column("seq", Integer, nullable=False),
    #: A few key phrases as they are written in the paper, most telling first.
    Column("keywords", JSON, nullable=False),
)

keyword_papers = Table(
    "keyword_papers",
    metadata,
    #: A key phrase's normalized form (``topic:"…"`` searches by it), then its papers.
    Column("key", Chars(200), primary_key=True),
    Column("paper_id", Chars(64), primary_key=True),
    sqlite_with_rowid=False,
)


#: Values every process of the installation must agree on, such as the key that signs mailed links
#: (``link-signing``): in the store, so that web replicas on other machines share them.
secrets = Table(
    "secrets",
    metadata,
    Column("name", Chars(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", Chars(20), nullable=False),
)
