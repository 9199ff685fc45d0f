"""A lease's life after it is handed out: renew, submit, skip, and an admin's release or move.

Its states are ``models.LeaseStatus``. A rater's work on an expired lease is still accepted, and a renewal honoured, when the
slot is free again; otherwise they are refused with a clear message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import audit
from service.db import is_sqlite
from service.errors import Conflict, InvalidInput, NotFound
from service.models import (
    PROJECT_WORK_COLUMNS,
    Assignment,
    AuditEvent,
    Item,
    LeaseStatus,
    Project,
    User,
    adopt,
    utcnow,
)
from service.rating import adaptive, slots

SKIP_REASONS = ("expertise", "broken", "other")
# Why ``end_item_leases`` ended a lease when an import replaced its item's content: the
# audit event's reason, which is how a rater's later request learns why (``content_changed``).
CONTENT_UPDATED = "content updated by import batch {batch}"
CONTENT_CHANGED = (
    "An admin changed this item's content after it was shown to you, so this assignment ended"
)
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


def _lease_and_project_query(*extra: sa.ColumnElement[Any]) -> sa.Select:
    return (
        sa.select(*Assignment.__table__.c, *PROJECT_WORK_COLUMNS, *extra)
        .join_from(Assignment.__table__, Project.__table__)
        .where(Assignment.__table__.c.id == sa.bindparam("b_id"))
    )


_LEASE_PROJECT = _lease_and_project_query()
_LEASE_PROJECT_PG = _LEASE_PROJECT.with_for_update(of=Assignment.__table__)
# The same, taking the rater's lock first. The lock call sits in the select list, which
# the scan below the row lock computes, so the locks come in the order "next item" takes
# them (rater, then rows) in one round trip. Inside an EXISTS subquery, as it once was,
# PostgreSQL drops the select list and never called it.
_LEASE_PROJECT_PG_RATER = _lease_and_project_query(LOCK_RATER).with_for_update(
    of=Assignment.__table__
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
    project_values = row[n : n + len(_PROJECT_KEYS)]  # the rater's lock may follow
    project = adopt(session, Project, dict(zip(_PROJECT_KEYS, project_values, strict=True)))
    return adopt(session, Assignment, values), project


def _retake(session: Session, lease: Assignment, project: Project, refusal: str) -> None:
    """Give an expired lease its slot back if nobody took it meanwhile, else refuse."""
    counters = slots.lock(session=session, item_id=lease.item_id)
    targets = None
    if (project.adaptive_overlap or project.judge_budget) and counters.units > 1:
        targets = adaptive.targets(session=session, project=project, item_ids=[lease.item_id])
        targets = targets[lease.item_id]
    room = slots.room_for(
        session=session, project=project, counters=counters, lease=lease, targets=targets
    )
    if not room:
        raise Conflict(refusal)
    slots.change(session=session, item_id=lease.item_id, taken=1)
    lease.status = LeaseStatus.ACTIVE
    session.flush()  # a submission's insert checks the row is active (judgments._store)


def content_changed(*, session: Session, lease: Assignment) -> bool:
    """Tell whether this lease ended because an import changed its item's content."""
    if lease.status != LeaseStatus.RELEASED:
        return False
    reason = session.execute(
        sa.select(AuditEvent.details["reason"].as_string())
        .where(AuditEvent.action == "lease.release", AuditEvent.target == f"assignment:{lease.id}")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).scalar()
    return bool(reason and reason.startswith(CONTENT_UPDATED.partition("{")[0]))


def seconds_left(lease: Assignment, now: datetime | None = None) -> int:
    """Return the whole seconds until a lease expires (0 once it has).

    The rating screen counts down from this rather than from ``expires_at``, so a
    rater's clock set wrong does not make a live lease look expired, or the reverse.
    """
    left = lease.expires_at - (now or utcnow())
    return max(0, int(left.total_seconds()))


def renew(*, session: Session, lease: Assignment, project: Project) -> Assignment:
    """Extend a lease while the rater is still working on it."""
    if lease.status == LeaseStatus.EXPIRED:
        _retake(session, lease, project, "Your lease expired and the item went to another rater.")
    elif lease.status != LeaseStatus.ACTIVE:
        raise Conflict(
            f"{CONTENT_CHANGED}."
            if content_changed(session=session, lease=lease)
            else f"This assignment is {lease.status}; it cannot be renewed."
        )
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
    if lease.status == LeaseStatus.SUBMITTED:
        raise Conflict("This item is already submitted; use revise to change your judgment.")
    if lease.status == LeaseStatus.EXPIRED:
        _retake(
            session,
            lease,
            project,
            "Your lease expired and another rater took this item; your draft is kept.",
        )
    elif lease.status != LeaseStatus.ACTIVE:
        raise Conflict(
            f"{CONTENT_CHANGED}; your draft is kept in the browser."
            if content_changed(session=session, lease=lease)
            else f"This assignment was {lease.status}; your draft is kept in the browser."
        )


