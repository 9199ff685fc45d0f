"""Who rates what: leases on items, exact overlap, no repeats, gold, routing and caps.

An item wants ``overlap`` distinct raters on each of its pair units (one unit unless a
pairwise item has more than two responses; see pairs.py). Its slots taken are its
submitted judgments plus its leases still marked active (``slots.py`` keeps the count
and frees the slots of expired leases). "Next item" returns the rater's live lease or
leases one new item, in order: priority, then closest to completion (or least
started, for "spread"), then random. Gold items are mixed in at the project's rate
and never count towards overlap.

Concurrency: the next item is chosen and its slot taken in one statement
(``slots.take_next``). On PostgreSQL its counter row is claimed with FOR UPDATE SKIP
LOCKED, so raters never wait on each other, and one rater's own concurrent requests
are serialised by a transaction-level advisory lock. On SQLite every writing request
runs in one BEGIN IMMEDIATE transaction (``db.session``), so claims are serial.

Only the rater's own requests and the hand-out statements are on the hot path; they
are built once at import (building a SQLAlchemy statement costs more than running it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.db import is_sqlite
from service.errors import Conflict
from service.models import (
    PROJECT_WORK_COLUMNS,
    Assignment,
    Item,
    LeaseStatus,
    Project,
    ProjectStatus,
    Response,
    User,
    adopt,
    as_loaded,
    utcnow,
)
from service.projects import members, projects
from service.rating import adaptive, gold, judge_display, pairs, slots, tool_view
from service.rating.labels import labels_for
from service.rating.leases import CONTENT_CHANGED, LOCK_RATER, content_changed

LEASES = Assignment.__table__

# Hot statements are built once (see slots.py): building costs more than executing.
_RATER_LOCK = sa.select(LOCK_RATER)
# The rater's request for work looks its project up and takes their lock in one trip.
_PROJECT_LOCKING_RATER = sa.select(*PROJECT_WORK_COLUMNS, LOCK_RATER).where(
    Project.__table__.c.slug == sa.bindparam("b_slug")
)
_PROJECT_KEYS = [c.key for c in PROJECT_WORK_COLUMNS]
_MINE = sa.and_(
    LEASES.c.rater_id == sa.bindparam("rater_id"),
    LEASES.c.project_id == sa.bindparam("project_id"),
)
_IS_LIVE = sa.and_(LEASES.c.status == LeaseStatus.ACTIVE, LEASES.c.expires_at > sa.bindparam("now"))
_HOLDING = sa.or_(LEASES.c.status == LeaseStatus.SUBMITTED, _IS_LIVE)
_LIVE = select(Assignment).where(_MINE, _IS_LIVE).order_by(Assignment.id).limit(1)

# Where the rater stands, in one round trip: whether they hold a live lease, whether
# any lease in the project is due to expire, whether they are on its team (and with
# which tags), and (for gold and caps) how much they have done. The rater's figures come from one pass over their own leases in the
# project, never a scan of the project's leases (whose "active" index range on
# PostgreSQL fills with dead entries as leases are submitted). Every column it reads
# is in the index ix_assignment_rater_project, so once autovacuum has marked the pages
# visible PostgreSQL answers from the index alone; the live lease's id would need the
# table, so it is read separately, when there is one (after a reload, not in the loop).
_OTHER = LEASES.alias("other")  # any lease of the project, not only the rater's
_DUE = sa.exists().where(
    _OTHER.c.project_id == sa.bindparam("project_id"),
    _OTHER.c.status == LeaseStatus.ACTIVE,
    _OTHER.c.expires_at <= sa.bindparam("now"),
)
_WHERE_NOW = (
    sa.func.count().filter(_IS_LIVE).label("live"),
    _DUE.label("due"),
    *members.standing_columns(sa.bindparam("project_id"), sa.bindparam("rater_id")),
)
_STANDING = sa.select(*_WHERE_NOW).where(_MINE, LEASES.c.status == LeaseStatus.ACTIVE)
_STANDING_COUNTS = sa.select(
    *_WHERE_NOW,
    sa.func.count().filter(_HOLDING).label("total"),
    sa.func.count().filter(_HOLDING, LEASES.c.is_gold).label("golds"),
    sa.func.count().filter(_HOLDING, LEASES.c.created_at >= sa.bindparam("day")).label("today"),
).where(_MINE)
# What a new lease needs, in one round trip: the item's responses (its prompt riding
# along with each) and, after them, the display orders its other raters were shown
# (rows with ``shown`` set), for choosing and counterbalancing the pair.
_RESPONSES = (
    sa.select(
        Response.external_id,
        Response.content,
        Item.prompt,
        Item.messages,
        sa.type_coerce(sa.null(), LEASES.c.shown_order.type).label("shown"),
        Response.position.label("position"),
        Item.tools,
        Response.tool_turns,
    )
    .join(Item, Item.id == Response.item_id)
    .where(Response.item_id == sa.bindparam("item_id"))
)
_HISTORY = sa.select(
    sa.null(),
    sa.null(),
    sa.null(),
    sa.null(),
    LEASES.c.shown_order,
    sa.literal(-1),
    sa.null(),
    sa.null(),
).where(
    LEASES.c.item_id == sa.bindparam("item_id"),
    LEASES.c.status.in_((LeaseStatus.SUBMITTED, LeaseStatus.ACTIVE)),
)
_RESPONSES_AND_HISTORY = sa.union_all(_RESPONSES, _HISTORY).order_by(sa.column("position"))
_RESPONSES_ONLY = _RESPONSES.order_by(Response.position)
_INSERT = sa.insert(LEASES).returning(LEASES.c.id)
_SHOWN_ITEM = sa.select(Item.prompt, Item.messages, Item.tools).where(
    Item.id == sa.bindparam("item_id")
)


@dataclass(frozen=True)
class NoWork:
    """Why a rater has nothing to do right now."""

    reason: str


def next_in(*, session: Session, slug: str, rater: User) -> tuple[Project, Assignment | NoWork]:
    """Look a project up by slug; return it and the rater's current or next lease in it."""
    if is_sqlite(session):
        project = projects.get_project(session=session, slug=slug)
        return project, next_assignment(session=session, project=project, rater=rater)
    params = {"b_slug": slug, "rater_id": rater.id}
    row = session.execute(_PROJECT_LOCKING_RATER, params).first()
    if row is None:
        raise projects.missing(slug)
    # In Core, as if loaded (see models.adopt); the last column is the lock's.
    project = adopt(session, Project, dict(zip(_PROJECT_KEYS, row[:-1], strict=True)))
    return project, next_assignment(session=session, project=project, rater=rater, locked=True)


