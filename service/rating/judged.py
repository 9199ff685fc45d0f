"""What a model judge's verdict does to the hand-out: triage order and budget capacity.

Called in the transaction that stores an item's judge verdicts (``after_verdicts``), it
locks the item's slot row first, so the verdicts read next include every one stored
before, as a human submission settles adaptive overlap (adaptive.py): two verdicts on
one item settle one after the other, and a rater claiming the item either took its slot
before (and keeps it) or sees the new capacity and priority.

Triage (judge_rule.py) keeps ``item_slots.priority`` at the item's own priority plus
``TRIAGE_RAISE`` while the item is contested, so the hand-out statements and their
index serve it first unchanged. The item trigger keeps that raise when an admin changes
the item's priority (migration judges_triage); ``rankroom doctor`` checks it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from service.models import Item, Project
from service.rating import adaptive, judge_rule, judge_votes, slots

# The project settings the triage rule reads (as committed, under the row lock).
TRIAGE_SETTINGS = ("judge_triage",)


def after_verdicts(*, session: Session, project: Project, item_id: int) -> None:
    """Apply triage and budget mode to an item whose judge verdicts were just stored."""
    counters = slots.lock(session=session, item_id=item_id)
    session.refresh(project, [*TRIAGE_SETTINGS, *adaptive.TARGET_SETTINGS])
    if counters.is_gold:
        return
    want = wanted_priorities(session=session, project=project, item_ids=[item_id])[item_id]
    if want != counters.priority:
        _set_priority(session, item_id, want)
    adaptive.settle(session=session, project=project, item_id=item_id)


def wanted_priorities(*, session: Session, project: Project, item_ids: list[int]) -> dict[int, int]:
    """Return the slot priority the triage rule gives each item (its own, or raised)."""
    own = dict(
        session.execute(sa.select(Item.id, Item.priority).where(Item.id.in_(item_ids))).all()
    )
    if not project.judge_triage:
        return own
    contested = judge_votes.contested_items(session=session, project=project, item_ids=own)
    return {i: p + (judge_rule.TRIAGE_RAISE if i in contested else 0) for i, p in own.items()}


def priority_drift(*, session: Session, project: Project) -> list[tuple[int, int, int]]:
    """Return (item id, stored, expected) for real items whose slot priority is not the rule's."""
    rows = dict(
        session.execute(
            sa.select(slots.SLOTS.c.item_id, slots.SLOTS.c.priority).where(
                slots.SLOTS.c.project_id == project.id, sa.not_(slots.SLOTS.c.is_gold)
            )
        ).all()
    )
    want = wanted_priorities(session=session, project=project, item_ids=list(rows))
    return [(i, rows[i], want[i]) for i in sorted(rows) if rows[i] != want[i]]


def retriage(*, session: Session, project: Project) -> int:
    """Set every item's slot priority by the triage rule; return how many changed.

    Call it with the project's counters locked (a settings change, ``doctor.repair``).
    """
    moved = priority_drift(session=session, project=project)
    for item_id, _, want in moved:
        _set_priority(session, item_id, want)
    return len(moved)


def _set_priority(session: Session, item_id: int, priority: int) -> None:
    session.execute(
        sa.update(slots.SLOTS).where(slots.SLOTS.c.item_id == item_id).values(priority=priority)
    )
