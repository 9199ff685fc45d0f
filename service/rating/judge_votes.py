"""Model judges' verdicts on stored data, per item and unit, for the rules in judge_rule.py.

Only active judges count, and each one's newest verdict per item and order shown (a
re-run after a guideline change appends new rows). Verdicts are reduced as human ones
are (``agreement_rule.verdict_of``), so "slightly" and "much" better agree.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session

from service.models import Judge, JudgeVerdict, Project
from service.rating import agreement_rule, judge_rule, pairs
from service.rubric import rubric_of

# The one unit of an item that has a single unit (as adaptive.WHOLE).
_WHOLE: list[pairs.Unit] = [frozenset()]


def active_judges(*, session: Session, project: Project) -> set[int]:
    """Return the ids of the project's active judges."""
    query = sa.select(Judge.id).where(Judge.project_id == project.id, Judge.active)
    return set(session.execute(query).scalars())


def unit_votes(
    *,
    session: Session,
    project: Project,
    item_ids: Iterable[int],
    units: dict[int, list[pairs.Unit]],
    judges: set[int],
) -> dict[int, list[list[judge_rule.JudgeVote]]]:
    """Return each item's judge votes per unit (``units``: items of several units only)."""
    ids = sorted(set(item_ids))
    if not ids or not judges:
        return {}
    query = (
        sa.select(
            JudgeVerdict.item_id,
            JudgeVerdict.judge_id,
            JudgeVerdict.shown_order,
            JudgeVerdict.verdict,
            JudgeVerdict.rubric,
        )
        .where(JudgeVerdict.item_id.in_(ids), JudgeVerdict.judge_id.in_(sorted(judges)))
        .order_by(JudgeVerdict.id)
    )
    main = rubric_of(project).main_rating
    newest: dict[tuple[int, int, tuple[str, ...]], agreement_rule.Verdict] = {}
    for item_id, judge_id, shown, verdict, rubric in session.execute(query):
        order = tuple(shown or [])
        newest[item_id, judge_id, order] = agreement_rule.verdict_of(
            project.mode, verdict or {}, rubric or {}, main.name if main else None
        )
    out: dict[int, list[list[judge_rule.JudgeVote]]] = {}
    for (item_id, judge_id, order), verdict in newest.items():
        of = units.get(item_id, _WHOLE)
        k = pairs.unit_of(list(order), of)
        if k is not None:
            out.setdefault(item_id, [[] for _ in of])[k].append((judge_id, order, verdict))
    return out


def budget_units(
    *,
    session: Session,
    project: Project,
    item_ids: Iterable[int],
    units: dict[int, list[pairs.Unit]],
) -> dict[int, set[int]]:
    """Return, per item outside the audit sample, the units its judges settled (budget mode)."""
    if not project.judge_budget:
        return {}
    share = project.judge_audit_share
    ids = [i for i in item_ids if not agreement_rule.in_audit(project.id, i, share)]
    judges = active_judges(session=session, project=project)
    found = unit_votes(session=session, project=project, item_ids=ids, units=units, judges=judges)
    return {
        item_id: {k for k, votes in enumerate(per_unit) if judge_rule.settled(votes, judges)}
        for item_id, per_unit in found.items()
    }


def contested_items(*, session: Session, project: Project, item_ids: Iterable[int]) -> set[int]:
    """Return the items on which two judge verdicts differ (on any one unit)."""
    judges = active_judges(session=session, project=project)
    found = unit_votes(session=session, project=project, item_ids=item_ids, units={}, judges=judges)
    # An item's verdicts compared per set of responses shown (one pair of a pairwise item
    # of several pairs, or all of them), never across two different pairs.
    return {
        item_id
        for item_id, (votes,) in found.items()
        if any(
            judge_rule.contested([v for v in votes if frozenset(v[1]) == shown])
            for shown in {frozenset(v[1]) for v in votes}
        )
    }