def end_item_leases(
    *, session: Session, item_ids: list[int], reason: str, actor_id: int | None
) -> list[int]:
    """End the live and expired leases on these items, give their slots back; return their ids.

    Each ended lease becomes "released" with an audit event giving ``reason``; a rater's
    later submit or renew on it is refused (409). On PostgreSQL the items' slot rows
    stay locked until commit, so no new lease starts on them meanwhile: the caller may
    then change the items knowing nobody holds them. The first pass waits for any
    submission in flight (it holds its lease's row lock), keeping the documented lock
    order, a lease before its item's slots; a lease taken between that pass and the
    slot lock is ended by a second pass.
    """
    if not item_ids:
        return []
    ids = sorted(set(item_ids))
    ended = _end_and_audit(session, ids, reason, actor_id)
    if not is_sqlite(session):
        session.execute(_LOCK_SLOTS, {"b_items": ids})
        ended += _end_and_audit(session, ids, reason, actor_id)
    return ended


_LOCK_SLOTS = (
    sa.select(slots.SLOTS.c.item_id)
    .where(slots.SLOTS.c.item_id.in_(sa.bindparam("b_items", expanding=True)))
    .order_by(slots.SLOTS.c.item_id)
    .with_for_update()
)
_WHOSE = sa.select(Assignment.id, Assignment.item_id, Assignment.rater_id).where(
    Assignment.id.in_(sa.bindparam("b_ids", expanding=True))
)


def _end_and_audit(
    session: Session, item_ids: list[int], reason: str, actor_id: int | None
) -> list[int]:
    ended = slots.end_leases(
        session=session,
        status=LeaseStatus.RELEASED,
        items=item_ids,
        ending=(LeaseStatus.ACTIVE, LeaseStatus.EXPIRED),
    ).lease_ids
    if not ended:
        return []
    for lease_id, item_id, rater_id in session.execute(_WHOSE, {"b_ids": ended}):
        audit.record(
            session=session,
            actor_id=actor_id,
            action="lease.release",
            target=f"assignment:{lease_id}",
            details={"item_id": item_id, "rater_id": rater_id, "reason": reason},
        )
    return ended


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
    if lease.status not in (LeaseStatus.ACTIVE, LeaseStatus.EXPIRED):
        raise Conflict(f"This assignment is already {lease.status}.")
    project = session.get(Project, lease.project_id)
    ended = slots.end_leases(
        session=session,
        status=LeaseStatus.SKIPPED,
        ids=[lease.id],
        ending=(LeaseStatus.ACTIVE, LeaseStatus.EXPIRED),
    )
    _, skips = ended.counters[lease.item_id]
    lease.skip_reason = reason
    lease.skip_note = note.strip()[:2000] or None
    session.add(lease)
    if skips >= project.skip_flag_threshold:
        flagged = session.execute(
            sa.update(Item)
            .where(Item.id == lease.item_id, ~Item.flagged)
            .values(flagged=True, updated_at=utcnow())
        ).rowcount
        if flagged:
            audit.record(
                session=session,
                actor_id=None,
                action="item.flag",
                target=f"item:{lease.item_id}",
                details={"skips": skips, "threshold": project.skip_flag_threshold},
            )
    session.flush()
    return lease


def release(*, session: Session, lease: Assignment, admin: User) -> Assignment:
    """End an active lease so its slot returns to the pool (the rater keeps no claim)."""
    if lease.status != LeaseStatus.ACTIVE:
        raise Conflict(f"Only an active lease can be released; this one is {lease.status}.")
    slots.end_leases(session=session, status=LeaseStatus.RELEASED, ids=[lease.id])
    audit.record(
        session=session,
        actor_id=admin.id,
        action="lease.release",
        target=f"assignment:{lease.id}",
        details={"item_id": lease.item_id, "rater_id": lease.rater_id},
    )
    session.flush()
    return lease


def reassign(*, session: Session, lease: Assignment, rater: User, admin: User) -> Assignment:
    """Move an active lease to another rater: same item, same display order, a fresh term."""
    if lease.status != LeaseStatus.ACTIVE:
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
    # The old lease gives its slot back and the new one takes it: counted as any other.
    slots.end_leases(session=session, status=LeaseStatus.RELEASED, ids=[lease.id])
    slots.change(session=session, item_id=lease.item_id, taken=1)
    now = utcnow()
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
    audit.record(
        session=session,
        actor_id=admin.id,
        action="lease.reassign",
        target=f"assignment:{lease.id}",
        details={"item_id": lease.item_id, "from": lease.rater_id, "to": rater.id, "new": moved.id},
    )
    session.flush()
    return moved
