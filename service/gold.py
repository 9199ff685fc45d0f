"""Gold items: score judgments against known answers, and qualify raters on them.

How a judgment is scored against ``Item.gold`` (a number from 0 to 1, or None when
the gold answer says nothing about what the rater was shown):

* Pairwise, gold ``{"preferred": X}``: 1 when the rater preferred X, else 0 (a tie
  is 0). Gold items are shown in a pair that contains X, so this always applies.
* Pairwise, gold ``{"ranking": groups}``: the gold relation of the two shown
  responses (better, worse or tied, by group) against the rater's: 1 if equal, else 0.
* Pairwise, gold ``{"tie": true}``: 1 when the rater chose tie (likert7: the middle
  point), else 0. On a binary scale a tie cannot be chosen, so it is not scored.
* Ranking, gold ``{"ranking": groups}``: the share of response pairs whose order
  (better, worse or tied) the rater's ranking gives as the gold does.
  Gold ``{"preferred": X}``: 1 when X alone is the rater's first group, else 0.
  Gold ``{"tie": true}``: the share of pairs the rater tied.
* Rating projects, and any other gold shape: not scored.

Only the first version of a judgment is scored: a later revision does not change
a gold check. A rater's gold accuracy is the mean of their scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.leases import audit
from service.models import (
    GoldScore,
    Item,
    Judgment,
    Project,
    QualificationOverride,
    User,
    utcnow,
)


def _relation(position: dict[str, int], a: str, b: str) -> int:
    """Return -1 when a ranks above b, 1 when below, 0 when tied."""
    return (position[a] > position[b]) - (position[a] < position[b])


def _positions(groups: list[list[str]]) -> dict[str, int]:
    return {r: k for k, g in enumerate(groups) for r in g}


def score_judgment(
    *, mode: str, scale: str, gold: dict[str, Any] | None, verdict: dict[str, Any], shown: list[str]
) -> float | None:
    """Return how far a verdict agrees with the gold answer, from 0 to 1 (None: not scored)."""
    if not gold:
        return None
    if mode == "pairwise":
        if len(shown) < 2:
            return None
        left, right = shown[0], shown[1]
        chosen = verdict.get("preferred")
        if "preferred" in gold:
            return float(chosen == gold["preferred"]) if gold["preferred"] in shown else None
        if "ranking" in gold:
            pos = _positions(gold["ranking"])
            if left not in pos or right not in pos:
                return None
            expected = {-1: left, 1: right, 0: None}[_relation(pos, left, right)]
            return float(chosen == expected)
        if gold.get("tie") is True:
            return None if scale == "binary" else float(chosen is None)
        return None
    if mode == "ranking":
        groups = verdict.get("ranking") or []
        if "preferred" in gold:
            return float(bool(groups) and groups[0] == [gold["preferred"]])
        rater = _positions(groups)
        if "ranking" in gold:
            expected = _positions(gold["ranking"])
        elif gold.get("tie") is True:
            expected = {r: 0 for r in rater}
        else:
            return None
        pairs = [p for p in combinations(sorted(rater), 2) if p[0] in expected and p[1] in expected]
        if not pairs:
            return None
        same = sum(_relation(rater, a, b) == _relation(expected, a, b) for a, b in pairs)
        return same / len(pairs)
    return None


def record_score(*, session: Session, judgment: Judgment, project: Project, item: Item) -> None:
    """Score a first-version judgment on a gold item and store the result."""
    score = score_judgment(
        mode=project.mode,
        scale=project.scale,
        gold=item.gold,
        verdict=judgment.verdict,
        shown=judgment.shown_order,
    )
    session.add(
        GoldScore(
            judgment_id=judgment.id,
            project_id=project.id,
            rater_id=judgment.rater_id,
            item_id=item.id,
            score=score,
        )
    )


@dataclass(frozen=True)
class GoldAccuracy:
    """One rater's agreement with gold: ``accuracy`` is the mean score over ``scored``."""

    rater_id: int
    scored: int
    accuracy: float | None


