"""Table models: the one place the schema is declared.

SQLModel tables do not validate on construction; request shapes and validation
live in marshmallow schemas (``service/schemas.py``). Every time is tz-aware UTC.
JSON columns hold lists and dicts whose shape those schemas own.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import ConfigDict
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import JSON, Column, Field, SQLModel

M = TypeVar("M", bound=SQLModel)


class _Table(SQLModel):
    """The base of every table: pydantic builds a table's validator on its first use.

    Tables do not validate on construction (the schemas do), so most processes never use
    it, and building 29 of them cost a fifth of importing this module (every command's start).
    """

    model_config = ConfigDict(defer_build=True)


def as_loaded(model: type[M], values: Mapping[str, Any]) -> M:
    """Return a ``model`` instance holding ``values`` as if the ORM had loaded it.

    The instance is detached; ``session.add`` makes it the session's own, unchanged.
    On hot paths a Core statement and this cost less than an ORM load or the model's
    constructor (for the user row and the new lease of each judgment: 4.38 to 4.31 ms
    of CPU per judgment, in process).
    """
    # A worker's first request may come before any ORM query has configured the mappers.
    sa.orm.configure_mappers()
    instance = sa.inspect(model).class_manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


def adopt(session: sa.orm.Session, model: type[M], values: Mapping[str, Any]) -> M:
    """Return ``model``'s row with ``values`` as the session's own object.

    As an ORM load with ``populate_existing`` would: an object the session already holds
    for that id takes the values; otherwise a new one enters as if loaded (``as_loaded``).
    Columns missing from ``values`` load on first access.
    """
    existing = session.identity_map.get(identity_key(model, values["id"]))
    if existing is None:
        instance = as_loaded(model, values)
        session.add(instance)
        return instance
    for key, value in values.items():
        set_committed_value(existing, key, value)
    return existing


# A simulated clock, set only by ``clock_at`` (the demo records a past history through
# the real domain functions). A context variable: other threads and requests keep the
# real time.
_CLOCK: ContextVar[datetime | None] = ContextVar("rankroom_clock", default=None)


def utcnow() -> datetime:
    """Return the current time, tz-aware, in UTC (or the simulated time of ``clock_at``)."""
    return _CLOCK.get() or datetime.now(UTC)


@contextmanager
def clock_at(when: datetime) -> Iterator[None]:
    """Run the block as if it were ``when`` (tz-aware): every ``utcnow`` answers it."""
    token = _CLOCK.set(when)
    try:
        yield
    finally:
        _CLOCK.reset(token)


def _json(nullable: bool = False) -> Any:
    return Field(default=None if nullable else ..., sa_column=Column(JSON, nullable=nullable))


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always read back tz-aware (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use service.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _time(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _created(index: bool = False) -> Any:
    return Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index)
    )


class Role(enum.StrEnum):
    ADMIN = "admin"
    RATER = "rater"
    ENGINEER = "engineer"


class PairSet(enum.StrEnum):
    """Which pairs of an item a pairwise project collects (the project's ``pairs``)."""

    ALL = "all"  # every pair: n(n-1)/2 units
    ROUND_ROBIN = "round_robin"  # each response against the next, the last against the first
    REFERENCE = "reference"  # each response against the project's reference response


class Pairing(enum.StrEnum):
    """Which models' replies a generated pairwise item compares (the project's ``pairing``)."""

    ALL = "all"  # every good reply of the prompt
    ADAPTIVE = "adaptive"  # two models, chosen to narrow the leaderboard (stats/pairing.py)


class Mode(enum.StrEnum):
    PAIRWISE = "pairwise"
    RANKING = "ranking"
    RATING = "rating"


class Scale(enum.StrEnum):
    BINARY = "binary"
    TERNARY = "ternary"
    LIKERT7 = "likert7"


class EditPolicy(enum.StrEnum):
    """Which responses a rater may rewrite after the verdict (the project's ``edit``)."""

    OFF = "off"
    PREFERRED = "preferred"  # the response the verdict puts first (service/rating/rewrites.py)
    ANY = "any"


class JudgeDisplay(enum.StrEnum):
    """What a rater sees of the model judges' verdicts on the item they rate.

    Hidden by default: a judge's verdict shown first anchors the rater. Each judgment
    records the display in force (``Judgment.judge_view``), so its effect can be measured.
    """

    HIDDEN = "hidden"
    AFTER = "after"  # after the rater submits
    SUGGESTION = "suggestion"  # pre-filled on the screen as a suggestion


class ProjectStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class LeaseStatus(enum.StrEnum):
    """Where a lease (an ``Assignment``) is in its life; only ``slots.end_leases`` ends one.

    An active lease holds a slot; past ``expires_at`` it still does until the sweep
    (``slots.sweep_expired``) marks it expired and frees the slot. Submitted leases
    hold their slot for good; skipped, released (by an admin, or moved to another
    rater) and expired ones give it back.
    """

    ACTIVE = "active"
    SUBMITTED = "submitted"
    SKIPPED = "skipped"
    RELEASED = "released"
    EXPIRED = "expired"


class User(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=120, sa_column_kwargs={"unique": True})
    display_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320)
    role: str = Field(default=Role.RATER.value, max_length=16, index=True)
    expertise: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    password_hash: str | None = Field(default=None, max_length=400)
    active: bool = Field(default=True)
    # Bumped to end every live session of this user (deactivation, password change).
    session_epoch: int = Field(default=0)
    hourly_rate: float | None = Field(default=None)
    erased_at: datetime | None = _time(nullable=True)
    created_at: datetime = _created()


class ApiToken(_Table, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(default="", max_length=200)
    # sha256 of the secret; the secret itself is shown once and never stored.
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    prefix: str = Field(max_length=16)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _created()
    expires_at: datetime | None = _time(nullable=True)
    revoked_at: datetime | None = _time(nullable=True)
    last_used_at: datetime | None = _time(nullable=True)


class Project(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=200)
    description: str = Field(default="")
    mode: str = Field(default=Mode.PAIRWISE.value, max_length=16)
    scale: str = Field(default=Scale.TERNARY.value, max_length=16)
    # List of rubric dimensions as stored (checked by schemas.RubricDimensionSchema);
    # code reads them typed, through service.rubric.rubric_of.
    rubric: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    guidelines: str = Field(default="")
    guideline_version: int = Field(default=1)
    overlap: int = Field(default=3)
    status: str = Field(default=ProjectStatus.ACTIVE.value, max_length=16)
    lease_minutes: int = Field(default=30)
    # "complete-first" finishes items before starting new ones; "spread" does the opposite.
    order_strategy: str = Field(default="complete-first", max_length=16)
    # Pairwise: which pairs of an item are collected, each by ``overlap`` raters
    # (``PairSet``); "reference" pairs every response with ``pair_reference``.
    pairs: str = Field(default="all", max_length=16, sa_column_kwargs={"server_default": "all"})
    pair_reference: str | None = Field(default=None, max_length=200)
    gold_rate: float = Field(default=0.0)
    qualification_items: int = Field(default=0)
    qualification_threshold: float = Field(default=0.8)
    daily_cap: int | None = Field(default=None)
    rater_cap: int | None = Field(default=None)
    skip_flag_threshold: int = Field(default=3)
    # Ask the rater to confirm a verdict that contradicts their rubric scores
    # (service/rating/contradictions.py has the rule).
    confirm_contradictions: bool = Field(
        default=True, sa_column_kwargs={"server_default": sa.true()}
    )
    # Generated pairwise items: every reply, or an adaptively chosen pair of models
    # (``Pairing``, pull/pairing.py) with this share of the pairs chosen uniformly.
    pairing: str = Field(
        default=Pairing.ALL.value, max_length=16, sa_column_kwargs={"server_default": "all"}
    )
    pairing_uniform_share: float = Field(default=0.3, sa_column_kwargs={"server_default": "0.3"})
    # Error spans: the labels a rater may put on a stretch of a response (empty: no
    # spans), and whether two spans of one response may overlap (service/rating/spans.py).
    span_labels: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sa.text("'[]'")),
    )
    span_overlap: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # May raters rewrite a response after the verdict (``EditPolicy``)?
    edit: str = Field(
        default=EditPolicy.OFF.value, max_length=16, sa_column_kwargs={"server_default": "off"}
    )
    # Adaptive overlap (service/rating/agreement_rule.py has the rule): each unit starts
    # at ``overlap`` and gains raters while they disagree, up to ``overlap_max``; the
    # audit sample (``audit_share`` of the items) always gets ``overlap_max``.
    adaptive_overlap: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    overlap_max: int = Field(default=5, sa_column_kwargs={"server_default": "5"})
    audit_share: float = Field(default=0.1, sa_column_kwargs={"server_default": "0.1"})
    # Model judges (service/judging/): what raters see of them (``JudgeDisplay``); the
    # tokens the project's judges may spend (None: no limit); triage (items the judges
    # disagree on, or that flip with the order, go to humans first); budget mode (items
    # every judge agrees on in both orders get ``judge_budget_overlap`` raters, except
    # the audit sample, ``judge_audit_share`` of them, which keeps the full overlap).
    judge_display: str = Field(
        default=JudgeDisplay.HIDDEN.value,
        max_length=16,
        sa_column_kwargs={"server_default": "hidden"},
    )
    judge_token_budget: int | None = Field(default=None, sa_type=sa.BigInteger)
    judge_triage: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    judge_budget: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    judge_budget_overlap: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    judge_audit_share: float = Field(default=0.1, sa_column_kwargs={"server_default": "0.1"})
    created_at: datetime = _created()
    updated_at: datetime = _created()


