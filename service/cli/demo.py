"""The demo: shipped projects, their items, a recorded history and three accounts, ready to rate.

Four simulated raters have worked on every project over the last days, through the same
assignment and judgment functions as everyone, run on a simulated clock
(``models.clock_at``) so their leases and judgments carry past times. They differ the way
real raters do: Ana is careful and slow, Ben quick and mostly right, Cy favours the
response shown first, Dee is too fast and often wrong. So every dashboard shows real
figures on first start: progress per day, agreement, rater flags, disputed items,
cost and the leaderboard.

What a simulated rater decides, and how long it takes, is seeded by (rater, item, display
order): the same lease always gets the same judgment. Which items each rater is handed
follows the real assignment order (its random tie-break is the database's), so the exact
figures differ a little from one fresh database to the next. Each rater does a fixed
share of each project's pair units, so work is left for the people who sign in.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlmodel import Session, select

from service import db
from service.accounts import users
from service.cli import demo_judge
from service.images import ImageStore
from service.items import importing
from service.models import (
    Assignment,
    Item,
    ItemSlots,
    Project,
    Response,
    User,
    clock_at,
    utcnow,
)
from service.projects import projects
from service.rating import assignment, judgments, turns
from service.rating.labels import labels_for
from service.rubric import Dimension, RubricKind, rubric_of

DEMO_USERS = (
    ("admin", "admin", ["coding", "medicine", "law"], "Demo Admin"),
    ("rater1", "rater", ["coding", "medicine", "law"], "Dr. Ada Rater"),
    ("rater2", "rater", ["coding", "law"], "Sam Second"),
)
SEED = "rankroom-demo-1"
DAYS = 6  # the history covers the six days before today


@dataclass(frozen=True)
class SimulatedRater:
    """How a simulated rater works: speed, accuracy, first-shown bias, share of the work."""

    username: str
    name: str
    seconds: float  # median seconds per judgment
    accuracy: float  # chance of seeing which response is better
    first_bias: float  # chance of picking the response shown first, whatever it says
    share: float  # of each project's real items
    hourly_rate: float


SIMULATED = (
    SimulatedRater("sim-ana", "Ana (simulated: careful)", 80, 0.95, 0.0, 0.7, 42.0),
    SimulatedRater("sim-ben", "Ben (simulated: quick)", 28, 0.85, 0.0, 0.6, 30.0),
    SimulatedRater("sim-cy", "Cy (simulated: favours the left)", 45, 0.8, 0.55, 0.6, 30.0),
    SimulatedRater("sim-dee", "Dee (simulated: too fast)", 7, 0.6, 0.1, 0.45, 24.0),
)
# How good the fictional models are, as the simulated raters see it.
SKILL = {"cirrus-70b": 3, "delta-8x7b": 2, "borealis-13b": 1, "atlas-7b": 0}


def load_demo(*, prompts_dir: str | Path) -> Iterator[str]:
    """Create the demo projects and accounts (idempotently); yield lines to show the user."""
    demo = Path(prompts_dir) / "demo"
    campaigns = json.loads((demo / "projects.json").read_text(encoding="utf-8"))
    for campaign in campaigns:
        yield _load_campaign(prompts_dir, demo, campaign)
        if campaign.get("judged"):
            yield _judge_campaign(campaign["slug"])
    made = _simulate()
    yield (
        f"Recorded history: {made} new judgments by {len(SIMULATED)} simulated raters "
        f"over {DAYS} days."
    )
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


def _drop_flags(data: dict, values: set[str]) -> None:
    """Remove the named options from the template's flags dimensions."""
    if not values:
        return
    data["rubric"] = [
        replace(d, options=tuple(o for o in d.options if o.value not in values)).as_dict()
        if d.kind == RubricKind.FLAGS
        else stored
        for d, stored in zip(
            (Dimension.from_stored(x) for x in data["rubric"]), data["rubric"], strict=True
        )
    ]


def _load_campaign(prompts_dir: str | Path, demo: Path, campaign: dict) -> str:
    slug = campaign["slug"]
    with db.write_session() as s:
        project = s.exec(select(Project).where(Project.slug == slug)).first()
        if project is None:
            data = projects.load_template(prompts_dir, campaign["template"])
            data.update(campaign.get("settings") or {})
            # Domain flags belong to the project: pictures and tool use have no code.
            _drop_flags(data, set(campaign.get("drop_flags") or ()))
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
                # The image project's pictures are files next to its JSON Lines.
                images=ImageStore.from_config(current_app.config),
                image_dir=demo,
            )
        created += result.created
    return f"Project {slug} ({project.mode}): {created} new item(s)."


