"""Judgments listed for admins: one rater's, or every rater's on one item side by side."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.adjudication import adjudications_of, consensus_of, project_item
from service.dashboards.conditions import current_judgment_filter
from service.dashboards.filters import Filters
from service.dashboards.lookups import load_gold, load_raters
from service.errors import NotFound
from service.models import Assignment, Item, Judgment, Project, Response, User
from service.rubric import rubric_of
from service.stats.rankings import score_judgment


def describe_verdict(verdict: dict[str, Any], *, strength: bool = True) -> str:
    """Say a verdict in response ids: "a", "tie", "c > a = b"; "scores only" for ratings."""
    if "ranking" in verdict:
        return " > ".join(" = ".join(group) for group in verdict["ranking"] or [])
    if verdict.get("tie"):
        return "tie"
    if "preferred" not in verdict:
        return "scores only"
    label = verdict["preferred"] if verdict["preferred"] is not None else "tie"
    if strength and verdict.get("strength"):
        label += f" (strength {verdict['strength']})"
    return label


def _row(j: Judgment, gold: dict[str, Any] | None, project: Project) -> dict[str, Any]:
    score = score_judgment(
        mode=project.mode,
        scale=project.scale,
        rubric=rubric_of(project),
        gold=gold,
        verdict=j.verdict,
        shown=j.shown_order,
        judged=j.rubric,
    )
    return {
        "id": j.id,
        "item_id": j.item_id,
        "rater_id": j.rater_id,
        "version": j.version,
        "created_at": j.created_at.isoformat(),
        "seconds": j.active_ms / 1000 if j.active_ms is not None else None,
        "shown_order": j.shown_order,
        "verdict": j.verdict,
        "says": describe_verdict(j.verdict),
        "scores": (j.rubric or {}).get("response") or {},
        "item_fields": (j.rubric or {}).get("item") or {},
        "both_bad": j.both_bad,
        "flags": j.flags,
        "rationale": j.rationale,
        "confidence": j.confidence,
        "gold_score": score,
    }


def rater_judgments(
    *, session: Session, project: Project, rater_id: int, filters: Filters
) -> dict[str, Any]:
    """Return one rater's current judgments, newest first, each beside what the others said."""
    people = load_raters(session=session, ids=[rater_id])
    # Only the project's own raters: any other id would name an account (admins, other
    # projects' raters) to whoever may read this project's statistics.
    if rater_id not in people or not _worked_on(session, project, rater_id):
        raise NotFound(f"No rater {rater_id} in project {project.slug!r}.")
    mine = sa.select(Judgment.item_id).where(
        Judgment.project_id == project.id, Judgment.rater_id == rater_id
    )
    query = (
        sa.select(Judgment, Item.external_id)
        .join(Item, Item.id == Judgment.item_id)
        .where(
            Judgment.project_id == project.id,
            Judgment.item_id.in_(mine),
            *current_judgment_filter(filters),
        )
        .order_by(Judgment.id.desc())
    )
    gold = load_gold(session=session, project=project)
    others: dict[int, Counter[str]] = defaultdict(Counter)
    rows = []
    for j, external_id in session.execute(query):
        if j.rater_id != rater_id:
            others[j.item_id][describe_verdict(j.verdict, strength=False)] += 1
        else:
            rows.append(_row(j, gold.get(j.item_id), project) | {"item": external_id})
    for row in rows:
        row["others"] = dict(sorted(others[row["item_id"]].items()))
    person = people[rater_id]
    return {
        "rater": {
            "id": person.id,
            "username": person.username,
            "name": person.name,
            "expertise": person.expertise,
        },
        "judgments": rows,
    }


def _worked_on(session: Session, project: Project, rater_id: int) -> bool:
    """Tell whether the user held a lease or left a judgment in the project."""
    leased = sa.exists().where(Assignment.project_id == project.id, Assignment.rater_id == rater_id)
    judged = sa.exists().where(Judgment.project_id == project.id, Judgment.rater_id == rater_id)
    return bool(session.execute(sa.select(leased | judged)).scalar())


def item_judgments(*, session: Session, project: Project, item_id: int) -> dict[str, Any]:
    """Return an item, its responses, every current judgment on it and its adjudications."""
    item = project_item(session=session, project=project, item_id=item_id)
    responses = session.execute(
        sa.select(Response).where(Response.item_id == item.id).order_by(Response.position)
    ).scalars()
    query = (
        sa.select(Judgment, User.display_name, User.username)
        .join(Item, Item.id == Judgment.item_id)
        .join(User, User.id == Judgment.rater_id)
        .where(Judgment.item_id == item.id, *current_judgment_filter(Filters()))
        .order_by(Judgment.id)
    )
    rows = [
        _row(j, item.gold if item.is_gold else None, project) | {"rater": name or username}
        for j, name, username in session.execute(query)
    ]
    responses = list(responses)
    agreed = consensus_of([r["verdict"] for r in rows], [r.external_id for r in responses])
    return {
        "item": {
            "id": item.id,
            "external_id": item.external_id,
            "prompt": item.prompt,
            "messages": item.messages,
            "tags": item.tags,
            "is_gold": item.is_gold,
            "gold": item.gold,
        },
        "responses": [
            {"id": r.external_id, "model": r.model, "content": r.content} for r in responses
        ],
        "judgments": rows,
        "summary": dict(Counter(describe_verdict(r["verdict"], strength=False) for r in rows)),
        # What the adjudication form starts from, and the majority it may overrule only
        # with a reason and a confirm (``adjudicate``).
        "consensus": {"prefill": agreed.prefill, "majority": agreed.majority},
        "adjudications": adjudications_of(session=session, item_id=item.id),
    }
