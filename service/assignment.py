"""Who rates what: leases on items, exact overlap, no repeats.

Slots taken on an item = submitted assignments + live (unexpired) leases; an item
is handed out only while that is below the project's overlap. On PostgreSQL the
item row is claimed with FOR UPDATE SKIP LOCKED so raters never wait on each
other; on SQLite the whole claim is one short BEGIN IMMEDIATE transaction.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.db import is_sqlite
from service.errors import Conflict, InvalidInput, NotFound
from service.models import Assignment, Item, Project, ProjectStatus, Response, User, utcnow

SKIP_REASONS = ("expertise", "broken", "other")
LABELS = string.ascii_uppercase


@dataclass(frozen=True)
class NoWork:
    """Why a rater has nothing to do right now."""

    reason: str


def _taken(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        Assignment.status == "submitted",
        sa.and_(Assignment.status == "active", Assignment.expires_at > now),
    )


def slots_taken(*, session: Session, item_id: int, exclude: int | None = None) -> int:
    """Count the submitted and live assignments on an item (optionally leaving one out)."""
    query = select(sa.func.count()).select_from(Assignment)
    query = query.where(Assignment.item_id == item_id, _taken(utcnow()))
    if exclude is not None:
        query = query.where(Assignment.id != exclude)
    return session.exec(query).one()


def active_lease(*, session: Session, project: Project, rater: User) -> Assignment | None:
    """Return the rater's live lease in this project, if any."""
    query = select(Assignment).where(
        Assignment.project_id == project.id,
        Assignment.rater_id == rater.id,
        Assignment.status == "active",
        Assignment.expires_at > utcnow(),
    )
    return session.exec(query.order_by(Assignment.id)).first()


def next_assignment(*, session: Session, project: Project, rater: User) -> Assignment | NoWork:
    """Return the rater's current lease, or claim the next item for them."""
    if project.status != ProjectStatus.ACTIVE.value:
        return NoWork(f"Project {project.name!r} is {project.status}.")
    lease = active_lease(session=session, project=project, rater=rater)
    if lease is not None:
        return lease
    now = utcnow()
    taken = (
        select(sa.func.count())
        .select_from(Assignment)
        .where(Assignment.item_id == Item.id, _taken(now))
        .scalar_subquery()
    )
    mine = select(Assignment.id).where(
        Assignment.item_id == Item.id, Assignment.rater_id == rater.id
    )
    order = taken.desc() if project.order_strategy == "complete-first" else taken.asc()
    passed_over: list[int] = []
    while True:
        query = (
            select(Item.id)
            .where(
                Item.project_id == project.id,
                ~Item.is_gold,
                ~sa.exists(mine),
                taken < project.overlap,
                Item.id.not_in(passed_over),
            )
            .order_by(Item.priority.desc(), order, sa.func.random())
            .limit(1)
        )
        if not is_sqlite(session):
            query = query.with_for_update(skip_locked=True, of=Item)
        item_id = session.exec(query).first()
        if item_id is None:
            return NoWork("No items left for you in this project. Thank you!")
        # The candidate list was read before we held the row lock; count again under it,
        # since a rater who held the lock a moment ago may have just taken the last slot.
        if slots_taken(session=session, item_id=item_id) < project.overlap:
            return _lease(session, project, rater, item_id, now)
        passed_over.append(item_id)


def _lease(
    session: Session, project: Project, rater: User, item_id: int, now: datetime
) -> Assignment:
    ids = list(
        session.exec(
            select(Response.external_id)
            .where(Response.item_id == item_id)
            .order_by(Response.position)
        )
    )
    rng = random.Random()
    shown = rng.sample(ids, 2) if project.mode == "pairwise" else rng.sample(ids, len(ids))
    lease = Assignment(
        project_id=project.id,
        item_id=item_id,
        rater_id=rater.id,
        shown_order=shown,
        expires_at=now + timedelta(minutes=project.lease_minutes),
    )
    session.add(lease)
    session.flush()
    return lease


