"""Who rates what: leases on items, exact overlap, no repeats, gold, routing and caps.

An item wants ``overlap`` distinct raters. Its slots taken are its submitted
judgments plus its leases still marked active (``slots.py`` keeps the count and
frees the slots of expired leases). "Next item" returns the rater's live lease or
leases one new item, in order: priority, then closest to completion (or least
started, for "spread"), then random. Gold items are mixed in at the project's rate
and never count towards overlap.

Concurrency: on PostgreSQL the item's counter row is claimed with FOR UPDATE SKIP
LOCKED, so raters never wait on each other, and one rater's own concurrent requests
are serialised by a transaction-level advisory lock. On SQLite every writing request
runs in one BEGIN IMMEDIATE transaction (``db.session``), so claims are serial.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import gold, pairs, slots
from service.db import is_sqlite
from service.leases import (  # noqa: F401  (re-exported: the rater API and pages use them here)
    SKIP_REASONS,
    claim_for_submission,
    get_assignment,
    lock_assignment,
    renew,
    skip,
)
from service.models import Assignment, Item, Project, ProjectStatus, Response, User, utcnow

LABELS = string.ascii_uppercase
LEASES = Assignment.__table__
# First key of PostgreSQL advisory locks taken per rater (the second is the rater id).
RATER_LOCK_SPACE = 0x5261


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
    """Count an item's submitted and live assignments from the leases themselves."""
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
    if not is_sqlite(session):
        # A double click must not lease two items (or one item twice) to the same rater.
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(RATER_LOCK_SPACE, rater.id)))
    lease = active_lease(session=session, project=project, rater=rater)
    if lease is not None:
        return lease
    now = utcnow()
    slots.sweep_expired(session=session, project=project, now=now)
    plan = _plan(session, project, rater, now)
    if isinstance(plan, NoWork):
        return plan
    keys = slots.allowed_keys(session=session, project=project, expertise=rater.expertise)
    if plan != "real":
        item_id = _pick_gold(session, project, rater, keys)
        if item_id is not None:
            return _lease(session, project, rater, item_id, True, now)
        if plan == "qualify":
            q = gold.finish_without_gold(
                gold.qualification(session=session, project=project, rater=rater), project
            )
            if q.status != "passed":
                return NoWork(q.message)
    item_id = _pick(session, project, rater, keys)
    if item_id is None:
        return NoWork("No items left for you in this project. Thank you!")
    return _lease(session, project, rater, item_id, False, now)


def _plan(session: Session, project: Project, rater: User, now: datetime) -> str | NoWork:
    """Decide between a gold item ("qualify" or "gold") and a real one, after caps."""
    status = "passed"
    if project.qualification_items > 0:
        q = gold.qualification(session=session, project=project, rater=rater)
        if q.status == "failed":
            return NoWork(q.message)
        status = q.status
    if not (project.rater_cap or project.daily_cap or project.gold_rate > 0):
        return "qualify" if status == "qualifying" else "real"
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    total, golds, today = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((LEASES.c.is_gold, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((LEASES.c.created_at >= day, 1), else_=0)), 0),
        ).where(
            LEASES.c.project_id == project.id,
            LEASES.c.rater_id == rater.id,
            LEASES.c.status.in_(("submitted", "active")),
        )
    ).one()
    if project.rater_cap and total >= project.rater_cap:
        return NoWork(
            f"You have done this project's limit of {project.rater_cap} items. Thank you!"
        )
    if project.daily_cap and today >= project.daily_cap:
        return NoWork(
            f"You have done today's limit of {project.daily_cap} items in this project. "
            "More tomorrow (the day turns at midnight UTC)."
        )
    if status == "qualifying":
        return "qualify"
    # Gold served during qualification does not count towards the mixing rate.
    qualifying = min(golds, project.qualification_items)
    golds, total = golds - qualifying, total - qualifying
    # Random at the project rate, but never more than one item off it.
    deficit = project.gold_rate * (total + 1) - golds
    return "gold" if deficit >= 1 or random.random() < deficit else "real"


def _pick(session: Session, project: Project, rater: User, keys: list[str]) -> int | None:
    s = slots.SLOTS.c
    if project.order_strategy == "spread":
        order = (s.priority.desc(), s.taken, s.rand)
    else:
        order = (s.priority.desc(), s.taken.desc(), s.rand.desc())
    mine = sa.exists(
        sa.select(LEASES.c.id).where(LEASES.c.item_id == s.item_id, LEASES.c.rater_id == rater.id)
    )
    query = (
        sa.select(s.item_id)
        .where(s.project_id == project.id, s.open, s.expertise_key.in_(keys), ~mine)
        .order_by(*order)
        .limit(1)
    )
    if not is_sqlite(session):
        # Skip rows other raters are claiming: nobody waits, and the row we get is ours
        # until commit, its counter current (PostgreSQL re-checks `open` after locking).
        query = query.with_for_update(skip_locked=True, of=slots.SLOTS)
    return session.execute(query).scalar()


def _pick_gold(session: Session, project: Project, rater: User, keys: list[str]) -> int | None:
    s = slots.SLOTS.c
    mine = sa.exists(
        sa.select(LEASES.c.id).where(LEASES.c.item_id == s.item_id, LEASES.c.rater_id == rater.id)
    )
    query = (
        sa.select(s.item_id)
        .where(
            s.project_id == project.id,
            s.is_gold,
            ~s.flagged,
            s.expertise_key.in_(keys),
            ~mine,
        )
        .order_by(sa.func.random())
        .limit(1)
    )
    return session.execute(query).scalar()


def display_order(
    *, session: Session, project: Project, item_id: int, gold_answer: dict[str, Any] | None
) -> list[str]:
    """Choose the responses a new lease shows, in order (see pairs.py)."""
    ids = list(
        session.execute(
            sa.select(Response.external_id)
            .where(Response.item_id == item_id)
            .order_by(Response.position)
        ).scalars()
    )
    if project.mode != "pairwise":
        return pairs.shuffled(ids)
    history = session.execute(
        sa.select(LEASES.c.shown_order).where(
            LEASES.c.item_id == item_id, LEASES.c.status.in_(("submitted", "active"))
        )
    ).scalars()
    return pairs.choose_pair(ids, list(history), gold=gold_answer)


def _lease(
    session: Session, project: Project, rater: User, item_id: int, is_gold: bool, now: datetime
) -> Assignment:
    answer = session.execute(sa.select(Item.gold).where(Item.id == item_id)).scalar()
    lease = Assignment(
        project_id=project.id,
        item_id=item_id,
        rater_id=rater.id,
        is_gold=is_gold,
        shown_order=display_order(
            session=session, project=project, item_id=item_id, gold_answer=answer
        ),
        created_at=now,
        expires_at=now + timedelta(minutes=project.lease_minutes),
    )
    session.add(lease)
    session.flush()
    slots.change(session=session, item_id=item_id, overlap=project.overlap, taken=1)
    return lease


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
        # Model names, response ids and whether it is gold never reach the rater.
        "responses": [
            {"label": LABELS[i], "content": by_id[rid].content}
            for i, rid in enumerate(lease.shown_order)
        ],
        "rubric": project.rubric,
    }
