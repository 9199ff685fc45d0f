"""Adaptive overlap on stored data: each unit's target from its judgments, kept on the slot row.

The rule is ``agreement_rule.unit_target``; this module applies it. An item's slot row
holds ``raised``, the raters its units want beyond ``overlap`` (summed over the units),
so its capacity (``slots.capacity``) and ``open`` flag follow the rule with the hand-out
statements unchanged. ``raised`` moves only under the row's lock (``slots.lock``), in
the transaction that stores a judgment (``settle``) or changes the setting
(``retarget``), and is recomputed there from every current judgment on the item, read
after the lock was granted: two submissions on one item settle one after the other, the
second seeing the first's judgment, so no raise is lost or counted twice.

An item's units are its pair units when a pairwise item has several (``pairs.item_units``),
else the whole item; only current judgments count (``current.current_judgments``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import sqlalchemy as sa
from sqlmodel import Session

from service.models import ItemSlots, Judgment, Project, Response
from service.rating import agreement_rule, judge_rule, judge_votes, pairs, slots
from service.rating.current import current_judgments
from service.rubric import rubric_of

Targets = dict[pairs.Unit, int]
# The project settings a unit's target depends on (read as committed, under the row lock).
TARGET_SETTINGS = (
    "adaptive_overlap",
    "overlap_max",
    "audit_share",
    "judge_budget",
    "judge_budget_overlap",
    "judge_audit_share",
)
# The one unit of an item that has a single unit: it takes every judgment.
WHOLE: pairs.Unit = frozenset()


def _units(session: Session, project: Project, item_ids: list[int]) -> dict[int, list[pairs.Unit]]:
    """Return the pair units of the given items that have several (the rest have one)."""
    if project.mode != "pairwise" or not item_ids:
        return {}
    rows = session.execute(
        sa.select(Response.item_id, Response.external_id)
        .join(slots.SLOTS, slots.SLOTS.c.item_id == Response.item_id)
        .where(Response.item_id.in_(item_ids), slots.SLOTS.c.units > 1)
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


def _verdicts(
    session: Session, project: Project, item_ids: list[int]
) -> dict[int, list[tuple[list[str], agreement_rule.Verdict]]]:
    """Return each item's current real judgments as (shown order, verdict)."""
    cur = current_judgments().where(Judgment.item_id.in_(item_ids), ~Judgment.is_gold).subquery()
    main = rubric_of(project).main_rating
    out: dict[int, list[tuple[list[str], agreement_rule.Verdict]]] = {}
    for row in session.execute(
        sa.select(cur.c.item_id, cur.c.shown_order, cur.c.verdict, cur.c.rubric).order_by(cur.c.id)
    ):
        verdict = agreement_rule.verdict_of(
            project.mode, row.verdict or {}, row.rubric or {}, main.name if main else None
        )
        out.setdefault(row.item_id, []).append((row.shown_order or [], verdict))
    return out


def targets(*, session: Session, project: Project, item_ids: Iterable[int]) -> dict[int, Targets]:
    """Return each item's target per unit under the rule, with its stored audit flag.

    Items of one unit have the single key ``WHOLE``. With adaptive overlap off every
    unit wants the overlap its slot row holds.
    """
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    rows = session.execute(
        sa.select(slots.SLOTS.c.item_id, slots.SLOTS.c.overlap, slots.SLOTS.c.audit).where(
            slots.SLOTS.c.item_id.in_(ids)
        )
    ).all()
    split = _units(session, project, ids)
    counted = project.adaptive_overlap or project.judge_budget
    judged = _verdicts(session, project, ids) if counted else {}
    budget = judge_votes.budget_units(session=session, project=project, item_ids=ids, units=split)
    out: dict[int, Targets] = {}
    for item_id, overlap, audit in rows:
        units = split.get(item_id, [WHOLE])
        wanted = unit_targets(
            units,
            judged.get(item_id, []),
            low=overlap,
            high=project.overlap_max if project.adaptive_overlap else overlap,
            audit=bool(audit),
            adaptive=project.adaptive_overlap,
            budget=budget.get(item_id, set()),
            budget_low=project.judge_budget_overlap,
        )
        out[item_id] = dict(zip(units, wanted, strict=True))
    return out


