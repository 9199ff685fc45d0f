"""The admin's view of who works on what, and the levers: overlap, pause, flags.

Item states are counted from the assignments themselves (not the slot counters),
so this view is also how an admin checks the counters.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import audit
from service.errors import Conflict, InvalidInput, NotFound
from service.models import (
    Assignment,
    Item,
    LeaseStatus,
    Project,
    ProjectStatus,
    User,
    utcnow,
)
from service.rating import adaptive, pairs, settings, slots

ITEM_STATES = ("wanted", "leased", "done", "flagged", "gold")


def _state(item: Item, done: int, held: int) -> str:
    """Return an item's state from the judgments it still wants once its submitted leases
    (``done``), or also its live ones (``held``), are counted (``pairs.missing``)."""
    if item.is_gold:
        return "gold"
    if item.flagged:
        return "flagged"
    if not done:
        return "done"
    return "leased" if not held else "wanted"


def item_states(
    *, session: Session, project: Project, state: str | None = None
) -> list[dict[str, Any]]:
    """Return every item with its wanted, leased, done and skipped counts and its state.

    "wanted": it still needs raters (``overlap`` on each of its pair units); "leased":
    every open slot is leased; "done": all of them judged; "flagged": withheld after
    too many skips; "gold": a gold item (served to any number of raters, never counted
    towards overlap).
    """
    if state is not None and state not in ITEM_STATES:
        raise InvalidInput(
            f"Unknown item state {state!r}.",
            errors=[{"field": "state", "message": f"use one of {', '.join(ITEM_STATES)}"}],
        )
    now = utcnow()
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    live: dict[int, list[dict[str, Any]]] = defaultdict(list)
    # What each submitted and live lease showed, for items of several pair units.
    shown: dict[int, dict[str, list[list[str]]]] = defaultdict(lambda: defaultdict(list))
    split = slots.split_units(session=session, project=project)
    rows = session.execute(
        sa.select(
            Assignment.id,
            Assignment.item_id,
            Assignment.status,
            Assignment.expires_at,
            Assignment.shown_order,
            User.username,
        )
        .join(User, User.id == Assignment.rater_id)
        .where(Assignment.project_id == project.id)
    )
    for lease_id, item_id, status, expires_at, order, username in rows:
        if status == LeaseStatus.ACTIVE and expires_at > now:
            counts[item_id]["leased"] += 1
            live[item_id].append(
                {"id": lease_id, "rater": username, "expires_at": expires_at.isoformat()}
            )
            if item_id in split:
                shown[item_id]["leased"].append(order or [])
        elif status in (LeaseStatus.SUBMITTED, LeaseStatus.SKIPPED):
            counts[item_id][status] += 1
            if item_id in split and status == LeaseStatus.SUBMITTED:
                shown[item_id][LeaseStatus.SUBMITTED].append(order or [])
    units = {
        item_id: (n, raised)
        for item_id, n, raised in session.execute(
            sa.select(slots.SLOTS.c.item_id, slots.SLOTS.c.units, slots.SLOTS.c.raised).where(
                slots.SLOTS.c.project_id == project.id
            )
        )
    }
    # Each unit's target: the overlap, or under adaptive overlap the rule's.
    found = adaptive.targets(session=session, project=project, item_ids=units)
    out = []
    for item in session.exec(select(Item).where(Item.project_id == project.id).order_by(Item.id)):
        c = counts[item.id]
        n_units, raised = units.get(item.id, (1, 0))
        wanted = slots.capacity(n_units, project.overlap, raised)
        want = list(found.get(item.id, {adaptive.WHOLE: project.overlap}).values())
        current = _state(item, *_missing(split.get(item.id), shown[item.id], c, want))
        if state is not None and current != state:
            continue
        out.append(
            {
                "id": item.id,
                "external_id": item.external_id,
                "state": current,
                "priority": item.priority,
                "expertise": item.expertise,
                "is_gold": item.is_gold,
                "flagged": item.flagged,
                "wanted": None if item.is_gold else wanted,
                "leased": c["leased"],
                "done": c[LeaseStatus.SUBMITTED],
                "skipped": c[LeaseStatus.SKIPPED],
                "leases": sorted(live[item.id], key=lambda lease: lease["id"]),
            }
        )
    return out


def _missing(
    units: list[pairs.Unit] | None,
    shown: dict[str, list[list[str]]],
    counts: dict[str, int],
    overlap: int | list[int],
) -> tuple[int, int]:
    """Return the judgments an item still wants after its submitted leases, and after its
    submitted and live ones; ``units`` None for an item of one unit. ``overlap`` is one
    for every unit, or each unit's target in ``units`` order."""
    if units is None:
        done = [counts[LeaseStatus.SUBMITTED]]
        held = [counts[LeaseStatus.SUBMITTED] + counts["leased"]]
    else:
        done = pairs.unit_counts(units, shown[LeaseStatus.SUBMITTED])
        held = pairs.unit_counts(units, shown[LeaseStatus.SUBMITTED] + shown["leased"])
    return int(pairs.missing(done, overlap).sum()), int(pairs.missing(held, overlap).sum())


def set_overlap(*, session: Session, project: Project, overlap: int, admin: User) -> Project:
    """Change how many raters each item wants (never below what an item already has)."""
    if not isinstance(overlap, int) or not 1 <= overlap <= 100:
        raise InvalidInput(
            "Overlap must be a whole number from 1 to 100.",
            errors=[{"field": "overlap", "message": "a whole number from 1 to 100"}],
        )
    before = project.overlap
    settings.change_overlap(session=session, project=project, overlap=overlap)
    project.updated_at = utcnow()
    session.add(project)
    audit.record(
        session=session,
        actor_id=admin.id,
        action="project.overlap",
        target=f"project:{project.slug}",
        details={"from": before, "to": overlap},
    )
    session.flush()
    return project


def set_status(*, session: Session, project: Project, status: str, admin: User) -> Project:
    """Pause or resume handing out work (leases already held stay valid)."""
    allowed = [s.value for s in ProjectStatus]
    if status not in allowed:
        raise InvalidInput(
            f"Unknown project status {status!r}.",
            errors=[{"field": "status", "message": f"use one of {', '.join(allowed)}"}],
        )
    before = project.status
    project.status, project.updated_at = status, utcnow()
    session.add(project)
    audit.record(
        session=session,
        actor_id=admin.id,
        action="project.status",
        target=f"project:{project.slug}",
        details={"from": before, "to": status},
    )
    session.flush()
    return project


def unflag(*, session: Session, project: Project, item_id: int, admin: User) -> Item:
    """Clear an item's skip flag so it is handed out again; its skip count starts over."""
    item = session.get(Item, item_id)
    if item is None or item.project_id != project.id:
        raise NotFound(f"No item {item_id} in project {project.slug!r}.")
    if not item.flagged:
        raise Conflict(f"Item {item.external_id!r} is not flagged.")
    # Counters first, then the item: the same lock order as a skip.
    slots.lock(session=session, item_id=item.id)
    session.execute(sa.update(slots.SLOTS).where(slots.SLOTS.c.item_id == item.id).values(skips=0))
    item.flagged, item.updated_at = False, utcnow()
    session.add(item)
    audit.record(
        session=session,
        actor_id=admin.id,
        action="item.unflag",
        target=f"item:{item.id}",
        details={"external_id": item.external_id},
    )
    session.flush()
    return item
