"""Gold items: score judgments against known answers, and qualify raters on them.

The score itself is ``service.stats.rankings.score_judgment`` (a number from 0 to 1, or None when
the gold answer decides nothing about what the rater was shown), the rule the dashboards and
the export use too. Only the first version of a judgment is scored here: a later revision
does not change a gold check. A rater's gold accuracy is the mean of their scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from service import audit
from service.models import (
    GoldScore,
    Item,
    Judgment,
    Project,
    QualificationOverride,
    QualificationReset,
    User,
    utcnow,
)
from service.rubric import rubric_of
from service.stats import rankings


def record_score(*, session: Session, judgment: Judgment, project: Project, item: Item) -> None:
    """Score a first-version judgment on a gold item and store the result."""
    score = rankings.score_judgment(
        mode=project.mode,
        scale=project.scale,
        rubric=rubric_of(project),
        gold=item.gold,
        verdict=judgment.verdict,
        shown=judgment.shown_order,
        judged=judgment.rubric,
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


def _reset_after(project_id: int, rater_id: int) -> sa.ColumnElement[int]:
    """SQL: the judgment id after which gold answers count (0 unless an admin reset it)."""
    reset = sa.select(QualificationReset.after_judgment_id).where(
        QualificationReset.project_id == project_id, QualificationReset.rater_id == rater_id
    )
    return sa.func.coalesce(reset.scalar_subquery(), 0)


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
            .where(
                GoldScore.project_id == project.id,
                GoldScore.rater_id == rater.id,
                GoldScore.judgment_id > _reset_after(project.id, rater.id),
            )
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
    audit.record(
        session=session,
        actor_id=admin.id,
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


def reset_qualification(
    *, session: Session, project: Project, rater: User, actor_id: int | None
) -> QualificationReset:
    """Make a rater qualify again: drop any override; only gold answered from now on counts."""
    last = session.execute(
        sa.select(sa.func.coalesce(sa.func.max(GoldScore.judgment_id), 0)).where(
            GoldScore.project_id == project.id, GoldScore.rater_id == rater.id
        )
    ).scalar_one()
    session.execute(
        sa.delete(QualificationOverride).where(
            QualificationOverride.project_id == project.id,
            QualificationOverride.rater_id == rater.id,
        )
    )
    row = session.exec(
        select(QualificationReset).where(
            QualificationReset.project_id == project.id, QualificationReset.rater_id == rater.id
        )
    ).first() or QualificationReset(project_id=project.id, rater_id=rater.id)
    row.after_judgment_id, row.admin_id, row.created_at = last, actor_id, utcnow()
    session.add(row)
    audit.record(
        session=session,
        actor_id=actor_id,
        action="qualification.reset",
        target=f"project:{project.slug}/rater:{rater.id}",
        details={"after_judgment_id": last},
    )
    session.flush()
    return row
