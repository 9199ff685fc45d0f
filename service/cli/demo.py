"""The demo: shipped projects, their items, sample judgments and three accounts, ready to rate.

Two simulated raters judge every item once, through the same assignment and judgment
functions as everyone, so that each dashboard has something to show from the start
(agreement needs two ratings of one unit). They agree on the better model's response,
except that the second dissents on every fourth item and calls every fourth a tie.
With the shipped overlap of 3 each unit they judged still wants one more rater, and
pairwise items with more than two responses have their other pairs still to do.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from service import db
from service.accounts import users
from service.items import importing
from service.models import Assignment, Project, Response, User
from service.projects import projects
from service.rating import assignment, judgments
from service.rating.labels import labels_for
from service.rubric import rubric_of

DEMO_USERS = (
    ("admin", "admin", ["coding", "medicine", "law"], "Demo Admin"),
    ("rater1", "rater", ["coding", "medicine", "law"], "Dr. Ada Rater"),
    ("rater2", "rater", ["coding", "law"], "Sam Second"),
)
SIMULATED = (("sim-ana", "Ana (simulated)"), ("sim-ben", "Ben (simulated)"))
# How good the fictional models are, as the simulated raters see it.
SKILL = {"cirrus-70b": 3, "delta-8x7b": 2, "borealis-13b": 1, "atlas-7b": 0}


def load_demo(*, prompts_dir: str | Path) -> Iterator[str]:
    """Create the demo projects and accounts (idempotently); yield lines to show the user."""
    demo = Path(prompts_dir) / "demo"
    campaigns = json.loads((demo / "projects.json").read_text(encoding="utf-8"))
    for campaign in campaigns:
        yield _load_campaign(prompts_dir, demo, campaign)
    with db.write_session() as s:
        made = _simulate(s)
    yield f"Sample judgments by {len(SIMULATED)} simulated raters: {made} new."
    yield "Demo accounts (passwords are new each time the demo starts):"
    with db.write_session() as s:
        for username, role, expertise, name in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                users.create_user(
                    session=s,
                    username=username,
                    role=role,
                    password=password,
                    display_name=name,
                    expertise=expertise,
                )
            else:
                user.password_hash = users.hash_password(password)
                s.add(user)
            yield f"  {role:<8} {username:<8} {password}"


def _load_campaign(prompts_dir: str | Path, demo: Path, campaign: dict) -> str:
    slug = campaign["slug"]
    with db.write_session() as s:
        project = s.exec(select(Project).where(Project.slug == slug)).first()
        if project is None:
            data = projects.load_template(prompts_dir, campaign["template"])
            data.update(campaign.get("settings") or {})
            data.update(slug=slug, name=campaign.get("name") or data["name"])
            project = projects.create_project(session=s, data=data)
    created = 0
    for name in campaign["files"]:
        with (demo / name).open("rb") as stream:
            result = importing.import_items(
                engine=db.engine(),
                project=project,
                rows=importing.read_jsonl(stream),
                source=f"demo/{name}",
                kind="file",
            )
        created += result.created
    return f"Project {slug} ({project.mode}): {created} new item(s)."


def _simulate(s: Session) -> int:
    """Let the simulated raters judge every item they have not seen; return how many."""
    made = 0
    for k, (username, name) in enumerate(SIMULATED):
        rater = s.exec(select(User).where(User.username == username)).first()
        if rater is None:
            rater = users.create_user(
                session=s, username=username, display_name=name, expertise=_DOMAINS
            )
        for project in projects.list_projects(session=s):
            while not isinstance(
                lease := assignment.next_assignment(session=s, project=project, rater=rater),
                assignment.NoWork,
            ):
                payload = _judge(s, project, lease, dissent=k == 1, n=made)
                judgments.record_judgment(
                    session=s, assignment_id=lease.id, rater=rater, payload=payload
                )
                made += 1
    return made


_DOMAINS = ["coding", "medicine", "law"]


def _judge(s: Session, project: Project, lease: Assignment, *, dissent: bool, n: int) -> dict:
    """Return a simulated rater's payload: the better model preferred (see the docstring)."""
    models = dict(
        s.exec(
            select(Response.external_id, Response.model).where(Response.item_id == lease.item_id)
        ).all()
    )
    label = {rid: lab for lab, rid in labels_for(lease.shown_order).items()}
    skill = {rid: SKILL.get(models.get(rid, ""), 1) for rid in lease.shown_order}
    if dissent and n % 4 == 1:  # the worse response first
        skill = {rid: -v for rid, v in skill.items()}
    if dissent and n % 4 == 3:  # no preference
        skill = dict.fromkeys(skill, 1)
    best_first = sorted(lease.shown_order, key=lambda rid: -skill[rid])
    payload: dict[str, Any] = {"client_id": f"demo-{lease.id:08d}", "active_ms": 45_000}
    if project.mode == "ranking":
        groups: dict[int, list[str]] = {}
        for rid in best_first:
            groups.setdefault(skill[rid], []).append(label[rid])
        payload["verdict"] = {"ranking": list(groups.values())}
    elif project.mode == "pairwise":
        left, right = lease.shown_order
        gap = skill[left] - skill[right]
        if project.scale == "likert7":
            payload["verdict"] = {"scale_value": 4 - max(-3, min(3, gap))}
        else:
            tie = "A" if project.scale == "binary" else "tie"
            payload["verdict"] = {"choice": "A" if gap > 0 else "B" if gap < 0 else tie}
    payload["rubric"] = _rubric(project, {label[r]: skill[r] for r in lease.shown_order}, n)
    return payload


def _rubric(project: Project, skill: dict[str, int], n: int) -> dict[str, Any]:
    """Fill every likert dimension: per response from its skill, per item near the top."""
    out: dict[str, Any] = {"response": {lab: {} for lab in skill}, "item": {}}
    for dim in rubric_of(project).likert():
        points = dim.points or 0
        if not dim.per_response:
            out["item"][dim.name] = max(1, points - 1 - n % 2)
            continue
        for lab, value in skill.items():
            out["response"][lab][dim.name] = max(1, min(points, 2 + value))
    return out
