"""A lease's life after it is handed out: renew, submit, skip, and an admin's release or move.

Lease states: "active" (holds a slot; past ``expires_at`` it still does until the
sweep in ``slots.sweep_expired`` marks it "expired" and frees the slot), "submitted",
"skipped", "released" (by an admin, or moved to another rater) and "expired". A
rater's work on an expired lease is still accepted, and a renewal honoured, when the
slot is free again; otherwise they are refused with a clear message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import slots
from service.db import is_sqlite
from service.errors import Conflict, InvalidInput, NotFound
from service.models import (
    PROJECT_WORK_COLUMNS,
    Assignment,
    AuditEvent,
    Item,
    Project,
    User,
    adopt,
    utcnow,
)

SKIP_REASONS = ("expertise", "broken", "other")
# First key of PostgreSQL advisory locks taken per rater (the second is the rater id):
# a rater's requests for work run one at a time (see assignment.lock_rater).
RATER_LOCK_SPACE = 0x5261
LOCK_RATER = sa.func.pg_advisory_xact_lock(
    RATER_LOCK_SPACE, sa.bindparam("rater_id", type_=sa.Integer)
)
# Built once: building a statement costs more than running it (see slots.py).
_LEASE = (
    select(Assignment)
    .where(Assignment.id == sa.bindparam("b_id"))
    .execution_options(populate_existing=True)
)
_LEASE_PG = _LEASE.with_for_update()
# A submission needs the lease's project too: one round trip for both, in Core (an ORM
# load of two entities costs more than the statement; see models.adopt).
_LEASE_KEYS = [c.key for c in Assignment.__table__.c]
_PROJECT_KEYS = [c.key for c in PROJECT_WORK_COLUMNS]
_LEASE_PROJECT = (
    sa.select(*Assignment.__table__.c, *PROJECT_WORK_COLUMNS)
    .join_from(Assignment.__table__, Project.__table__)
    .where(Assignment.__table__.c.id == sa.bindparam("b_id"))
)
_LEASE_PROJECT_PG = _LEASE_PROJECT.with_for_update(of=Assignment.__table__)
# The same, taking the rater's lock first: an uncorrelated EXISTS is a one-time filter
# that PostgreSQL evaluates before the first row reaches the row lock, so the locks come
# in the order "next item" takes them (rater, then rows), in one round trip.
_LEASE_PROJECT_PG_RATER = _LEASE_PROJECT_PG.where(sa.exists(sa.select(LOCK_RATER)))


def audit(
    *, session: Session, actor: User | None, action: str, target: str, details: dict[str, Any]
) -> None:
    """Append an audit event (until service/audit.py exists to own this)."""
    session.add(
        AuditEvent(
            actor_id=actor.id if actor else None, action=action, target=target, details=details
        )
    )


def get_assignment(*, session: Session, assignment_id: int, rater: User) -> Assignment:
    """Return one of the rater's own assignments; others' are reported as absent."""
    lease = session.get(Assignment, assignment_id)
    if lease is None or lease.rater_id != rater.id:
        raise NotFound(f"No assignment {assignment_id} of yours.")
    return lease


def _own(lease: Assignment | None, assignment_id: int, rater: User | None) -> Assignment:
    if lease is None or (rater is not None and lease.rater_id != rater.id):
        raise NotFound(f"No assignment {assignment_id}" + (" of yours." if rater else "."))
    return lease


def lock_assignment(*, session: Session, assignment_id: int, rater: User | None) -> Assignment:
    """Return the rater's assignment (any, for rater None), row-locked until commit."""
    query = _LEASE if is_sqlite(session) else _LEASE_PG
    lease = session.execute(query, {"b_id": assignment_id}).scalars().first()
    return _own(lease, assignment_id, rater)


def with_project(
    *, session: Session, assignment_id: int, rater: User
) -> tuple[Assignment, Project]:
    """Return the rater's assignment and its project, read without a lock."""
    return _lease_and_project(session, _LEASE_PROJECT, {"b_id": assignment_id}, rater)


def lock_with_project(
    *, session: Session, assignment_id: int, rater: User, lock_rater: bool = False
) -> tuple[Assignment, Project]:
    """Return the rater's assignment, row-locked until commit, and its project.

    ``lock_rater``: take the rater's lock too (before the row's), as "next item" does.
    """
    params = {"b_id": assignment_id}
    if is_sqlite(session):
        query = _LEASE_PROJECT
    elif lock_rater:
        query, params["rater_id"] = _LEASE_PROJECT_PG_RATER, rater.id
    else:
        query = _LEASE_PROJECT_PG
    return _lease_and_project(session, query, params, rater)


def _lease_and_project(
    session: Session, query: sa.Select, params: dict[str, Any], rater: User
) -> tuple[Assignment, Project]:
    row = session.execute(query, params).first()
    n = len(_LEASE_KEYS)
    values = dict(zip(_LEASE_KEYS, row[:n], strict=True)) if row else None
    if values is None or values["rater_id"] != rater.id:
        raise NotFound(f"No assignment {params['b_id']} of yours.")
    project = adopt(session, Project, dict(zip(_PROJECT_KEYS, row[n:], strict=True)))
    return adopt(session, Assignment, values), project