def unit_targets(
    units: list[pairs.Unit],
    judged: Iterable[tuple[list[str], agreement_rule.Verdict]],
    *,
    low: int,
    high: int,
    audit: bool,
    adaptive: bool = True,
    budget: Collection[int] = (),
    budget_low: int = 0,
) -> list[int]:
    """Return each unit's target from the (shown order, verdict) of the item's judgments.

    Without ``adaptive`` a unit wants ``low``; the units in ``budget`` (settled by the
    model judges, judge_rule.py) start from ``budget_low`` instead.
    """
    by_unit: list[list[agreement_rule.Verdict]] = [[] for _ in units]
    for shown, verdict in judged:
        k = 0 if len(units) == 1 else pairs.unit_of(shown, units)
        if k is not None:
            by_unit[k].append(verdict)
    out = []
    for k, v in enumerate(by_unit):
        floor = min(low, budget_low) if k in budget else low
        if adaptive:
            out.append(agreement_rule.unit_target(v, low=floor, high=high, audit=audit))
        elif k in budget:
            out.append(judge_rule.budget_target(len(v), low=floor, overlap=low))
        else:
            out.append(low)
    return out


def raised(counters: ItemSlots, item_targets: Targets) -> int:
    """Return the raters an item's targets want beyond ``overlap`` on each of its units."""
    return sum(item_targets.values()) - counters.units * counters.overlap


def settle(*, session: Session, project: Project, item_id: int) -> None:
    """Recompute an item's targets after a judgment was stored on it; move ``raised``.

    Locks the item's counters first (an assignment row is locked before, as everywhere),
    so the judgments read next include every one settled before.
    """
    counters = slots.lock(session=session, item_id=item_id)
    # The setting as committed now: a change waits for, or is waited for by, this lock.
    session.refresh(project, [*TARGET_SETTINGS])
    if counters.is_gold or not (project.adaptive_overlap or project.judge_budget):
        return
    want = raised(counters, targets(session=session, project=project, item_ids=[item_id])[item_id])
    if want != counters.raised:
        slots.set_raised(session=session, item_id=item_id, raised=want)


def audit_flags(*, session: Session, project: Project) -> list[tuple[int, bool, bool]]:
    """Return (item id, stored, expected) for items whose audit flag is not the rule's.

    An item is in the audit sample when adaptive overlap is on and its seeded draw falls
    below the share (``agreement_rule.in_audit``); never with adaptive overlap off.
    """
    rows = session.execute(
        sa.select(slots.SLOTS.c.item_id, slots.SLOTS.c.audit).where(
            slots.SLOTS.c.project_id == project.id
        )
    ).all()
    out = []
    for item_id, stored in rows:
        want = project.adaptive_overlap and agreement_rule.in_audit(
            project.id, item_id, project.audit_share
        )
        if bool(stored) != want:
            out.append((item_id, bool(stored), want))
    return out


def off_target(*, session: Session, project: Project) -> list[tuple[int, int, int]]:
    """Return (item id, stored, expected) for items whose ``raised`` is not the rule's."""
    rows = {
        r.item_id: ItemSlots(**r._mapping)
        for r in session.execute(
            sa.select(*slots.SLOTS.c).where(
                slots.SLOTS.c.project_id == project.id, sa.not_(slots.SLOTS.c.is_gold)
            )
        )
    }
    found = targets(session=session, project=project, item_ids=rows)
    out = []
    for item_id, counters in sorted(rows.items()):
        want = raised(counters, found[item_id])
        if counters.raised != want:
            out.append((item_id, counters.raised, want))
    return out


def retarget(*, session: Session, project: Project) -> int:
    """Set every item's audit flag and ``raised`` by the rule; return how many changed.

    Call it with the project's counters locked (``settings.change_overlap`` and
    ``doctor.repair`` lock them first), after the overlap rows were copied.
    """
    flags = audit_flags(session=session, project=project)
    for item_id, _, want in flags:
        session.execute(
            sa.update(slots.SLOTS).where(slots.SLOTS.c.item_id == item_id).values(audit=want)
        )
    moved = off_target(session=session, project=project)
    for item_id, _, want in moved:
        slots.set_raised(session=session, item_id=item_id, raised=want)
    return len({i for i, _, _ in flags} | {i for i, _, _ in moved})


def publish(*, session: Session, project: Project, item_ids: list[int]) -> None:
    """Give newly imported items their audit flag and targets (adaptive overlap on only)."""
    if not project.adaptive_overlap or not item_ids:
        return
    audit = [i for i in item_ids if agreement_rule.in_audit(project.id, i, project.audit_share)]
    if audit:
        session.execute(
            sa.update(slots.SLOTS).where(slots.SLOTS.c.item_id.in_(audit)).values(audit=True)
        )
    rows = session.execute(
        sa.select(*slots.SLOTS.c).where(
            slots.SLOTS.c.item_id.in_(item_ids), sa.not_(slots.SLOTS.c.is_gold)
        )
    ).all()
    found = targets(session=session, project=project, item_ids=item_ids)
    for r in rows:
        counters = ItemSlots(**r._mapping)
        want = raised(counters, found[r.item_id])
        if want != counters.raised:
            slots.set_raised(session=session, item_id=r.item_id, raised=want)
