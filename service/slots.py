"""Slot counters per item: what makes "next item" one indexed lookup instead of a recount.

``item_slots`` holds one row per item, created and kept in step with ``item`` by
database triggers (migration assign1). ``taken`` counts submitted judgments plus
leases still marked active; a lease past its expiry keeps its slot until
``sweep_expired`` (run at every "next item") marks it expired and gives the slot back.
``open`` is true while a real, unflagged item still wants raters (``taken`` below its
``capacity``: the project's overlap on each of its pair units), so the index
``(project_id, open, priority, taken, rand)`` serves the hand-out order directly.

Lock order, to rule out deadlocks on PostgreSQL: an assignment row before an
``item_slots`` row, and ``item_slots`` rows taken for a new lease only with SKIP LOCKED.
"""

from __future__ import annotations

from datetime import datetime
from itertools import combinations
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service import pairs
from service.db import is_sqlite
from service.models import Assignment, ItemSlots, Project, Response

SLOTS = ItemSlots.__table__
LEASES = Assignment.__table__
# A rater with more tags than this is matched against the project's keys instead.
MAX_SUBSET_TAGS = 10


def expertise_key(tags: list[str]) -> str:
    """Return the canonical key of a set of expertise tags (as the triggers compute it)."""
    return "|".join(sorted({t.strip().lower() for t in tags if t.strip()}))


def allowed_keys(*, session: Session, project: Project, expertise: list[str]) -> list[str]:
    """Return the expertise keys of items this rater may see: subsets of their own tags."""
    tags = sorted({t.strip().lower() for t in expertise if t.strip()})
    if len(tags) <= MAX_SUBSET_TAGS:
        return ["|".join(subset) for n in range(len(tags) + 1) for subset in combinations(tags, n)]
    keys = session.execute(
        sa.select(SLOTS.c.expertise_key).where(SLOTS.c.project_id == project.id).distinct()
    ).scalars()
    mine = set(tags)
    return [k for k in keys if not k or set(k.split("|")) <= mine]


def capacity(units: Any, overlap: Any) -> Any:
    """Return how many raters an item wants: ``overlap`` on each of its pair units.

    Works on numbers and on SQL expressions alike (``capacity(SLOTS.c.units, overlap)``).
    """
    return units * overlap


def _open_after(delta: Any, overlap: Any, units: Any = SLOTS.c.units) -> sa.ColumnElement[bool]:
    return sa.and_(
        SLOTS.c.taken + delta < capacity(units, overlap),
        sa.not_(SLOTS.c.is_gold),
        sa.not_(SLOTS.c.flagged),
    )


