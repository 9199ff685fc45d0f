"""Slot counters per item: what makes "next item" one indexed lookup instead of a recount.

``item_slots`` holds one row per item, created and kept in step with ``item`` by
database triggers (migration assign1). ``taken`` counts submitted judgments plus
leases still marked active; a lease past its expiry keeps its slot until
``sweep_expired`` (run at every "next item") marks it expired and gives the slot back.
``open`` is true while a real, unflagged item still wants raters (``taken`` below its
``capacity``: the overlap on each of its pair units, plus the raters adaptive overlap
added, ``raised``, see adaptive.py), so the index
``(project_id, open, priority, taken, rand)`` serves the hand-out order directly.

The row keeps its own copy of the project's ``overlap`` (set by the insert trigger and
by ``copy_overlap`` when an admin changes it), and every statement that recomputes
``open`` reads it from the row it updates. On PostgreSQL that read happens under the
row's lock (after a wait, on the row's newest version), so a claim or an ending that
races an overlap change computes ``open`` from the overlap that committed; a value
read earlier in the request, or from the project table in the same statement (read
with the statement's snapshot), could be the old one.

Lock order, to rule out deadlocks on PostgreSQL: an assignment row before an
``item_slots`` row, and ``item_slots`` rows taken for a new lease only with SKIP LOCKED.
An overlap change locks the project's rows, then the project row; an item insert reads
the project row FOR SHARE, then writes only its own new row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from service.db import is_sqlite
from service.models import Assignment, AuditEvent, ItemSlots, LeaseStatus, Project, Response, utcnow
from service.rating import pairs

SLOTS = ItemSlots.__table__
LEASES = Assignment.__table__
PROJECTS = Project.__table__
# Lease states that hold a slot: a submitted judgment, or a lease still marked active.
HOLDING = (LeaseStatus.SUBMITTED, LeaseStatus.ACTIVE)
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


def capacity(
    units: Any = SLOTS.c.units, overlap: Any = SLOTS.c.overlap, raised: Any = SLOTS.c.raised
) -> Any:
    """Return how many raters an item wants: ``overlap`` on each of its pair units, plus
    the raters adaptive overlap added (``raised``, summed over the units; 0 when off).

    By default the slot row's own columns; works on numbers and on other SQL
    expressions alike (a recount passes the project's overlap).
    """
    return units * overlap + raised


def open_rule(
    taken: Any,
    *,
    units: Any = SLOTS.c.units,
    overlap: Any = SLOTS.c.overlap,
    raised: Any = SLOTS.c.raised,
) -> sa.ColumnElement[bool]:
    """Return ``open`` for a count of slots taken: a real, unflagged item below its capacity.

    The one definition: the hand-out statements and the recount (``recounted``) both use
    it, with the row's own capacity unless told otherwise (see the module docstring).
    """
    return sa.and_(
        taken < capacity(units, overlap, raised),
        sa.not_(SLOTS.c.is_gold),
        sa.not_(SLOTS.c.flagged),
    )


def _open_after(delta: Any) -> sa.ColumnElement[bool]:
    return open_rule(SLOTS.c.taken + delta)


# Hot statements are built once: building a statement costs SQLAlchemy several times
# more than executing it (about 500 against 60 microseconds on SQLite).
_CHANGE = (
    sa.update(SLOTS)
    .where(SLOTS.c.item_id == sa.bindparam("b_item"))
    .values(
        taken=SLOTS.c.taken + sa.bindparam("b_taken"),
        skips=SLOTS.c.skips + sa.bindparam("b_skips"),
        open=_open_after(sa.bindparam("b_taken")),
    )
    .returning(SLOTS.c.taken, SLOTS.c.skips)
)
_LOCK = sa.select(*SLOTS.c).where(SLOTS.c.item_id == sa.bindparam("item_id"))
_DUE = (
    sa.select(LEASES.c.id, LEASES.c.item_id, LEASES.c.status)
    .where(
        LEASES.c.project_id == sa.bindparam("project_id"),
        LEASES.c.status == LeaseStatus.ACTIVE,
        LEASES.c.expires_at <= sa.bindparam("now"),
    )
    .limit(sa.bindparam("limit"))
)
# Another rater sweeping at the same moment takes the other rows, never waits; nor for
# an item's counters another transaction holds (a submission settling adaptive overlap
# holds its item's while it sweeps: waiting there could close a cycle with another).
_DUE_PG = _DUE.join(SLOTS, SLOTS.c.item_id == LEASES.c.item_id).with_for_update(
    skip_locked=True, of=[LEASES, SLOTS]
)
_END = (
    sa.update(LEASES)
    .where(LEASES.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(status=sa.bindparam("b_status"), finished_at=sa.bindparam("b_at"))
)


# Choosing and taking the next item is one statement: the candidate row is found in
# index order and its counter bumped in the same round trip. On PostgreSQL rows other
# raters are claiming are skipped (FOR UPDATE SKIP LOCKED), so nobody waits, and the
# row is re-checked after locking, so its counter is current.
_C = SLOTS.alias("candidate")
# An item this rater may be handed: in the project, of their expertise, never theirs before.
_FOR_RATER = (
    _C.c.project_id == sa.bindparam("b_project"),
    _C.c.expertise_key.in_(sa.bindparam("b_keys", expanding=True)),
    ~sa.exists(
        sa.select(LEASES.c.id).where(
            LEASES.c.item_id == _C.c.item_id, LEASES.c.rater_id == sa.bindparam("b_rater")
        )
    ),
)
_CANDIDATES = sa.select(_C.c.item_id).where(*_FOR_RATER).limit(1)
_WAITING = sa.select(sa.func.count()).where(*_FOR_RATER, _C.c.open)
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
        .values(taken=SLOTS.c.taken + 1, open=_open_after(1))
        .returning(SLOTS.c.item_id, SLOTS.c.overlap)
    )


_TAKE = {(kind, False): _take(q) for kind, q in _PICKS.items()}
_TAKE |= {
    (kind, True): _take(q.with_for_update(skip_locked=True, of=_C)) for kind, q in _PICKS.items()
}


@dataclass(frozen=True)
class Taken:
    """A slot just taken: the item, and the overlap its row held when taken (under its lock)."""

    item_id: int
    overlap: int


def take_next(
    *, session: Session, project: Project, rater_id: int, keys: list[str], gold: bool = False
) -> Taken | None:
    """Take a slot on the next item for this rater (a gold one if asked); return it."""
    kind = "gold" if gold else project.order_strategy
    params = {"b_project": project.id, "b_rater": rater_id, "b_keys": keys}
    row = session.execute(_TAKE[kind, not is_sqlite(session)], params).first()
    return None if row is None else Taken(row[0], row[1])


def waiting(*, session: Session, project: Project, rater_id: int, keys: list[str]) -> int:
    """Count the real items ``take_next`` could hand this rater now (caps not counted)."""
    params = {"b_project": project.id, "b_rater": rater_id, "b_keys": keys}
    return session.execute(_WAITING, params).scalar_one()


def change(*, session: Session, item_id: int, taken: int = 0, skips: int = 0) -> tuple[int, int]:
    """Add to an item's counters, recompute ``open``; return the new (taken, skips)."""
    params = {"b_item": item_id, "b_taken": taken, "b_skips": skips}
    row = session.execute(_CHANGE, params).one()
    return row.taken, row.skips


def lock(*, session: Session, item_id: int) -> ItemSlots:
    """Return an item's counters, row-locked on PostgreSQL until the transaction ends."""
    query = _LOCK if is_sqlite(session) else _LOCK.with_for_update()
    return ItemSlots(**session.execute(query, {"item_id": item_id}).one()._mapping)


@dataclass(frozen=True)
class Ended:
    """Leases just ended, and their items' counters (taken, skips) once the slots came back."""

    lease_ids: list[int]
    counters: dict[int, tuple[int, int]]


# How each way of ending changes the counters: an active lease gives its slot back
# ("expired" and "skipped" leases already did), and a skip counts towards the flag.
ENDINGS = (LeaseStatus.EXPIRED, LeaseStatus.RELEASED, LeaseStatus.SKIPPED)
# Leases ended per statement, well below SQLite's limit on bound parameters.
_BATCH = 500


def end_leases(
    *,
    session: Session,
    status: str,
    ids: Iterable[int] | None = None,
    items: Iterable[int] | None = None,
    rater_id: int | None = None,
    ending: Sequence[str] = (LeaseStatus.ACTIVE,),
) -> Ended:
    """End leases and give their slots back in this transaction: the one way a lease ends.

    Selects the leases in state ``ending`` given by id or of the given items, and/or of
    one rater, marks them ``status`` and adjusts their items' counters. Lock order as
    everywhere (see above): every lease row first, in id order, then the counters, in
    item order. A submission is not an ending: its lease keeps the slot.
    """
    if status not in ENDINGS:
        raise ValueError(f"a lease ends {', '.join(ENDINGS)}, not {status!r}")
    if ids is not None and items is not None:
        raise ValueError("end leases by id or by item, not both")
    wanted = [LEASES.c.status.in_(ending)]
    if rater_id is not None:
        wanted.append(LEASES.c.rater_id == rater_id)
    given = ids if ids is not None else items
    if given is None and rater_id is None:
        raise ValueError("say which leases end: by id, item or rater")
    batches: list[list[Any]] = [wanted]
    if given is not None:
        by = LEASES.c.id if ids is not None else LEASES.c.item_id
        values = sorted(set(given))
        batches = [[*wanted, by.in_(values[k : k + _BATCH])] for k in range(0, len(values), _BATCH)]
    query = sa.select(LEASES.c.id, LEASES.c.item_id, LEASES.c.status).order_by(LEASES.c.id)
    if not is_sqlite(session):
        query = query.with_for_update(of=LEASES)
    rows = [row for where in batches for row in session.execute(query.where(*where))]
    return _end(session, rows, status)


def _end(session: Session, rows: Sequence[Any], status: str) -> Ended:
    """Mark locked leases (id, item_id, status) ``status``; give their slots back."""
    ids = [r[0] for r in rows]
    # An expired lease may still be taken up again (see leases._retake): it is not finished.
    at = None if status == LeaseStatus.EXPIRED else utcnow()
    for k in range(0, len(ids), _BATCH):
        session.execute(_END, {"b_ids": ids[k : k + _BATCH], "b_status": status, "b_at": at})
    for lease_id in ids:  # what the session already holds of these leases follows suit
        lease = session.identity_map.get(identity_key(Assignment, lease_id))
        if lease is not None:
            set_committed_value(lease, "status", status)
            set_committed_value(lease, "finished_at", at)
    delta: dict[int, list[int]] = {}
    for _, item_id, was in rows:
        d = delta.setdefault(item_id, [0, 0])
        d[0] -= was == LeaseStatus.ACTIVE
        d[1] += status == LeaseStatus.SKIPPED
    counters = {}
    # In item order, so two transactions lock counters in the same order.
    for item_id, (taken, skips) in sorted(delta.items()):
        if taken or skips:
            counters[item_id] = change(session=session, item_id=item_id, taken=taken, skips=skips)
    return Ended(ids, counters)


def sweep_expired(*, session: Session, project: Project, now: datetime, limit: int = 100) -> int:
    """Mark the project's leases past their expiry as expired and give their slots back."""
    due = _DUE if is_sqlite(session) else _DUE_PG
    params = {"project_id": project.id, "now": now, "limit": limit}
    rows = session.execute(due, params).all()
    return len(_end(session, rows, LeaseStatus.EXPIRED).lease_ids)


def copy_overlap(*, session: Session, project: Project) -> None:
    """Give every item of the project the project's overlap and recompute its ``open`` flag.

    Call it in the transaction that changes the project's overlap, with the rows
    locked (``settings.change_overlap``).
    """
    session.execute(
        sa.update(SLOTS)
        .where(SLOTS.c.project_id == project.id)
        # SET reads the row as it was: ``open`` must be given the new overlap itself.
        .values(overlap=project.overlap, open=open_rule(SLOTS.c.taken, overlap=project.overlap))
    )


def set_raised(*, session: Session, item_id: int, raised: int) -> None:
    """Store an item's ``raised`` and recompute its ``open`` flag (``adaptive`` decides it).

    The row must be locked (``lock``) since the judgments ``raised`` was computed from were
    read: ``adaptive.settle`` and ``adaptive.retarget`` do so.
    """
    session.execute(
        sa.update(SLOTS)
        .where(SLOTS.c.item_id == item_id)
        # SET reads the row as it was: ``open`` must be given the new value itself.
        .values(raised=raised, open=open_rule(SLOTS.c.taken, raised=raised))
    )


def recounted(*, project_id: int) -> sa.Select:
    """Return a query of the project's items whose counters differ from a recount.

    Each row: item_id, the stored taken, skips, open and overlap, then their recount
    (want_taken, want_skips, want_open, want_overlap). ``taken`` counts the leases holding
    a slot (``HOLDING``); ``skips`` the skipped leases since an admin last cleared the
    item's flag (audited as ``item.unflag``: the count starts over there, see
    workload.unflag); ``overlap`` is the project's; ``open`` follows from them
    (``open_rule``).
    """
    held = (
        sa.select(LEASES.c.item_id, sa.func.count().label("n"))
        .where(LEASES.c.project_id == project_id, LEASES.c.status.in_(HOLDING))
        .group_by(LEASES.c.item_id)
        .subquery()
    )
    unflagged = (
        sa.select(AuditEvent.target, sa.func.max(AuditEvent.created_at).label("at"))
        .where(AuditEvent.action == "item.unflag")
        .group_by(AuditEvent.target)
        .subquery()
    )
    target = sa.literal("item:") + sa.cast(LEASES.c.item_id, sa.String)
    since = sa.or_(
        unflagged.c.at.is_(None),
        LEASES.c.finished_at.is_(None),
        LEASES.c.finished_at > unflagged.c.at,
    )
    skipped = (
        sa.select(LEASES.c.item_id, sa.func.count().label("n"))
        .outerjoin(unflagged, unflagged.c.target == target)
        .where(LEASES.c.project_id == project_id, LEASES.c.status == LeaseStatus.SKIPPED, since)
        .group_by(LEASES.c.item_id)
        .subquery()
    )
    taken = sa.func.coalesce(held.c.n, 0)
    skips = sa.func.coalesce(skipped.c.n, 0)
    should_open = open_rule(taken, overlap=PROJECTS.c.overlap)
    return (
        sa.select(
            SLOTS.c.item_id,
            SLOTS.c.taken,
            SLOTS.c.skips,
            SLOTS.c.open,
            SLOTS.c.overlap,
            taken.label("want_taken"),
            skips.label("want_skips"),
            should_open.label("want_open"),
            PROJECTS.c.overlap.label("want_overlap"),
        )
        .join(PROJECTS, PROJECTS.c.id == SLOTS.c.project_id)
        .outerjoin(held, held.c.item_id == SLOTS.c.item_id)
        .outerjoin(skipped, skipped.c.item_id == SLOTS.c.item_id)
        .where(
            SLOTS.c.project_id == project_id,
            sa.or_(
                SLOTS.c.taken != taken,
                SLOTS.c.skips != skips,
                SLOTS.c.open != should_open,
                SLOTS.c.overlap != PROJECTS.c.overlap,
            ),
        )
        .order_by(SLOTS.c.item_id)
    )


def recount(*, session: Session, project: Project) -> int:
    """Rebuild the project's counters from its leases; return how many items were off.

    On PostgreSQL the project's counters are locked first, so no claim or ending slips in
    between the recount and the fix (one that waits applies its change afterwards).
    """
    if not is_sqlite(session):
        session.execute(
            sa.select(SLOTS.c.item_id)
            .where(SLOTS.c.project_id == project.id)
            .order_by(SLOTS.c.item_id)
            .with_for_update()
        ).all()
    off = session.execute(recounted(project_id=project.id)).all()
    _rewrite(session, off)
    return len(off)


def _rewrite(session: Session, rows: Sequence[Any]) -> None:
    """Store recounted counters (rows of ``recounted``)."""
    for row in rows:
        session.execute(
            sa.update(SLOTS)
            .where(SLOTS.c.item_id == row.item_id)
            .values(
                taken=row.want_taken,
                skips=row.want_skips,
                open=bool(row.want_open),
                overlap=row.want_overlap,
            )
        )


_HOLDING_ORDERS = sa.select(LEASES.c.shown_order).where(
    LEASES.c.item_id == sa.bindparam("item_id"),
    LEASES.c.status.in_(HOLDING),
    LEASES.c.id != sa.bindparam("lease_id"),
)


def room_for(
    *,
    session: Session,
    project: Project,
    counters: ItemSlots,
    lease: Assignment,
    targets: dict[pairs.Unit, int] | None = None,
) -> bool:
    """Return whether a lease that gave its slot back may take one again.

    The item must be below its capacity and, in pairwise projects, the lease's own pair
    unit below its target (the overlap, or ``targets`` under adaptive overlap): another
    rater may have taken the freed slot on that unit. ``counters`` must be locked
    (``lock``): their overlap is the one in force, whatever the project row read earlier
    in this request said.
    """
    if counters.is_gold:
        return True
    if counters.taken >= capacity(counters.units, counters.overlap, counters.raised):
        return False
    if project.mode != "pairwise" or counters.units == 1:
        return True
    orders = session.execute(_HOLDING_ORDERS, {"item_id": lease.item_id, "lease_id": lease.id})
    unit = frozenset(lease.shown_order[:2])
    wanted = (targets or {}).get(unit, counters.overlap)
    return pairs.coverage(orders.scalars().all())[unit] < wanted


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
            .values(units=units, open=open_rule(SLOTS.c.taken, units=units))
        )


def split_units(*, session: Session, project: Project) -> dict[int, list[pairs.Unit]]:
    """Return the pair units of the project's items that have several (``pairs.item_units``).

    Every other item is one unit, which takes all of its judgments.
    """
    if project.mode != "pairwise":
        return {}
    rows = session.execute(
        sa.select(Response.item_id, Response.external_id)
        .join(SLOTS, SLOTS.c.item_id == Response.item_id)
        .where(SLOTS.c.project_id == project.id, SLOTS.c.units > 1, sa.not_(SLOTS.c.is_gold))
        .order_by(Response.item_id, Response.position, Response.id)
    )
    ids: dict[int, list[str]] = {}
    for item_id, rid in rows:
        ids.setdefault(item_id, []).append(rid)
    return {
        item_id: pairs.item_units(
            rids, pairwise=True, pair_set=project.pairs, reference=project.pair_reference
        )
        for item_id, rids in ids.items()
    }
