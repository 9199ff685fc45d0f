"""Read what an export needs: current judgments grouped by item, streamed in constant memory.

Judgments come from one server-side cursor ordered by item; the items and responses
of each batch are fetched with one query each. No ORM objects are built per row.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import chain, groupby
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.models import Adjudication, Item, ItemSlots, Judgment, Response, User
from service.rating import current
from service.stored_json import Unreadable, strict_loads

BATCH = 4000


class FastJSON(sa.types.TypeDecorator):
    """Read a JSON column as text and parse it with orjson: one C call per value.

    A value orjson refuses reads as ``Unreadable`` instead of stopping the whole read.
    """

    impl = sa.Text
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return _load_json


def _load_json(text: str) -> Any:
    # Most nullable JSON columns (messages, tools, tool_turns) hold null: no parser call.
    return None if text == "null" else strict_loads(text)


class FastTime(sa.types.TypeDecorator):
    """Read a timestamp as an aware UTC datetime, cheaply.

    SQLite stores naive UTC text: C ``fromisoformat`` on it with an offset appended is
    several times faster than SQLAlchemy's regex parser plus ``.replace(tzinfo=)``.
    PostgreSQL's driver returns aware datetimes, moved to UTC here whatever the
    server's time zone.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            parse = datetime.fromisoformat

            def from_text(value: str | None) -> datetime | None:
                return None if value is None else parse(value + "+00:00")

            return from_text

        def to_utc(value: datetime | None) -> datetime | None:
            return None if value is None else value.astimezone(UTC)

        return to_utc


def _time(column: Any) -> Any:
    return sa.type_coerce(column, FastTime()).label(column.key)


def _json(column: Any) -> Any:
    text = sa.func.coalesce(sa.cast(column, sa.Text), "null")  # SQL NULL reads as JSON null
    return sa.type_coerce(text, FastJSON()).label(column.key)


@dataclass(slots=True)
class ItemData:
    """One item with its responses, as the rules and row builders need it."""

    id: int
    external_id: str
    project_id: int
    prompt: str | None
    messages: list[dict[str, Any]] | None
    tags: list[str]
    is_gold: bool
    # external id -> (model, content), in the item's response order
    responses: dict[str, tuple[str, str]]
    # An admin's final verdict as a ranking (best group first), which consensus obeys.
    adjudicated: list[list[str]] | None = None
    # The item's slot row: raters beyond ``overlap`` its units want under adaptive
    # overlap (summed over the units), and whether it is in the audit sample.
    raised: int = 0
    audit: bool = False
    # Tool use (items/tool_calls.py): the item's function definitions, and each
    # tool-using response's turns before its text, by external id.
    tools: list[dict[str, Any]] | None = None
    tool_turns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(slots=True)
class RaterData:
    """A rater as exports show them: a pseudonym (or username) and expertise."""

    id: int
    name: str
    username: str
    expertise: list[str]


_CORE = (
    Judgment.id,
    Judgment.item_id,
    Judgment.rater_id,
    Judgment.mode,
    _json(Judgment.shown_order),
    _json(Judgment.verdict),
    Judgment.both_bad,
    _time(Judgment.created_at),
    Judgment.guideline_version,
    Judgment.shown_sha256,
)
_FULL = (
    _json(Judgment.rubric),
    _json(Judgment.flags),
    Judgment.rationale,
    Judgment.confidence,
    Judgment.active_ms,
    _time(Judgment.started_at),
    Judgment.is_gold,
    Judgment.version,
    Judgment.supersedes_id,
    Judgment.client_id,
    _json(Judgment.spans),
    Judgment.rewrite_response_id,
    Judgment.rewrite_text,
    Judgment.rewrite_original_sha256,
)


# Plain named tuples: attribute access on SQLAlchemy rows costs several times more, and
# the rules read a dozen attributes per judgment. Keyed by ``full``.
_ROW_TYPES = {
    False: namedtuple("JudgmentRow", [c.key for c in _CORE]),  # type: ignore[misc]
    True: namedtuple("FullJudgmentRow", [c.key for c in _CORE + _FULL]),  # type: ignore[misc]
}
_JSON_FIELDS = ("shown_order", "verdict", "rubric", "flags", "spans")
# Each row type's JSON fields, as a tuple (both types have two at least: shown_order, verdict).
_JSON_VALUES = {
    row: attrgetter(*[name for name in _JSON_FIELDS if name in row._fields])
    for row in _ROW_TYPES.values()
}