class GuidelineVersion(_Table, table=True):
    """One saved text of a project's guidelines; ``Project.guideline_version`` is the current.

    Judgments record the version their rater saw, so every version ever current is kept.
    """

    __tablename__ = "guideline_version"
    __table_args__ = (sa.UniqueConstraint("project_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    version: int
    text: str = Field(default="")
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _created()


# A project as "next item" and "submit" read it, on every judgment: all but its free
# texts, which guidelines can make long (kilobytes, compressed out of line on
# PostgreSQL). An object built from these (``adopt``) loads the rest on first access.
PROJECT_WORK_COLUMNS = [
    c for c in Project.__table__.c if c.key not in ("description", "guidelines")
]


class BatchState(enum.StrEnum):
    """Where an import batch is: only a DONE batch's items are all visible."""

    STAGING = "staging"  # lines being read into import_stage; nothing visible yet
    PUBLISHING = "publishing"  # known valid; staged items move into items, rolled forward
    DONE = "done"


class ImportBatch(_Table, table=True):
    __tablename__ = "import_batch"
    __table_args__ = (
        # One batch in flight per project: its staging checks stay true until it publishes.
        sa.Index(
            "ux_import_batch_in_flight",
            "project_id",
            unique=True,
            sqlite_where=sa.text("state != 'done'"),
            postgresql_where=sa.text("state != 'done'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    # "file", "api", "remote", "folder", "generation"
    kind: str = Field(default="file", max_length=16)
    source: str = Field(default="", max_length=1000)
    checksum: str = Field(default="", max_length=64)
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _created()
    created_count: int = Field(default=0)
    updated_count: int = Field(default=0)
    unchanged_count: int = Field(default=0)
    error_count: int = Field(default=0)
    errors: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    state: str = Field(
        default=BatchState.DONE.value,
        max_length=16,
        sa_column_kwargs={"server_default": BatchState.DONE.value},
    )
    # The process working on a batch in flight ("host:pid") and when it last did.
    owner: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    heartbeat_at: datetime | None = _time(nullable=True)


# A batch not yet done: its items are not all visible, and it may still publish more.
BATCH_IN_FLIGHT = ImportBatch.state != BatchState.DONE.value


class ImportStage(_Table, table=True):
    """A validated line of a batch in flight, not yet an item (raters never see it)."""

    __tablename__ = "import_stage"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="import_batch.id", index=True)
    line: int
    content_hash: str = Field(max_length=64)
    # The row as validated (ItemRowSchema's output), ready to write.
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Replaces an existing item: published with the batch's commit, not rolled forward.
    update: bool = Field(default=False)


class Item(_Table, table=True):
    __table_args__ = (sa.UniqueConstraint("project_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    external_id: str = Field(max_length=200)
    # Exactly one of prompt (plain text) and messages (a conversation) is set.
    prompt: str | None = Field(default=None)
    messages: list[dict[str, Any]] | None = _json(nullable=True)
    # OpenAI function definitions the conversation's tool calls may use (items/tool_calls.py).
    tools: list[dict[str, Any]] | None = _json(nullable=True)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expertise: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    priority: int = Field(default=0)
    # The known answer for gold items: {"preferred": id} / {"ranking": [[ids]...]} / ...
    gold: dict[str, Any] | None = _json(nullable=True)
    is_gold: bool = Field(default=False, index=True)
    # sha256 of the canonical imported content, to make re-imports idempotent.
    content_hash: str = Field(max_length=64)
    batch_id: int | None = Field(default=None, foreign_key="import_batch.id", index=True)
    flagged: bool = Field(default=False)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Response(_Table, table=True):
    __table_args__ = (sa.UniqueConstraint("item_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    external_id: str = Field(max_length=200)
    position: int = Field(default=0)
    model: str = Field(default="", max_length=200)
    content: str
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # A tool-using answer: its tool-call and tool-result turns before ``content``, the
    # final text (items/tool_calls.py); null for a plain answer.
    tool_turns: list[dict[str, Any]] | None = _json(nullable=True)


class Image(_Table, table=True):
    """An image of a project's items, kept as a file named by its sha256 (service/images.py).

    Text holds an image as a marker with its sha256; this row says the file was
    verified (type by magic bytes, size) and which project holds it (``ItemImage``
    says which items show it).
    """

    __table_args__ = (sa.UniqueConstraint("project_id", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    sha256: str = Field(max_length=64)
    media_type: str = Field(max_length=32)
    bytes: int
    width: int | None = Field(default=None)
    height: int | None = Field(default=None)
    created_at: datetime = _created()


class ItemImage(_Table, table=True):
    """An image an item's content shows (by sha256): who may fetch an image follows from it.

    Written by the import with the item's content (items/images.py, ``link``); a rater
    may fetch an image only through an item they hold or judged (``viewable``).
    """

    __tablename__ = "item_image"

    item_id: int = Field(foreign_key="item.id", primary_key=True)
    sha256: str = Field(max_length=64, primary_key=True, index=True)


class Assignment(_Table, table=True):
    """A lease: one rater holds one item until it is submitted, skipped or expires."""

    __table_args__ = (
        # The database itself refuses to hand an item to the same rater twice.
        sa.UniqueConstraint("item_id", "rater_id"),
        sa.Index("ix_assignment_item_status", "item_id", "status"),
        # A rater's standing in a project (live lease, caps, gold rate) read from the index
        # alone: without it, "next item" scanned every lease of the project.
        sa.Index(
            "ix_assignment_rater_project",
            "rater_id",
            "project_id",
            "status",
            "expires_at",
            "is_gold",
            "created_at",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    rater_id: int = Field(foreign_key="user.id")
    status: str = Field(default=LeaseStatus.ACTIVE.value, max_length=16)  # LeaseStatus
    is_gold: bool = Field(default=False)
    # Display order of response external ids (for pairwise: the two shown, left first).
    shown_order: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = _time(nullable=True)
    skip_reason: str | None = Field(default=None, max_length=40)
    skip_note: str | None = Field(default=None, max_length=2000)


class Judgment(_Table, table=True):
    """One rater's verdict on one item. Append-only: an edit is a new row that supersedes."""

    __table_args__ = (
        # A client-generated id makes submission idempotent per rater.
        sa.UniqueConstraint("rater_id", "client_id"),
        sa.Index("ix_judgment_project_created", "project_id", "created_at"),
        sa.Index("ix_judgment_item", "item_id"),
        # The export reads a project's judgments in item order from it (export/source.py).
        sa.Index("ix_judgment_project_item", "project_id", "item_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64)
    project_id: int = Field(foreign_key="project.id")
    item_id: int = Field(foreign_key="item.id")
    rater_id: int = Field(foreign_key="user.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", index=True)
    supersedes_id: int | None = Field(default=None, foreign_key="judgment.id", index=True)
    version: int = Field(default=1)
    mode: str = Field(max_length=16)
    is_gold: bool = Field(default=False)
    shown_order: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # pairwise: {"preferred": id|None, "strength": int|None, "scale_value": int}
    # ranking:  {"ranking": [[id, ...], ...]} best group first, ties share a group
    # rating:   {} (scores live in rubric["response"])
    verdict: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # {"response": {response_id: {dim: value}}, "item": {dim: value}}
    rubric: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    both_bad: bool = Field(default=False)
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rationale: str = Field(default="")
    confidence: int | None = Field(default=None)
    active_ms: int | None = Field(default=None)
    # Whether the rater was asked to confirm a verdict that contradicts their scores,
    # and the rationale they gave (empty when they just confirmed).
    contradiction_asked: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    contradiction_rationale: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # Error spans the rater marked, in stored form (service/rating/spans.py): each
    # {"response": id, "start", "end" (code points), "label", "note", "text_sha256"}.
    spans: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sa.text("'[]'")),
    )
    # The rater's rewrite of one response (service/rating/rewrites.py): which response
    # (its id), the new text, and the sha256 of the original text they were shown. The
    # response itself is never changed. All three are null when there is no rewrite.
    rewrite_response_id: str | None = Field(default=None, max_length=200)
    rewrite_text: str | None = Field(default=None)
    rewrite_original_sha256: str | None = Field(default=None, max_length=64)
    # The project's judge display when the rater made this judgment (``JudgeDisplay``).
    judge_view: str = Field(
        default=JudgeDisplay.HIDDEN.value,
        max_length=16,
        sa_column_kwargs={"server_default": "hidden"},
    )
    guideline_version: int = Field(default=1)
    # sha256 of exactly what the rater was shown: prompt, responses in display order and
    # guideline version (service/rating/shown.py), so exports can prove their text is that.
    shown_sha256: str = Field(max_length=64)
    started_at: datetime | None = _time(nullable=True)
    created_at: datetime = _created()


class Adjudication(_Table, table=True):
    """An admin's final verdict on a disputed item, used by consensus export."""

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    admin_id: int = Field(foreign_key="user.id")
    verdict: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str = Field(default="")
    promoted_to_gold: bool = Field(default=False)
    # The verdict overruled the raters' strict majority (after a reason and a confirm).
    overrode_majority: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = _created()


class AuditEvent(_Table, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    action: str = Field(max_length=80, index=True)
    target: str = Field(default="", max_length=300)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    address: str | None = Field(default=None, max_length=64)
    created_at: datetime = _created(index=True)


class Invite(_Table, table=True):
    """A one-time link with which a user sets their own password."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    # sha256 of the secret in the link; the link itself is shown once and never stored.
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = _time(nullable=True)
    revoked_at: datetime | None = _time(nullable=True)


class LoginAttempt(_Table, table=True):
    """One sign-in attempt, kept briefly so every worker and host throttles alike."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_username_created", "username", "created_at"),
        sa.Index("ix_login_attempt_address_created", "address", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Lower-cased as typed (it may name no account).
    username: str = Field(max_length=120)
    address: str = Field(default="", max_length=64)
    succeeded: bool = Field(default=False)
    created_at: datetime = _created(index=True)


class SourceKind(enum.StrEnum):
    REMOTE = "remote"
    FOLDER = "folder"
    GENERATION = "generation"


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    PARTIAL = "partial"
    FAILED = "failed"


# A run in one of these states holds its source: at most one per source (see PullRun).
ACTIVE_RUN_STATES = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


class Source(_Table, table=True):
    """Where a project pulls items from: a remote file, a watched folder, or generators."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, sa_column_kwargs={"unique": True})
    project_id: int = Field(foreign_key="project.id", index=True)
    kind: str = Field(max_length=16)
    # Shape owned by service/projects/source_config.py; holds names of key variables, never keys.
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Minutes between scheduled pulls; None pulls only on demand.
    interval_minutes: int | None = Field(default=None)
    next_run_at: datetime | None = _time(nullable=True, index=True)
    # Validators of the last imported remote file, sent back as conditional request headers.
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    last_checksum: str | None = Field(default=None, max_length=64)
    last_run_at: datetime | None = _time(nullable=True)
    last_status: str | None = Field(default=None, max_length=16)
    last_error: str = Field(default="")
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _created()
    updated_at: datetime = _created()


class PullRun(_Table, table=True):
    """One pull of a source: a job queued, claimed by one worker, then finished."""

    __tablename__ = "pull_run"
    __table_args__ = (
        # The database refuses a second queued-or-running pull of the same source, so
        # two web workers enqueueing at once, or a schedule racing a click, make one job.
        sa.Index(
            "ux_pull_run_active_source",
            "source_id",
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        ),
        sa.Index("ix_pull_run_status_run_after", "status", "run_after"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    status: str = Field(default=RunStatus.QUEUED.value, max_length=16)
    # "manual", "schedule", "retry", "cli"
    trigger: str = Field(default="manual", max_length=16)
    # "pull" fetches what is new; "retry" also re-attempts failed generations.
    mode: str = Field(default="pull", max_length=16)
    retry_of: int | None = Field(default=None, foreign_key="pull_run.id")
    requested_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _created()
    run_after: datetime = _created()
    claimed_by: str | None = Field(default=None, max_length=200)
    started_at: datetime | None = _time(nullable=True)
    heartbeat_at: datetime | None = _time(nullable=True)
    finished_at: datetime | None = _time(nullable=True)
    attempts: int = Field(default=0)
    # {"phase": str, "done": int, "total": int | None} while running.
    progress: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    # Counts: created/updated/unchanged items, files, generations ok/failed, ...
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = Field(default="")
    errors: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class PulledFile(_Table, table=True):
    """A file a folder source picked up: imported (remembered by checksum) or failed."""

    __tablename__ = "pulled_file"
    __table_args__ = (sa.Index("ix_pulled_file_source_checksum", "source_id", "checksum"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    run_id: int = Field(foreign_key="pull_run.id", index=True)
    name: str = Field(max_length=500)
    checksum: str = Field(max_length=64)
    size: int = Field(default=0)
    # "imported" or "failed"
    status: str = Field(max_length=16)
    batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    moved_to: str = Field(default="", max_length=1000)
    error: str = Field(default="")
    created_at: datetime = _created()


class Generation(_Table, table=True):
    """One candidate response asked of one generator for one prompt: kept, or failed."""

    __table_args__ = (sa.UniqueConstraint("source_id", "prompt_id", "generator", "sample"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    run_id: int | None = Field(default=None, foreign_key="pull_run.id")
    prompt_id: str = Field(max_length=200)
    # sha256 of the prompt as sent; a changed prompt makes its old generations stale.
    prompt_hash: str = Field(max_length=64)
    generator: str = Field(max_length=64)
    sample: int = Field(default=1)
    # "ok" or "failed"
    status: str = Field(max_length=16, index=True)
    content: str | None = Field(default=None)
    # model, params, endpoint, latency_ms, usage, finish_reason, attempts
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = Field(default="")
    attempts: int = Field(default=0)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ItemSlots(_Table, table=True):
    """Per-item counters that make handing out work one indexed lookup (see slots.py).

    Kept in step with ``item`` by database triggers (migration assign1), so every way of
    writing items (ORM, bulk import, raw SQL) is covered. ``taken`` counts submitted
    judgments plus leases not yet expired by the sweep; ``open`` is true while a real
    (non-gold), unflagged item still wants raters: ``taken`` below its capacity,
    ``units`` × ``overlap`` + ``raised`` (``slots.capacity``).
    """

    __tablename__ = "item_slots"
    __table_args__ = (
        sa.Index("ix_item_slots_fill", "project_id", "open", "priority", "taken", "rand"),
        sa.Index(
            "ix_item_slots_spread",
            "project_id",
            "open",
            sa.text("priority DESC"),
            "taken",
            "rand",
        ),
        sa.Index("ix_item_slots_gold", "project_id", "is_gold"),
    )

    item_id: int = Field(foreign_key="item.id", primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    priority: int = Field(default=0)
    is_gold: bool = Field(default=False)
    flagged: bool = Field(default=False)
    # The item's required expertise tags, lower-cased, sorted and joined by "|".
    expertise_key: str = Field(default="", max_length=1000)
    taken: int = Field(default=0)
    skips: int = Field(default=0)
    open: bool = Field(default=True)
    # Pair units the item is collected on (``pairs.units``): 1 unless a pairwise item has
    # more than two responses. Set at import (``slots.set_units``), 1 when inserted.
    units: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # The project's overlap, kept on the row (migration integ_slot_overlap): every
    # statement that recomputes ``open`` reads the capacity from the row it updates,
    # under that row's lock, so an overlap change cannot interleave with it. Set by the
    # insert trigger and by ``settings.change_overlap``; no default on purpose.
    overlap: int
    # Adaptive overlap (migration adapt_overlap, rating/adaptive.py): raters wanted beyond
    # ``overlap`` on each unit, summed over the item's units, as the rule gives them from
    # the judgments (``agreement_rule.unit_target``); moved only under the row's lock, in
    # the transaction that settles a judgment. 0 when the project's adaptive overlap is off.
    raised: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The item is in the project's audit sample (``agreement_rule.in_audit``): with
    # adaptive overlap on, each of its units wants ``overlap_max``.
    audit: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # A random number fixed at import: the "then random" tie-break, served by the index.
    rand: float = Field(default=0.0)


class GoldScore(_Table, table=True):
    """How far one judgment on a gold item agrees with the known answer (0 to 1)."""

    __tablename__ = "gold_score"
    __table_args__ = (sa.Index("ix_gold_score_project_rater", "project_id", "rater_id"),)

    id: int | None = Field(default=None, primary_key=True)
    judgment_id: int = Field(foreign_key="judgment.id", sa_column_kwargs={"unique": True})
    project_id: int = Field(foreign_key="project.id")
    rater_id: int = Field(foreign_key="user.id")
    item_id: int = Field(foreign_key="item.id")
    # None when the gold answer says nothing about what was shown (see gold.py).
    score: float | None = Field(default=None)
    created_at: datetime = _created()


class QualificationOverride(_Table, table=True):
    """An admin's decision that a rater passes (or fails) a project's qualification."""

    __tablename__ = "qualification_override"
    __table_args__ = (sa.UniqueConstraint("project_id", "rater_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    rater_id: int = Field(foreign_key="user.id")
    passed: bool
    admin_id: int | None = Field(default=None, foreign_key="user.id")
    note: str = Field(default="", max_length=2000)
    created_at: datetime = _created()


class QualificationReset(_Table, table=True):
    """An admin's reset of a rater's qualification: earlier gold answers no longer count."""

    __tablename__ = "qualification_reset"
    __table_args__ = (sa.UniqueConstraint("project_id", "rater_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    rater_id: int = Field(foreign_key="user.id")
    # Gold scores of judgments up to this id are history; qualification starts after it.
    after_judgment_id: int = Field(default=0)
    admin_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _created()


class ProjectMember(_Table, table=True):
    """A rater's place in one project, and the project's own view of their expertise.

    A project with no active member is open to every rater (as before memberships);
    once it has one, only its active members get its work. An inactive row (removed)
    shuts that rater out either way. ``expertise`` None: the user's own tags apply.
    """

    __tablename__ = "project_member"
    __table_args__ = (sa.UniqueConstraint("project_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    user_id: int = Field(foreign_key="user.id", index=True)
    active: bool = Field(default=True)
    expertise: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Judge(_Table, table=True):
    """A model that judges a project's items beside its human raters (service/judging/).

    ``config`` is owned by the judging package: endpoint URL, model, prompt template,
    request parameters, concurrency, timeout, attempts, and the *name* of the
    environment variable holding the key, never a key.
    """

    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    name: str = Field(max_length=80)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = Field(default=True)
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _created()
    updated_at: datetime = _created()


class JudgeVerdict(_Table, table=True):
    """One judge's verdict on one item, its responses shown in one order. Append-only.

    Kept apart from ``Judgment``: a model's verdict never fills a human slot, never
    enters a human statistic or export unless asked. ``verdict`` and ``rubric`` have
    ``Judgment``'s shapes (response ids, not labels), so the same statistics read both.
    A pair is judged in both orders: two rows whose ``shown_order`` are reversed.
    ``request_sha256`` hashes the whole request (model, messages, schema, parameters):
    the cache key, so a re-run of an unchanged request costs nothing.
    """

    __tablename__ = "judge_verdict"
    __table_args__ = (
        sa.UniqueConstraint("judge_id", "request_sha256"),
        sa.Index("ix_judge_verdict_item", "item_id", "judge_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    judge_id: int = Field(foreign_key="judge.id")
    shown_order: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    verdict: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rubric: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rationale: str = Field(default="")
    guideline_version: int = Field(default=1)
    # The same rule as a human judgment's (service/rating/shown.py), over the order shown.
    shown_sha256: str = Field(max_length=64)
    request_sha256: str = Field(max_length=64)
    served_model: str = Field(default="", max_length=200)
    usage: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _created()


class JudgeAttempt(_Table, table=True):
    """One call to a judge's endpoint: its outcome, the reason it failed, its tokens.

    A failed attempt (not JSON for the rubric, a timeout, a refusal, an HTTP error) is
    kept with its reason and never becomes a verdict; the runner retries a bounded
    number of times.
    """

    __tablename__ = "judge_attempt"
    __table_args__ = (sa.Index("ix_judge_attempt_judge_item", "judge_id", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    judge_id: int = Field(foreign_key="judge.id")
    item_id: int = Field(foreign_key="item.id")
    shown_order: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    request_sha256: str = Field(max_length=64)
    ok: bool = Field(default=False)
    reason: str = Field(default="")
    tokens: int = Field(default=0)
    verdict_id: int | None = Field(default=None, foreign_key="judge_verdict.id")
    created_at: datetime = _created()


class JudgeRunLease(_Table, table=True):
    """The one judge run of a project that may spend the judges' token budget now.

    Held by a pull run (judging/lease.py): a row per project while a run holds it. A
    holder that is no longer running under the worker that took it (finished, failed,
    handed to another worker) leaves the row free to take.
    """

    __tablename__ = "judge_run_lease"

    project_id: int = Field(
        foreign_key="project.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    judge_id: int = Field(foreign_key="judge.id")
    run_id: int = Field(foreign_key="pull_run.id")
    worker_id: str = Field(max_length=200)
    taken_at: datetime = _created()


# Finds the leases to expire in one project without reading its whole history.
sa.Index(
    "ix_assignment_project_status_expires",
    Assignment.project_id,  # type: ignore[arg-type]
    Assignment.status,  # type: ignore[arg-type]
    Assignment.expires_at,  # type: ignore[arg-type]
)
