"""Read what an export needs: current judgments grouped by item, streamed in constant memory.

Judgments come from one server-side cursor ordered by item; the items and responses
of each batch are fetched with one query each. No ORM objects are built per row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.models import Item, Judgment, Response, User

BATCH = 4000


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
    gold: dict[str, Any] | None
    # external id -> (model, content), in the item's response order
    responses: dict[str, tuple[str, str]]


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
    Judgment.shown_order,
    Judgment.verdict,
    Judgment.both_bad,
    Judgment.created_at,
    Judgment.guideline_version,
)
_FULL = (
    Judgment.rubric,
    Judgment.flags,
    Judgment.rationale,
    Judgment.confidence,
    Judgment.active_ms,
    Judgment.started_at,
    Judgment.is_gold,
    Judgment.version,
    Judgment.supersedes_id,
    Judgment.client_id,
)


def current_judgments(project_ids: Sequence[int]) -> sa.Select:
    """Select the current judgments of the projects: those no later judgment supersedes."""
    later = sa.orm.aliased(Judgment)
    superseded = sa.exists().where(later.supersedes_id == Judgment.id)
    return sa.select(Judgment).where(Judgment.project_id.in_(project_ids), ~superseded)


def count_judgments(session: Session, project_ids: Sequence[int]) -> int:
    """Count the current judgments of the projects (for progress bars)."""
    query = current_judgments(project_ids).with_only_columns(sa.func.count(Judgment.id))
    return int(session.execute(query).scalar_one())


def has_conversations(session: Session, project_ids: Sequence[int]) -> bool:
    """Tell whether any item of the projects is a conversation (no plain-text prompt)."""
    query = sa.select(Item.id).where(Item.project_id.in_(project_ids), Item.prompt.is_(None))
    return session.execute(query.limit(1)).first() is not None


def raters(session: Session) -> dict[int, tuple[str, list[str]]]:
    """Return every user id with their username and expertise."""
    rows = session.execute(sa.select(User.id, User.username, User.expertise))
    return {uid: (name, list(expertise or [])) for uid, name, expertise in rows}


def gold_judgments(session: Session, project_ids: Sequence[int]) -> Iterator[sa.Row]:
    """Yield (rater_id, mode, shown_order, verdict, rubric, gold) for judgments of gold items."""
    query = (
        current_judgments(project_ids)
        .with_only_columns(
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
) -> Iterator[tuple[ItemData, list[sa.Row]]]:
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
    result = session.execute(query, execution_options={"yield_per": BATCH})
    pending: list[sa.Row] = []
    items: dict[int, ItemData] = {}
    for batch in result.partitions():
        items.update(_load_items(session, {row.item_id for row in batch} - items.keys()))
        rows = pending + list(batch)
        # The last item of a batch may continue in the next one: keep it pending.
        cut = len(rows)
        while cut > 0 and rows[cut - 1].item_id == rows[-1].item_id:
            cut -= 1
        for item_id, group in groupby(rows[:cut], key=attrgetter("item_id")):
            yield items.pop(item_id), list(group)
        pending = rows[cut:]
    if pending:
        yield items.pop(pending[0].item_id), pending


def _load_items(session: Session, ids: set[int]) -> dict[int, ItemData]:
    if not ids:
        return {}
    ordered = sorted(ids)
    items = {
        row.id: ItemData(
            id=row.id,
            external_id=row.external_id,
            project_id=row.project_id,
            prompt=row.prompt,
            messages=row.messages if row.prompt is None else None,
            tags=row.tags or [],
            is_gold=row.is_gold,
            gold=row.gold,
            responses={},
        )
        for row in session.execute(
            sa.select(
                Item.id,
                Item.external_id,
                Item.project_id,
                Item.prompt,
                Item.messages,
                Item.tags,
                Item.is_gold,
                Item.gold,
            ).where(Item.id.in_(ordered))
        )
    }
    responses = session.execute(
        sa.select(Response.item_id, Response.external_id, Response.model, Response.content)
        .where(Response.item_id.in_(ordered))
        .order_by(Response.item_id, Response.position, Response.id)
    )
    for item_id, ext, model, content in responses:
        items[item_id].responses[ext] = (model, content)
    return items