def get_assignment(*, session: Session, assignment_id: int, rater: User) -> Assignment:
    """Return one of the rater's own assignments; others' are reported as absent."""
    lease = session.get(Assignment, assignment_id)
    if lease is None or lease.rater_id != rater.id:
        raise NotFound(f"No assignment {assignment_id} of yours.")
    return lease


def lock_assignment(*, session: Session, assignment_id: int, rater: User) -> Assignment:
    """Return the rater's assignment, row-locked until the transaction ends."""
    query = select(Assignment).where(Assignment.id == assignment_id)
    if not is_sqlite(session):
        query = query.with_for_update()
    lease = session.exec(query.execution_options(populate_existing=True)).first()
    if lease is None or lease.rater_id != rater.id:
        raise NotFound(f"No assignment {assignment_id} of yours.")
    return lease


def renew(*, session: Session, lease: Assignment, project: Project) -> Assignment:
    """Extend a live lease while the rater is still working on it."""
    if lease.status != "active":
        raise Conflict(f"This assignment is {lease.status}; it cannot be renewed.")
    if (
        lease.expires_at <= utcnow()
        and slots_taken(session=session, item_id=lease.item_id, exclude=lease.id) >= project.overlap
    ):
        raise Conflict("Your lease expired and the item went to another rater.")
    lease.expires_at = utcnow() + timedelta(minutes=project.lease_minutes)
    session.add(lease)
    session.flush()
    return lease


def skip(*, session: Session, lease: Assignment, reason: str, note: str = "") -> Assignment:
    """Give an item back with a reason; it returns to the pool for other raters."""
    if reason not in SKIP_REASONS:
        raise InvalidInput(
            f"Unknown skip reason {reason!r}.",
            errors=[{"field": "reason", "message": f"use one of {', '.join(SKIP_REASONS)}"}],
        )
    if reason == "other" and not note.strip():
        raise InvalidInput(
            "Say why you skip.", errors=[{"field": "note", "message": "required for 'other'"}]
        )
    if lease.status != "active":
        raise Conflict(f"This assignment is already {lease.status}.")
    lease.status = "skipped"
    lease.skip_reason = reason
    lease.skip_note = note.strip()[:2000] or None
    lease.finished_at = utcnow()
    session.add(lease)
    session.flush()
    return lease


def claim_for_submission(*, session: Session, lease: Assignment, project: Project) -> None:
    """Check a lease may take a judgment: live, or expired with its slot still free."""
    if lease.status == "submitted":
        raise Conflict("This item is already submitted; use revise to change your judgment.")
    if lease.status != "active":
        raise Conflict(f"This assignment was {lease.status}; your draft is kept in the browser.")
    if lease.expires_at <= utcnow():
        if not is_sqlite(session):
            session.exec(select(Item.id).where(Item.id == lease.item_id).with_for_update())
        if slots_taken(session=session, item_id=lease.item_id, exclude=lease.id) >= project.overlap:
            raise Conflict(
                "Your lease expired and another rater took this item; your draft is kept."
            )


def describe(*, session: Session, lease: Assignment) -> dict[str, Any]:
    """Return what the rater sees for a lease: the prompt and responses by label only."""
    item = session.get(Item, lease.item_id)
    project = session.get(Project, lease.project_id)
    by_id = {
        r.external_id: r for r in session.exec(select(Response).where(Response.item_id == item.id))
    }
    return {
        "id": lease.id,
        "project": project.slug,
        "mode": project.mode,
        "scale": project.scale,
        "status": lease.status,
        "expires_at": lease.expires_at.isoformat(),
        "guideline_version": project.guideline_version,
        "prompt": item.prompt,
        "messages": item.messages,
        # Model names and response ids never reach the rater: only position labels.
        "responses": [
            {"label": LABELS[i], "content": by_id[rid].content}
            for i, rid in enumerate(lease.shown_order)
        ],
        "rubric": project.rubric,
    }