def unreadable_fields(judgment: Any) -> list[tuple[str, str]]:
    """Return (field, reason) for each JSON field of a judgment row that could not be read."""
    return [
        (name, value.reason)
        for name in _JSON_FIELDS
        if isinstance(value := getattr(judgment, name, None), Unreadable)
    ]


def all_readable(judgments: list[Any]) -> bool:
    """Tell whether every JSON field of these judgment rows (of one ``item_groups``) was read.

    One C-level pass over the group's JSON values: an export asks this of every item, and
    ``unreadable_fields`` names the fields only when it says no.
    """
    if not judgments:
        return True
    values = _JSON_VALUES[type(judgments[0])]
    return Unreadable not in map(type, chain.from_iterable(map(values, judgments)))


def current_judgments(project_ids: Sequence[int]) -> sa.Select:
    """Select the current judgments of the projects: those no later judgment supersedes."""
    return current.current_judgments().where(Judgment.project_id.in_(project_ids))


def count_judgments(session: Session, project_ids: Sequence[int]) -> int:
    """Count the current judgments of the projects (for progress bars)."""
    query = current_judgments(project_ids).with_only_columns(sa.func.count(Judgment.id))
    return int(session.execute(query).scalar_one())


def any_judgments(session: Session, project_ids: Sequence[int]) -> bool:
    """Tell whether the projects have a current judgment (counting 1M takes 0.3 s)."""
    query = current_judgments(project_ids).with_only_columns(Judgment.id).limit(1)
    return session.execute(query).first() is not None


def has_conversations(session: Session, project_ids: Sequence[int]) -> bool:
    """Tell whether any item of the projects is a conversation (no plain-text prompt)."""
    query = sa.select(Item.id).where(Item.project_id.in_(project_ids), Item.prompt.is_(None))
    return session.execute(query.limit(1)).first() is not None


def uses_tools(session: Session, project_ids: Sequence[int]) -> bool:
    """Tell whether any item of the projects has tools, tool turns or a tool-using answer."""
    in_projects = Item.project_id.in_(project_ids)
    # A stored conversation with a tool turn has the key "tool_call_id" (as a key: inside
    # a text its quotes would be escaped); on both backends' JSON text.
    tool_turn = sa.cast(Item.messages, sa.Text).like('%"tool_call_id"%')
    items = sa.select(Item.id).where(in_projects, sa.or_(_given(Item.tools), tool_turn))
    answers = (
        sa.select(Response.id)
        .join(Item, Item.id == Response.item_id)
        .where(in_projects, _given(Response.tool_turns))
    )
    return any(session.execute(q.limit(1)).first() for q in (items, answers))


def _given(column: Any) -> Any:
    """A JSON column holds a value: neither SQL NULL nor JSON null (as None is written)."""
    return sa.func.coalesce(sa.cast(column, sa.Text), "null") != "null"


def raters(session: Session) -> dict[int, tuple[str, list[str]]]:
    """Return every user id with their username and expertise."""
    rows = session.execute(sa.select(User.id, User.username, User.expertise))
    return {uid: (name, list(expertise or [])) for uid, name, expertise in rows}


def gold_judgments(session: Session, project_ids: Sequence[int]) -> Iterator[sa.Row]:
    """Yield (project_id, rater_id, mode, shown_order, verdict, rubric, gold) for gold items."""
    query = (
        current_judgments(project_ids)
        .with_only_columns(
            Judgment.project_id,
            Judgment.rater_id,
            Judgment.mode,
            Judgment.shown_order,
            Judgment.verdict,
            Judgment.rubric,
            Item.gold,
        )
        .join(Item, Item.id == Judgment.item_id)
        .where(Item.is_gold.is_(True))
    )
    yield from session.execute(query)