def lock_rater(*, session: Session, rater: User) -> None:
    """Serialise a rater's requests for work until commit (on SQLite every write is serial).

    A double click must not lease two items (or one item twice) to the same rater.
    """
    if not is_sqlite(session):
        session.execute(_RATER_LOCK, {"rater_id": rater.id})


def next_assignment(
    *, session: Session, project: Project, rater: User, locked: bool = False
) -> Assignment | NoWork:
    """Return the rater's current lease, or claim the next item for them.

    ``locked``: the caller already holds the rater's lock (``lock_rater``).
    """
    if project.status != ProjectStatus.ACTIVE.value:
        return NoWork(f"Project {project.name!r} is {project.status}.")
    if not locked:
        lock_rater(session=session, rater=rater)
    now = utcnow()
    counted = bool(project.rater_cap or project.daily_cap or project.gold_rate > 0)
    params = {"project_id": project.id, "rater_id": rater.id, "now": now}
    params["day"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
    standing = session.execute(_STANDING_COUNTS if counted else _STANDING, params).one()
    if standing.live:
        live = session.execute(_LIVE, params).scalars().first()
        if live is not None:  # else it expired this instant, and was swept
            return live
    if standing.due:
        slots.sweep_expired(session=session, project=project, now=now)
    member = members.standing_of(standing, rater)
    if not member.allowed:
        return NoWork(f"You are not on the team of {project.name!r}. Ask an admin to add you.")
    plan = _plan(session, project, rater, standing if counted else None)
    if isinstance(plan, NoWork):
        return plan
    keys = slots.allowed_keys(session=session, project=project, expertise=member.expertise)
    take = {"session": session, "project": project, "rater_id": rater.id, "keys": keys}
    if plan != "real":
        taken = slots.take_next(**take, gold=True)
        if taken is not None:
            return _lease(session, project, rater, taken, True, now)
        if plan == "qualify":
            q = gold.finish_without_gold(
                gold.qualification(session=session, project=project, rater=rater), project
            )
            if q.status != "passed":
                return NoWork(q.message)
    taken = slots.take_next(**take)
    if taken is None:
        return NoWork("No items left for you in this project. Thank you!")
    return _lease(session, project, rater, taken, False, now)


def _plan(session: Session, project: Project, rater: User, counts: Any) -> str | NoWork:
    """Decide between a gold item ("qualify" or "gold") and a real one, after caps.

    ``counts`` has the rater's items held in the project (total, golds, today), or is
    None when the project has no gold rate and no caps.
    """
    status = "passed"
    if project.qualification_items > 0:
        q = gold.qualification(session=session, project=project, rater=rater)
        if q.status == "failed":
            return NoWork(q.message)
        status = q.status
    if counts is None:
        return "qualify" if status == "qualifying" else "real"
    total, golds, today = counts.total, counts.golds, counts.today
    if project.rater_cap and total >= project.rater_cap:
        return NoWork(
            f"You have done this project's limit of {project.rater_cap} items. Thank you!"
        )
    if project.daily_cap and today >= project.daily_cap:
        return NoWork(
            f"You have done today's limit of {project.daily_cap} items in this project. "
            "More tomorrow (the day turns at midnight UTC)."
        )
    if status == "qualifying":
        return "qualify"
    # Gold served during qualification does not count towards the mixing rate.
    qualifying = min(golds, project.qualification_items)
    golds, total = golds - qualifying, total - qualifying
    # Random at the project rate, but never more than one item off it.
    deficit = project.gold_rate * (total + 1) - golds
    return "gold" if deficit >= 1 or random.random() < deficit else "real"


def display_order(
    *,
    session: Session,
    project: Project,
    item_id: int,
    overlap: int,
    gold_answer: dict[str, Any] | None,
) -> list[str]:
    """Choose the responses a new lease shows, in order (see pairs.py).

    ``overlap`` is the item's, as its slot row held it when the slot was taken
    (``slots.Taken``): the project row read earlier in the request may be older.
    """
    if project.mode != "pairwise":
        return pairs.shuffled([r.external_id for r in _responses(session, item_id)])
    rows = session.execute(_RESPONSES_AND_HISTORY, {"item_id": item_id}).all()
    history = [r.shown for r in rows if r.position < 0]
    responses = _cache(session)[item_id] = [r for r in rows if r.position >= 0]
    ids = [r.external_id for r in responses]
    if gold_answer is not None:  # gold goes to any number of raters, on the pairs it knows
        return pairs.choose_pair(ids, history, gold=gold_answer)
    units = pairs.units(ids, project.pairs, project.pair_reference)
    wanted: int | dict[pairs.Unit, int] = overlap
    if (project.adaptive_overlap or project.judge_budget) and len(units) > 1:
        # Each pair unit has its own target; the slot row is locked by the claim.
        wanted = adaptive.targets(session=session, project=project, item_ids=[item_id])[item_id]
    return pairs.choose_pair(
        ids,
        history,
        pair_units=units,
        overlap=wanted,
        fill_first=project.order_strategy == "complete-first",
    )


def _cache(session: Session) -> dict[int, list[sa.Row]]:
    return session.info.setdefault("rankroom.responses", {})


def _responses(session: Session, item_id: int) -> list[sa.Row]:
    """Return an item's responses (external_id, content, prompt, messages), read once."""
    cache = _cache(session)
    if item_id not in cache:
        cache[item_id] = session.execute(_RESPONSES_ONLY, {"item_id": item_id}).all()
    return cache[item_id]


def _lease(
    session: Session,
    project: Project,
    rater: User,
    taken: slots.Taken,
    is_gold: bool,
    now: datetime,
) -> Assignment:
    item_id = taken.item_id
    answer = session.get(Item, item_id).gold if is_gold else None
    values = {
        "project_id": project.id,
        "item_id": item_id,
        "rater_id": rater.id,
        "status": LeaseStatus.ACTIVE,
        "is_gold": is_gold,
        "shown_order": display_order(
            session=session,
            project=project,
            item_id=item_id,
            overlap=taken.overlap,
            gold_answer=answer,
        ),
        "created_at": now,
        "expires_at": now + timedelta(minutes=project.lease_minutes),
        "finished_at": None,
        "skip_reason": None,
        "skip_note": None,
    }
    # A Core insert, then the row enters the session as if loaded: the ORM's unit of
    # work would cost more than everything else here.
    lease = as_loaded(Assignment, {"id": session.execute(_INSERT, values).scalar(), **values})
    session.add(lease)  # its slot was taken with the item (slots.take_next)
    return lease


def describe(
    *, session: Session, lease: Assignment, project: Project | None = None
) -> dict[str, Any]:
    """Return what the rater sees for a lease: the prompt and responses by label only."""
    rows = _responses(session, lease.item_id)
    item = rows[0] if rows else session.execute(_SHOWN_ITEM, {"item_id": lease.item_id}).one()
    project = project or session.get(Project, lease.project_id)
    by_id = {r.external_id: r for r in rows}
    if any(rid not in by_id for rid in lease.shown_order) or content_changed(
        session=session, lease=lease
    ):
        # What this lease showed is gone (an update ended the live leases on the item):
        # never show the new content under it.
        raise Conflict(f"{CONTENT_CHANGED}.")
    out = {
        "id": lease.id,
        "project": project.slug,
        "mode": project.mode,
        "scale": project.scale,
        "status": lease.status,
        "expires_at": lease.expires_at.isoformat(),
        "guideline_version": project.guideline_version,
        "prompt": item.prompt,
        "messages": item.messages,
        # Model names, response ids and whether it is gold never reach the rater.
        "responses": [
            {"label": label, "content": by_id[rid].content}
            for label, rid in labels_for(lease.shown_order).items()
        ],
        "rubric": project.rubric,
    }
    turns = [by_id[rid].tool_turns for rid in lease.shown_order]
    if item.tools is not None or any(turns) or tool_view.uses_tools(item.messages):
        # Tool call ids are imported ids: the rater sees positional ones (tool_view.py),
        # whether or not the item lists its tools.
        tool_view.blind(out, item.tools, turns)
    suggested = judge_display.suggestion(
        session=session,
        project=project,
        item_id=lease.item_id,
        shown_order=lease.shown_order,
        is_gold=lease.is_gold,
    )
    if suggested:  # only when the project shows its judges as a suggestion
        out["judge_suggestion"] = suggested
    return out
