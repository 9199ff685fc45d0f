"""Who may rate a project: its members, or every rater while it has none.

A project with no active member is open to every rater, so a deployment that never
uses memberships behaves as before. Adding a first member closes it to the others.
A removed member (an inactive row) is shut out either way, so "remove from project"
works on open projects too. A membership may carry the project's own expertise tags
for the rater; without them the user's own tags route items.

Membership only decides whom ``next item`` serves; it never touches the item_slots
counters, so exact overlap holds (removing a rater ends their leases through
``slots.end_leases``, the one way a lease ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.models import ProjectMember, User

MEMBERS = ProjectMember.__table__


def may_rate(project_id: Any, user_id: Any) -> sa.ColumnElement[bool]:
    """Return SQL that holds when the user may get the project's work (the one rule)."""
    mine = sa.and_(MEMBERS.c.project_id == project_id, MEMBERS.c.user_id == user_id)
    removed = sa.exists().where(mine, sa.not_(MEMBERS.c.active))
    member = sa.exists().where(mine, MEMBERS.c.active)
    closed = sa.exists().where(MEMBERS.c.project_id == project_id, MEMBERS.c.active)
    return sa.and_(sa.not_(removed), sa.or_(member, sa.not_(closed)))


def standing_columns(project_id: Any, user_id: Any) -> tuple[sa.Label[Any], ...]:
    """Return the columns ``standing_of`` reads, to ride along in a caller's query.

    Both go through the (project_id, user_id) unique index; "next item" adds them to the
    query it already makes for the rater's leases, so the team check costs no round trip.
    """
    return (
        may_rate(project_id, user_id).label("allowed"),
        sa.select(MEMBERS.c.expertise)
        .where(MEMBERS.c.project_id == project_id, MEMBERS.c.user_id == user_id)
        .scalar_subquery()
        .label("member_expertise"),
    )


_STANDING = sa.select(*standing_columns(sa.bindparam("project_id"), sa.bindparam("rater_id")))


@dataclass(frozen=True)
class Standing:
    """Whether a rater may work on a project, and the expertise tags that route them."""

    allowed: bool
    expertise: list[str]


def standing(*, session: Session, project_id: int, rater: User) -> Standing:
    """Return whether ``rater`` may rate the project and with which expertise tags."""
    row = session.execute(_STANDING, {"project_id": project_id, "rater_id": rater.id}).one()
    return standing_of(row, rater)


def standing_of(row: Any, rater: User) -> Standing:
    """Read a rater's standing from a row with the ``standing_columns``."""
    tags = row.member_expertise if row.member_expertise is not None else rater.expertise
    return Standing(allowed=bool(row.allowed), expertise=list(tags))