def item_groups(
    session: Session, project_ids: Sequence[int], *, full: bool, exclude_gold: bool
) -> Iterator[tuple[ItemData, list[Any]]]:
    """Yield each item with its current judgments (oldest first), items in id order.

    ``full`` also reads rubric, flags, rationale and the other columns only some
    formats need.
    """
    columns = _CORE + _FULL if full else _CORE
    query = (
        current_judgments(project_ids)
        .with_only_columns(*columns)
        .order_by(Judgment.item_id, Judgment.id)
    )
    if exclude_gold:
        gold_ids = sa.select(Item.id).where(
            Item.project_id.in_(project_ids), Item.is_gold.is_(True)
        )
        query = query.where(Judgment.item_id.not_in(gold_ids))
    # Core on the session's connection: the ORM layer would only add per-row overhead.
    conn = session.connection()
    result = conn.execute(query, execution_options={"yield_per": BATCH})
    # tuple.__new__ in C: ``_make`` would add a Python call (and a length check) per row.
    make = partial(tuple.__new__, _ROW_TYPES[full])
    pending: list[Any] = []
    items: dict[int, ItemData] = {}
    # The SQLAlchemy rows of a batch are dropped as soon as they are named tuples: fewer
    # live objects for the cycle collector to walk each time the export hands out a chunk.
    while made := list(map(make, result.fetchmany(BATCH))):
        items.update(_load_items(conn, {row.item_id for row in made} - items.keys()))
        rows = pending + made
        # The last item of a batch may continue in the next one: keep it pending.
        cut = len(rows)
        while cut > 0 and rows[cut - 1].item_id == rows[-1].item_id:
            cut -= 1
        for item_id, group in groupby(rows[:cut], key=attrgetter("item_id")):
            yield items.pop(item_id), list(group)
        pending = rows[cut:]
    if pending:
        yield items.pop(pending[0].item_id), pending


# The queries of one batch's items, built once: an id range is cheaper than a long IN
# list (rows outside the batch's ids are skipped), and a statement built once is
# compiled and cache-keyed once per export, not once per batch.
_LOW, _HIGH = sa.bindparam("low"), sa.bindparam("high")
_SLOTS_C = ItemSlots.__table__.c
_ITEMS = sa.select(
    Item.id,
    Item.external_id,
    Item.project_id,
    Item.prompt,
    _json(Item.messages),
    _json(Item.tags),
    Item.is_gold,
    _json(Item.tools),
).where(Item.id.between(_LOW, _HIGH))
_SLOTS = sa.select(_SLOTS_C.item_id, _SLOTS_C.raised, _SLOTS_C.audit).where(
    _SLOTS_C.item_id.between(_LOW, _HIGH), sa.or_(_SLOTS_C.raised > 0, _SLOTS_C.audit)
)
_RESPONSES = (
    sa.select(
        Response.item_id,
        Response.external_id,
        Response.model,
        Response.content,
        _json(Response.tool_turns),
    )
    .where(Response.item_id.between(_LOW, _HIGH))
    .order_by(Response.item_id, Response.position, Response.id)
)
_ADJUDICATIONS = (
    sa.select(Adjudication.item_id, _json(Adjudication.verdict))
    .where(Adjudication.item_id.between(_LOW, _HIGH))
    .order_by(Adjudication.id)
)


def _load_items(conn: sa.Connection, ids: set[int]) -> dict[int, ItemData]:
    if not ids:
        return {}
    bounds = {"low": min(ids), "high": max(ids)}
    items: dict[int, ItemData] = {}
    for item_id, ext, project_id, prompt, messages, tags, is_gold, tools in conn.execute(
        _ITEMS, bounds
    ).all():
        if item_id in ids:
            items[item_id] = ItemData(
                item_id,
                ext,
                project_id,
                prompt,
                messages if prompt is None else None,
                tags or [],
                is_gold,
                {},
                tools=tools,
            )
    for item_id, raised, audit in conn.execute(_SLOTS, bounds):
        item = items.get(item_id)
        if item is not None:
            item.raised, item.audit = raised, bool(audit)
    for item_id, ext, model, content, turns in conn.execute(_RESPONSES, bounds).all():
        item = items.get(item_id)
        if item is not None:
            item.responses[ext] = (model, content)
            if turns is not None:
                item.tool_turns[ext] = turns
    # The latest adjudication of an item wins.
    for item_id, verdict in conn.execute(_ADJUDICATIONS, bounds).all():
        item = items.get(item_id)
        if item is not None:
            item.adjudicated = adjudicated_ranking(verdict, list(item.responses))
    return items


def adjudicated_ranking(verdict: dict[str, Any], response_ids: list[str]) -> list[list[str]]:
    """Turn an adjudication (``{"preferred": id|None}`` or ``{"ranking": ...}``) into a ranking.

    A preferred response ranks above all the others, tied; ``None`` ties every response.
    """
    if verdict.get("ranking"):
        return [list(group) for group in verdict["ranking"]]
    best = verdict.get("preferred")
    if best is None or best not in response_ids:
        return [list(response_ids)]
    return [[best], [r for r in response_ids if r != best]]
