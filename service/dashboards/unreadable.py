"""Find the stored judgments a report cannot read, so it can leave them out and name them.

Reports pull numbers out of JSON in SQL. A legacy value no standard reader accepts
(``NaN``, ``Infinity``, ``1e400``; see ``service.stored_json``) either fails the whole
query (SQLite: "malformed JSON"; PostgreSQL: a cast out of range) or reads as infinity.
Only then is every current judgment's JSON read again, strictly, to find the culprits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.conditions import current_judgment_filter
from service.dashboards.filters import Filters
from service.db import is_sqlite
from service.models import Item, Judgment, Project
from service.stored_json import Unreadable, strict_loads

T = TypeVar("T")
FIELDS = ("shown_order", "verdict", "rubric")


def attempt(session: Session, query: Callable[[], T]) -> T | None:
    """Run ``query``; None when the database cannot read a stored value it needs.

    On PostgreSQL the attempt runs in a savepoint, so that the failure leaves the
    report's transaction usable; a failed SELECT leaves SQLite's as it was.
    """
    try:
        if is_sqlite(session):
            return query()
        with session.begin_nested():
            return query()
    except sa.exc.DBAPIError:
        return None


def unreadable_judgments(
    *, session: Session, project: Project, filters: Filters
) -> list[dict[str, Any]]:
    """Return ``{judgment_id, field, reason}`` for every current judgment with unreadable JSON."""
    texts = [sa.cast(getattr(Judgment, name), sa.Text) for name in FIELDS]
    query = (
        sa.select(Judgment.id, *texts)
        .join(Item, Item.id == Judgment.item_id)
        .where(Judgment.project_id == project.id, *current_judgment_filter(filters))
        .order_by(Judgment.id)
    )
    found = []
    for judgment_id, *values in session.connection().execute(query):
        for name, text in zip(FIELDS, values, strict=True):
            value = strict_loads(text) if text is not None else None
            if isinstance(value, Unreadable):
                found.append({"judgment_id": judgment_id, "field": name, "reason": value.reason})
    return found