def gold_accuracy(
    *, session: Session, project: Project, rater: User | None = None
) -> dict[int, GoldAccuracy]:
    """Return each rater's gold accuracy in the project (or only ``rater``'s), by rater id."""
    query = (
        select(GoldScore.rater_id, sa.func.count(GoldScore.score), sa.func.avg(GoldScore.score))
        .where(GoldScore.project_id == project.id)
        .group_by(GoldScore.rater_id)
    )
    if rater is not None:
        query = query.where(GoldScore.rater_id == rater.id)
    return {
        rid: GoldAccuracy(rid, n, float(mean) if n else None)
        for rid, n, mean in session.exec(query)
    }


@dataclass(frozen=True)
class Qualification:
    """Where a rater stands: "passed", "qualifying" (still on gold) or "failed"."""

    status: str
    answered: int
    accuracy: float | None
    message: str = ""


def qualification(*, session: Session, project: Project, rater: User) -> Qualification:
    """Tell whether the rater may take real items, is still qualifying, or failed."""
    need = project.qualification_items
    override = session.exec(
        select(QualificationOverride).where(
            QualificationOverride.project_id == project.id,
            QualificationOverride.rater_id == rater.id,
        )
    ).first()
    if override is not None:
        return Qualification("passed" if override.passed else "failed", 0, None, _failed(project))
    if need <= 0:
        return Qualification("passed", 0, None)
    scores = list(
        session.exec(
            select(GoldScore.score)
            .where(GoldScore.project_id == project.id, GoldScore.rater_id == rater.id)
            .order_by(GoldScore.judgment_id)
            .limit(need)
        )
    )
    answered = len(scores)
    counted = [s for s in scores if s is not None]
    accuracy = sum(counted) / len(counted) if counted else None
    if answered < need:
        return Qualification("qualifying", answered, accuracy)
    if accuracy is not None and accuracy < project.qualification_threshold:
        return Qualification("failed", answered, accuracy, _failed(project, accuracy))
    return Qualification("passed", answered, accuracy)


def _failed(project: Project, accuracy: float | None = None) -> str:
    got = f" You agreed with {accuracy:.0%} of them;" if accuracy is not None else ""
    return (
        f"You did not pass the qualification for {project.name!r}.{got} "
        f"{project.qualification_threshold:.0%} is needed. An admin can review your answers "
        "and let you continue."
    )


def finish_without_gold(q: Qualification, project: Project) -> Qualification:
    """Decide a qualification cut short because no gold items are left for the rater."""
    if q.answered == 0:
        return Qualification(
            "failed",
            0,
            None,
            f"{project.name!r} needs a qualification, but it has no gold items left for you. "
            "Ask an admin to let you in.",
        )
    if q.accuracy is not None and q.accuracy < project.qualification_threshold:
        return Qualification("failed", q.answered, q.accuracy, _failed(project, q.accuracy))
    return Qualification("passed", q.answered, q.accuracy)


def override_qualification(
    *, session: Session, project: Project, rater: User, passed: bool | None, admin: User, note: str
) -> QualificationOverride | None:
    """Let a rater in (or keep them out) regardless of gold; None returns to the automatic rule."""
    row = session.exec(
        select(QualificationOverride).where(
            QualificationOverride.project_id == project.id,
            QualificationOverride.rater_id == rater.id,
        )
    ).first()
    audit(
        session=session,
        actor=admin,
        action="qualification.override",
        target=f"project:{project.slug}/rater:{rater.id}",
        details={"passed": passed, "note": note},
    )
    if passed is None:
        if row is not None:
            session.delete(row)
        session.flush()
        return None
    if row is None:
        row = QualificationOverride(project_id=project.id, rater_id=rater.id, passed=passed)
    row.passed, row.admin_id, row.note, row.created_at = passed, admin.id, note, utcnow()
    session.add(row)
    session.flush()
    return row
