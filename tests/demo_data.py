"""A small, lifelike campaign for dashboard tests: models of different strength, raters of
different care (one always picks the left response, one rushes), skips and a rubric."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from service import db
from service.dashboards.adjudication import adjudicate
from service.models import Assignment, Item, Judgment, Project, User, utcnow
from tests.factories import Factory, item_row, rewriting_history
from tests.seeding import judge_all

RUBRIC = [
    {
        "name": "correctness",
        "label": "Correctness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
    },
    {"name": "clarity", "label": "Clarity", "scope": "response", "kind": "likert", "points": 5},
]
MODELS = {"model-0": 1.2, "model-1": 0.4, "model-2": -0.3, "model-3": -1.0}
RATERS = [  # username, name, expertise, style, typical seconds, most judgments they make
    ("dr_ada", "Dr. Ada Okafor", ["cardiology"], "careful", 95.0, 26),
    ("dr_ben", "Dr. Ben Li", ["cardiology"], "careful", 70.0, 24),
    ("dr_cho", "Dr. Cho Park", ["pharmacy"], "careful", 120.0, 22),
    ("sam_fast", "Sam Quick", ["pharmacy"], "rushed", 6.0, 20),
    ("lee_left", "Lee Lefty", ["cardiology"], "left", 40.0, 18),
]


def campaign_rows(n_items: int, seed: int) -> list[dict[str, Any]]:
    """Return items with two responses from two different models each."""
    rng = random.Random(seed)
    rows = []
    for k in range(n_items):
        a, b = rng.sample(list(MODELS), 2)
        row = item_row(f"case-{k + 1:03d}", tags=["cardiology"] if k % 3 == 0 else ["dosing"])
        row["responses"][0]["model"] = a
        row["responses"][1]["model"] = b
        rows.append(row)
    return rows


def _decider(
    style: str, seconds: float, models: dict[str, dict[str, str]], rng: random.Random
) -> Any:
    def decide(ext: str, shown: list[str]) -> Any:
        if style == "careful" and rng.random() < 0.06:
            return None  # skipped
        left, right = shown
        gap = MODELS[models[ext][left]] - MODELS[models[ext][right]]
        if style == "left":
            verdict = left
        elif style == "rushed":
            verdict = rng.choice([left, right, "tie"])
        else:
            p_left = 1 / (1 + 2.718 ** (-1.6 * gap))
            draw = rng.random()
            verdict = "tie" if abs(gap) < 0.8 and draw < 0.2 else left if draw < p_left else right
        odd = int(ext.split("-")[1]) % 2
        scores = {}
        for rid in shown:
            base = 3 + round(MODELS[models[ext][rid]]) + (rng.random() < 0.25) * rng.choice([-1, 1])
            scores[rid] = {
                "correctness": max(1, min(5, base)),
                "clarity": max(1, min(5, base + odd)),
            }
        if style == "careful" and verdict in scores:
            # A careful rater does not score the response they preferred lower on everything.
            other = right if verdict == left else left
            if all(scores[other][d] > scores[verdict][d] for d in scores[other]):
                scores[verdict], scores[other] = scores[other], scores[verdict]
        ms = int(1000 * seconds * rng.uniform(0.6, 1.5))
        return verdict, {"active_ms": ms, "scores": scores}

    return decide


def seed_campaign(
    app: Flask, make: Factory, *, n_items: int = 30, seed: int = 1
) -> tuple[Project, list[User]]:
    """Create the campaign and have five raters work through it."""
    project = make.project(
        slug="cardio-pairs",
        name="Cardiology answers",
        mode="pairwise",
        scale="ternary",
        overlap=4,
        rubric=RUBRIC,
    )
    rows = campaign_rows(n_items, seed)
    make.items(project, rows)
    models = {row["id"]: {r["id"]: r["model"] for r in row["responses"]} for row in rows}
    rng = random.Random(seed)
    raters = []
    for username, name, expertise, style, seconds, limit in RATERS:
        user = make.user("rater", username=username, display_name=name, expertise=expertise)
        raters.append(user)
        judge_all(app, project, user, _decider(style, seconds, models, rng), limit=limit)
    spread_over_days(app, project, days=10)
    chief = make.user("admin", username="chief", display_name="Chief Editor")
    with app.app_context(), db.write_session() as s:
        for row in rows[:3]:
            item = s.execute(sa.select(Item).where(Item.external_id == row["id"])).scalar_one()
            best = max(models[row["id"]], key=lambda rid: MODELS[models[row["id"]][rid]])
            adjudicate(
                session=s,
                project=s.get(Project, project.id),
                item_id=item.id,
                admin=s.get(User, chief.id),
                verdict={"preferred": best},
                note="The stronger model's answer is right.",
                promote_to_gold=True,
                confirm_override=True,  # where the raters' majority said otherwise
            )
    with app.app_context(), db.write_session() as s:
        for user, rate in zip(raters[:2], (180.0, 150.0), strict=True):
            s.execute(sa.update(User).where(User.id == user.id).values(hourly_rate=rate))
    return project, raters


def spread_over_days(app: Flask, project: Project, *, days: int) -> None:
    """Move the campaign's history back so that it ran over the last ``days`` days, in order.

    Test data is made in seconds; dashboards about pace need it spread over time.
    """
    now = utcnow()
    with app.app_context(), db.write_session() as s, rewriting_history(s):
        ids = s.execute(
            sa.select(Judgment.id, Judgment.assignment_id)
            .where(Judgment.project_id == project.id)
            .order_by(Judgment.id)
        ).all()
        step = timedelta(days=days) / max(len(ids), 1)
        for k, (jid, lease_id) in enumerate(ids):
            when = now - step * (len(ids) - k)
            s.execute(sa.update(Judgment).where(Judgment.id == jid).values(created_at=when))
            s.execute(
                sa.update(Assignment)
                .where(Assignment.id == lease_id)
                .values(created_at=when - timedelta(minutes=2), finished_at=when)
            )