def _judge_campaign(slug: str) -> str:
    """Give a project the demo's simulated model judge (no endpoint), both orders."""
    with db.write_session() as s:
        project = projects.get_project(session=s, slug=slug)
        made = demo_judge.judge_project(session=s, project=project, skill=SKILL)
    return f"Project {slug}: {made} new verdict(s) by the simulated model judge."


def _simulate() -> int:
    """Let each simulated rater do their share of every project, spread over past days."""
    made = 0
    today = datetime.combine(utcnow().date(), time(0), tzinfo=utcnow().tzinfo)
    with db.write_session() as s:
        raters = [_account(s, sim) for sim in SIMULATED]
        slugs = [p.slug for p in projects.list_projects(session=s)]
    for slug in slugs:
        for sim, rater_id in zip(SIMULATED, raters, strict=True):
            with db.write_session() as s:
                project = projects.get_project(session=s, slug=slug)
                rater = s.get(User, rater_id)
                # A rater's history in a project is recorded once: loading again adds none.
                if not _started(s, project, rater_id):
                    made += _work(s, project, rater, sim, _quota(s, project, sim), today)
    return made


def _account(s: Session, sim: SimulatedRater) -> int:
    rater = s.exec(select(User).where(User.username == sim.username)).first()
    if rater is None:
        rater = users.create_user(
            session=s, username=sim.username, display_name=sim.name, expertise=_DOMAINS
        )
        rater.hourly_rate = sim.hourly_rate
        s.add(rater)
        s.flush()
    return rater.id


def _quota(s: Session, project: Project, sim: SimulatedRater) -> int:
    """Return how many real items the rater judges in the project (a rater sees one once)."""
    items = s.execute(
        sa.select(sa.func.count()).where(
            ItemSlots.project_id == project.id, sa.not_(ItemSlots.is_gold)
        )
    ).scalar_one()
    return math.ceil(sim.share * items)


def _started(s: Session, project: Project, rater_id: int) -> bool:
    leased = sa.exists().where(Assignment.project_id == project.id, Assignment.rater_id == rater_id)
    return bool(s.execute(sa.select(leased)).scalar())


def _work(
    s: Session, project: Project, rater: User, sim: SimulatedRater, left: int, today: datetime
) -> int:
    """Judge up to ``left`` real items, a few each day from DAYS days ago; return how many."""
    per_day = math.ceil(left / DAYS)
    start = 8 + SIMULATED.index(sim)  # each rater starts their day at a different hour
    made = real = 0
    for day in range(DAYS, 0, -1):
        at = today - timedelta(days=day, hours=-start)
        todays = 0
        while todays < per_day and real < left:
            with clock_at(at):
                lease = assignment.next_assignment(session=s, project=project, rater=rater)
            if isinstance(lease, assignment.NoWork):
                return made
            payload, seconds = _judge(s, project, lease, sim)
            at += timedelta(seconds=seconds)
            with clock_at(at):
                judgments.record_judgment(
                    session=s, assignment_id=lease.id, rater=rater, payload=payload
                )
            at += timedelta(seconds=5 + _rng(sim, lease, "pause").random() * 20)
            made += 1
            if not lease.is_gold:
                todays += 1
                real += 1
    return made


_DOMAINS = ["coding", "medicine", "law"]