def _retake(session: Session, lease: Assignment, project: Project, refusal: str) -> None:
    """Give an expired lease its slot back if nobody took it meanwhile, else refuse."""
    counters = slots.lock(session=session, item_id=lease.item_id)
    if not slots.room_for(session=session, project=project, counters=counters, lease=lease):
        raise Conflict(refusal)
    slots.change(session=session, item_id=lease.item_id, overlap=project.overlap, taken=1)
    lease.status = "active"
    session.flush()  # a submission's insert checks the row is active (judgments._store)


def renew(*, session: Session, lease: Assignment, project: Project) -> Assignment:
    """Extend a lease while the rater is still working on it."""
    if lease.status == "expired":
        _retake(session, lease, project, "Your lease expired and the item went to another rater.")
    elif lease.status != "active":
        raise Conflict(f"This assignment is {lease.status}; it cannot be renewed.")
    lease.expires_at = utcnow() + timedelta(minutes=project.lease_minutes)
    session.add(lease)
    session.flush()
    return lease


def claim_for_submission(*, session: Session, lease: Assignment, project: Project) -> None:
    """Check a lease may take a judgment: live, or expired with its slot still free.

    An expired lease whose slot is free takes it back (and becomes active again); one
    whose slot another rater took is refused. The lease must be locked
    (``lock_assignment``); the caller marks it submitted.
    """
    if lease.status == "submitted":
        raise Conflict("This item is already submitted; use revise to change your judgment.")
    if lease.status == "expired":
        _retake(
            session,
            lease,
            project,
            "Your lease expired and another rater took this item; your draft is kept.",
        )
    elif lease.status != "active":
        raise Conflict(f"This assignment was {lease.status}; your draft is kept in the browser.")


def skip(*, session: Session, lease: Assignment, reason: str, note: str = "") -> Assignment:
    """Give an item back with a reason; flag it once enough raters have skipped it."""
    if reason not in SKIP_REASONS:
        raise InvalidInput(
            f"Unknown skip reason {reason!r}.",
            errors=[{"field": "reason", "message": f"use one of {', '.join(SKIP_REASONS)}"}],
        )
    if reason == "other" and not note.strip():
        raise InvalidInput(
            "Say why you skip.", errors=[{"field": "note", "message": "required for 'other'"}]
        )
    if lease.status not in ("active", "expired"):
        raise Conflict(f"This assignment is already {lease.status}.")
    project = session.get(Project, lease.project_id)
    # An expired lease already gave its slot back when it was swept.
    freed = -1 if lease.status == "active" else 0
    _, skips = slots.change(
        session=session, item_id=lease.item_id, overlap=project.overlap, taken=freed, skips=1
    )
    lease.status = "skipped"
    lease.skip_reason = reason
    lease.skip_note = note.strip()[:2000] or None
    lease.finished_at = utcnow()
    session.add(lease)
    if skips >= project.skip_flag_threshold:
        flagged = session.execute(
            sa.update(Item)
            .where(Item.id == lease.item_id, ~Item.flagged)
            .values(flagged=True, updated_at=utcnow())
        ).rowcount
        if flagged:
            audit(
                session=session,
                actor=None,
                action="item.flag",
                target=f"item:{lease.item_id}",
                details={"skips": skips, "threshold": project.skip_flag_threshold},
            )
    session.flush()
    return lease


def release(*, session: Session, lease: Assignment, admin: User) -> Assignment:
    """End an active lease so its slot returns to the pool (the rater keeps no claim)."""
    if lease.status != "active":
        raise Conflict(f"Only an active lease can be released; this one is {lease.status}.")
    project = session.get(Project, lease.project_id)
    slots.change(session=session, item_id=lease.item_id, overlap=project.overlap, taken=-1)
    lease.status, lease.finished_at = "released", utcnow()
    session.add(lease)
    audit(
        session=session,
        actor=admin,
        action="lease.release",
        target=f"assignment:{lease.id}",
        details={"item_id": lease.item_id, "rater_id": lease.rater_id},
    )
    session.flush()
    return lease


def reassign(*, session: Session, lease: Assignment, rater: User, admin: User) -> Assignment:
    """Move an active lease to another rater: same item, same display order, a fresh term."""
    if lease.status != "active":
        raise Conflict(f"Only an active lease can be reassigned; this one is {lease.status}.")
    if not rater.active or rater.role not in ("rater", "admin"):
        raise InvalidInput(
            f"{rater.username!r} cannot rate.",
            errors=[{"field": "rater", "message": "an active rater or admin"}],
        )
    slots.lock(session=session, item_id=lease.item_id)
    seen = session.exec(
        select(Assignment.id).where(
            Assignment.item_id == lease.item_id, Assignment.rater_id == rater.id
        )
    ).first()
    if seen is not None:
        raise Conflict(f"{rater.username!r} already had this item; a rater sees an item once.")
    project = session.get(Project, lease.project_id)
    now = utcnow()
    lease.status, lease.finished_at = "released", now
    session.add(lease)
    moved = Assignment(
        project_id=lease.project_id,
        item_id=lease.item_id,
        rater_id=rater.id,
        is_gold=lease.is_gold,
        shown_order=list(lease.shown_order),
        created_at=now,
        expires_at=now + timedelta(minutes=project.lease_minutes),
    )
    session.add(moved)
    session.flush()
    audit(
        session=session,
        actor=admin,
        action="lease.reassign",
        target=f"assignment:{lease.id}",
        details={"item_id": lease.item_id, "from": lease.rater_id, "to": rater.id, "new": moved.id},
    )
    session.flush()
    return moved