# Hot statements are built once: building a statement costs SQLAlchemy several times
# more than executing it (about 500 against 60 microseconds on SQLite).
_CHANGE = (
    sa.update(SLOTS)
    .where(SLOTS.c.item_id == sa.bindparam("b_item"))
    .values(
        taken=SLOTS.c.taken + sa.bindparam("b_taken"),
        skips=SLOTS.c.skips + sa.bindparam("b_skips"),
        open=_open_after(sa.bindparam("b_taken"), sa.bindparam("b_overlap")),
    )
    .returning(SLOTS.c.taken, SLOTS.c.skips)
)
_LOCK = sa.select(*SLOTS.c).where(SLOTS.c.item_id == sa.bindparam("item_id"))
_DUE = (
    sa.select(LEASES.c.id)
    .where(
        LEASES.c.project_id == sa.bindparam("project_id"),
        LEASES.c.status == "active",
        LEASES.c.expires_at <= sa.bindparam("now"),
    )
    .limit(sa.bindparam("limit"))
)
# Another rater sweeping at the same moment takes the other rows, never waits.
_DUE_PG = _DUE.with_for_update(skip_locked=True)
_EXPIRE = (
    sa.update(LEASES)
    .where(LEASES.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(status="expired")
    .returning(LEASES.c.item_id)
)


# Choosing and taking the next item is one statement: the candidate row is found in
# index order and its counter bumped in the same round trip. On PostgreSQL rows other
# raters are claiming are skipped (FOR UPDATE SKIP LOCKED), so nobody waits, and the
# row is re-checked after locking, so its counter is current.
_C = SLOTS.alias("candidate")
_CANDIDATES = (
    sa.select(_C.c.item_id)
    .where(
        _C.c.project_id == sa.bindparam("b_project"),
        _C.c.expertise_key.in_(sa.bindparam("b_keys", expanding=True)),
        ~sa.exists(
            sa.select(LEASES.c.id).where(
                LEASES.c.item_id == _C.c.item_id, LEASES.c.rater_id == sa.bindparam("b_rater")
            )
        ),
    )
    .limit(1)
)
_PICKS = {
    "complete-first": _CANDIDATES.where(_C.c.open).order_by(
        _C.c.priority.desc(), _C.c.taken.desc(), _C.c.rand.desc()
    ),
    "spread": _CANDIDATES.where(_C.c.open).order_by(_C.c.priority.desc(), _C.c.taken, _C.c.rand),
    # Gold items go to any number of raters: any one this rater has not seen, at random.
    "gold": _CANDIDATES.where(_C.c.is_gold, ~_C.c.flagged).order_by(sa.func.random()),
}


def _take(pick: sa.Select) -> sa.Update:
    return (
        sa.update(SLOTS)
        .where(SLOTS.c.item_id == pick.scalar_subquery())
        .values(taken=SLOTS.c.taken + 1, open=_open_after(1, sa.bindparam("b_overlap")))
        .returning(SLOTS.c.item_id)
    )


_TAKE = {(kind, False): _take(q) for kind, q in _PICKS.items()}
_TAKE |= {
    (kind, True): _take(q.with_for_update(skip_locked=True, of=_C)) for kind, q in _PICKS.items()
}


def take_next(
    *, session: Session, project: Project, rater_id: int, keys: list[str], gold: bool = False
) -> int | None:
    """Take a slot on the next item for this rater (a gold one if asked); return its id."""
    kind = "gold" if gold else project.order_strategy
    params = {"b_project": project.id, "b_rater": rater_id, "b_keys": keys}
    params["b_overlap"] = project.overlap
    return session.execute(_TAKE[kind, not is_sqlite(session)], params).scalar()


def change(
    *,
    session: Session,
    item_id: int,
    overlap: int,
    taken: int = 0,
    skips: int = 0,
) -> tuple[int, int, int]:
    """Add to an item's counters, recompute ``open``; return the new (taken, skips)."""
    params = {"b_item": item_id, "b_overlap": overlap, "b_taken": taken}
    params["b_skips"] = skips
    row = session.execute(_CHANGE, params).one()
    return row.taken, row.skips


def lock(*, session: Session, item_id: int) -> ItemSlots:
    """Return an item's counters, row-locked on PostgreSQL until the transaction ends."""
    query = _LOCK if is_sqlite(session) else _LOCK.with_for_update()
    return ItemSlots(**session.execute(query, {"item_id": item_id}).one()._mapping)


def sweep_expired(*, session: Session, project: Project, now: datetime, limit: int = 100) -> int:
    """Mark the project's leases past their expiry as expired and give their slots back."""
    due = _DUE if is_sqlite(session) else _DUE_PG
    params = {"project_id": project.id, "now": now, "limit": limit}
    ids = list(session.execute(due, params).scalars())
    if not ids:
        return 0
    rows = session.execute(_EXPIRE, {"b_ids": ids}).all()
    # In item order, so two sweepers lock counters in the same order.
    for (item_id,) in sorted(rows):
        change(session=session, item_id=item_id, overlap=project.overlap, taken=-1)
    return len(rows)


def reopen_all(*, session: Session, project: Project) -> None:
    """Recompute every item's ``open`` flag, after the project's overlap changed."""
    session.execute(
        sa.update(SLOTS)
        .where(SLOTS.c.project_id == project.id)
        .values(open=_open_after(0, project.overlap))
    )


def recount(*, session: Session, project: Project) -> int:
    """Rebuild the project's taken counts from its assignments; return how many were off.

    (Skip counts are not rebuilt: they start over when an admin clears a flag.)
    """
    want = dict(
        session.execute(
            sa.select(LEASES.c.item_id, sa.func.count())
            .where(LEASES.c.project_id == project.id, LEASES.c.status.in_(("submitted", "active")))
            .group_by(LEASES.c.item_id)
        ).all()
    )
    current = session.execute(
        sa.select(SLOTS.c.item_id, SLOTS.c.taken).where(SLOTS.c.project_id == project.id)
    ).all()
    off = [
        (item_id, want.get(item_id, 0))
        for item_id, taken in current
        if taken != want.get(item_id, 0)
    ]
    for item_id, taken in off:
        session.execute(sa.update(SLOTS).where(SLOTS.c.item_id == item_id).values(taken=taken))
    reopen_all(session=session, project=project)
    return len(off)


_HOLDING_ORDERS = sa.select(LEASES.c.shown_order).where(
    LEASES.c.item_id == sa.bindparam("item_id"),
    LEASES.c.status.in_(("submitted", "active")),
    LEASES.c.id != sa.bindparam("lease_id"),
)


def room_for(*, session: Session, project: Project, counters: ItemSlots, lease: Assignment) -> bool:
    """Return whether a lease that gave its slot back may take one again.

    The item must be below its capacity and, in pairwise projects, the lease's own pair
    unit below the overlap: another rater may have taken the freed slot on that unit.
    ``counters`` must be locked (``lock``).
    """
    if counters.is_gold:
        return True
    if counters.taken >= capacity(counters.units, project.overlap):
        return False
    if project.mode != "pairwise" or counters.units == 1:
        return True
    orders = session.execute(_HOLDING_ORDERS, {"item_id": lease.item_id, "lease_id": lease.id})
    unit = frozenset(lease.shown_order[:2])
    return pairs.coverage(orders.scalars().all())[unit] < project.overlap


def set_units(*, session: Session, project: Project, item_ids: list[int]) -> None:
    """Count the pair units of these items from their responses and reopen them to match.

    Items start with one unit (the triggers insert them before their responses exist);
    only pairwise items with more than two responses have more.
    """
    if project.mode != "pairwise" or not item_ids:
        return
    counts = dict(
        session.execute(
            sa.select(Response.item_id, sa.func.count())
            .where(Response.item_id.in_(item_ids))
            .group_by(Response.item_id)
        ).all()
    )
    by_units: dict[int, list[int]] = {}
    for item_id in sorted(set(item_ids)):
        units = max(pairs.unit_count(counts.get(item_id, 2), project.pairs), 1)
        by_units.setdefault(units, []).append(item_id)
    for units, ids in sorted(by_units.items()):
        session.execute(
            sa.update(SLOTS)
            .where(SLOTS.c.item_id.in_(ids))
            .values(units=units, open=_open_after(0, project.overlap, units))
        )