def _rng(sim: SimulatedRater, lease: Assignment, what: str) -> random.Random:
    """A generator seeded by the rater, the item and its display order (not the lease id)."""
    key = f"{SEED}|{sim.username}|{lease.item_id}|{','.join(lease.shown_order)}|{what}"
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def _judge(
    s: Session, project: Project, lease: Assignment, sim: SimulatedRater
) -> tuple[dict[str, Any], float]:
    """Return a simulated rater's payload and the seconds it took."""
    models = dict(
        s.exec(
            select(Response.external_id, Response.model).where(Response.item_id == lease.item_id)
        ).all()
    )
    rng = _rng(sim, lease, "judge")
    shown = list(lease.shown_order)
    label = {rid: lab for lab, rid in labels_for(shown).items()}
    skill = {rid: SKILL.get(models.get(rid, ""), 1) for rid in shown}
    if rng.random() >= sim.accuracy:  # misjudged: sees the worse as the better
        skill = {rid: -v for rid, v in skill.items()}
    if rng.random() < sim.first_bias:  # the first shown looks best, whatever it says
        skill[shown[0]] = max(skill.values()) + 1
    seconds = sim.seconds * math.exp(rng.gauss(0, 0.35))
    payload: dict[str, Any] = {
        "client_id": f"demo-{lease.id:08d}",
        "active_ms": int(seconds * 1000),
    }
    best_first = sorted(shown, key=lambda rid: -skill[rid])
    if project.mode == "ranking":
        groups: dict[int, list[str]] = {}
        for rid in best_first:
            groups.setdefault(skill[rid], []).append(label[rid])
        payload["verdict"] = {"ranking": list(groups.values())}
    elif project.mode == "pairwise":
        left, right = shown
        gap = skill[left] - skill[right]
        if project.scale == "likert7":
            payload["verdict"] = {"scale_value": 4 - max(-3, min(3, gap))}
        else:
            tie = "A" if project.scale == "binary" else "tie"
            payload["verdict"] = {"choice": "A" if gap > 0 else "B" if gap < 0 else tie}
    payload["rubric"] = _rubric(project, {label[r]: skill[r] for r in shown}, rng)
    per_turn = _turn_rubric(s, project, lease, sim)
    if per_turn:
        payload["rubric"]["turn"] = per_turn
    rewrite = _rewrite(s, project, lease, payload.get("verdict", {}), _rng(sim, lease, "rewrite"))
    if rewrite:
        payload["rewrite"] = rewrite
    return payload, seconds


REWRITE_RATE = 0.25
REWRITE_NOTE = "\n\nBefore relying on this, test it on a copy of your own data."


def _rewrite(
    s: Session, project: Project, lease: Assignment, verdict: dict[str, Any], rng: random.Random
) -> dict[str, str] | None:
    """Return a simulated rewrite of the preferred response (pairwise, edit on), or None."""
    choice = verdict.get("choice")
    if project.edit == "off" or choice not in ("A", "B") or rng.random() >= REWRITE_RATE:
        return None
    rid = labels_for(lease.shown_order)[choice]
    original = s.exec(
        select(Response.content).where(
            Response.item_id == lease.item_id, Response.external_id == rid
        )
    ).one()
    return {"response": choice, "text": original.rstrip() + REWRITE_NOTE}


def _rubric(project: Project, skill: dict[str, int], rng: random.Random) -> dict[str, Any]:
    """Fill every likert dimension: per response from its skill, per item near the top."""
    out: dict[str, Any] = {"response": {lab: {} for lab in skill}, "item": {}}
    for dim in rubric_of(project).likert():
        points = dim.points or 0
        if dim.per_turn:
            continue  # _turn_rubric
        if not dim.per_response:
            out["item"][dim.name] = max(1, points - 1 - rng.randrange(2))
            continue
        for lab, value in skill.items():
            out["response"][lab][dim.name] = max(1, min(points, 2 + value))
    return out


def _turn_rubric(
    s: Session, project: Project, lease: Assignment, sim: SimulatedRater
) -> dict[str, dict[str, Any]]:
    """Rate every assistant turn (rating/turns.py) near the quality the item's metadata gives.

    A misjudged turn is seen upside down; a turn rated 2 or lower gets the first flag.
    """
    dims = rubric_of(project).per_turn
    if not dims:
        return {}
    item = s.get(Item, lease.item_id)
    quality = (item.meta or {}).get("demo_turn_quality") or []
    rng = _rng(sim, lease, "turns")
    out: dict[str, dict[str, Any]] = {}
    for i in range(len(turns.assistant_turns(item.messages))):
        seen = quality[i] if i < len(quality) else 3
        if rng.random() >= sim.accuracy:
            seen = 6 - seen
        values: dict[str, Any] = {}
        for dim in dims:
            if dim.kind == RubricKind.LIKERT:
                noisy = seen + rng.choice((-1, 0, 0, 1))
                values[dim.name] = max(1, min(dim.points or 5, noisy))
            elif dim.kind == RubricKind.FLAGS and seen <= 2:
                values[dim.name] = [dim.options[0].value]
        out[str(i)] = values
    return out
