"""The demo's model judge: deterministic simulated verdicts, stored as a real judge's are.

No endpoint is called. The simulated judge prefers the response of the stronger
fictional model, and errs on a seeded share of (item, order) pairs: then it prefers the
response shown first, so some of its verdicts flip with the order, as real judges' do.
Verdicts go through ``judged.after_verdicts`` like the runner's, so triage and budget
mode see them. Loading the demo again adds none (each request hash is stored once).
"""

from __future__ import annotations

import hashlib
import random

import sqlalchemy as sa
from sqlmodel import Session, select

from service.judging import runner
from service.models import Item, Judge, JudgeVerdict, Project, Response
from service.rating import judged
from service.rating.shown import of_item

NAME = "demo-judge"
FIRST_SHOWN_SHARE = 0.2  # of (item, order) pairs the judge just prefers the first shown


def judge_project(*, session: Session, project: Project, skill: dict[str, int]) -> int:
    """Judge every pair unit of the project's real items in both orders; return verdicts made."""
    judge = session.exec(
        select(Judge).where(Judge.project_id == project.id, Judge.name == NAME)
    ).first()
    if judge is None:
        judge = Judge(project_id=project.id, name=NAME, config={"model": "simulated-judge"})
        session.add(judge)
        session.flush()
    assert judge.id is not None
    done = set(
        session.execute(
            sa.select(JudgeVerdict.request_sha256).where(JudgeVerdict.judge_id == judge.id)
        ).scalars()
    )
    items = session.exec(
        select(Item.id).where(Item.project_id == project.id, ~Item.is_gold).order_by(Item.id)
    ).all()
    made = 0
    for item_id in items:
        models = dict(
            session.exec(
                select(Response.external_id, Response.model)
                .where(Response.item_id == item_id)
                .order_by(Response.position)
            ).all()
        )
        # Every pair unit the raters compare, in both orders, as the runner asks them.
        for shown_order in runner.orders(project.mode, list(models), project):
            order = list(shown_order)
            key = hashlib.sha256(f"{NAME}|{item_id}|{','.join(order)}".encode()).hexdigest()
            if key in done:
                continue
            session.add(_verdict(session, project, judge.id, item_id, order, key, models, skill))
            made += 1
        session.flush()
        judged.after_verdicts(session=session, project=project, item_id=item_id)
    return made


def _verdict(
    session: Session,
    project: Project,
    judge_id: int,
    item_id: int,
    order: list[str],
    key: str,
    models: dict[str, str],
    skill: dict[str, int],
) -> JudgeVerdict:
    rng = random.Random(int(key[:16], 16))
    strength = {rid: skill.get(models[rid], 1) for rid in order}
    if rng.random() < FIRST_SHOWN_SHARE:
        preferred: str | None = order[0]
    elif strength[order[0]] == strength[order[1]]:
        preferred = None
    else:
        preferred = max(order, key=lambda rid: strength[rid])
    gap = abs(strength[order[0]] - strength[order[1]])
    return JudgeVerdict(
        project_id=project.id,
        item_id=item_id,
        judge_id=judge_id,
        shown_order=order,
        verdict={"preferred": preferred, "strength": min(3, max(1, gap)) if preferred else None},
        rationale="Simulated judge (demo).",
        guideline_version=project.guideline_version,
        shown_sha256=of_item(
            session=session,
            item_id=item_id,
            shown_order=order,
            guideline_version=project.guideline_version,
        ),
        request_sha256=key,
        served_model="simulated-judge",
    )
