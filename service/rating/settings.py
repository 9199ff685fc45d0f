"""Project settings: one validated change, the same from the page, the API and the CLI.

A setting that only steers what happens next (lease length, gold rate, caps,
qualification, status) is simply stored: leases already handed out keep their expiry,
raters already qualified stay so. Three settings touch data already collected:

- ``overlap`` decides each item's capacity: every ``item_slots`` row keeps a copy, set
  and its ``open`` flag recomputed in the same transaction (``taken`` counts leases and
  does not change). It never goes below what an item already has (judged or leased) on
  one pair unit: no judgment is ever deleted, and ``rankroom doctor`` stays clean. It
  does not change while an import into the project is in flight.
- ``adaptive_overlap``, ``overlap_max`` and ``audit_share`` decide each unit's target
  with ``overlap`` (rating/agreement_rule.py): changed like ``overlap``, under the same
  locks, with every item's target recomputed from its judgments.
- ``judge_budget``, ``judge_budget_overlap`` and ``judge_audit_share`` (budget mode,
  rating/judge_rule.py) decide targets too: changed like ``overlap``. ``judge_triage``
  recomputes every item's slot priority under the same locks (rating/judged.py).
  ``judge_display`` steers what raters see next; judgments keep the display they had.
- ``rubric`` is what judgments were given against; it is fixed once any exist.
- ``span_labels`` only grows once a label is used: a label a stored span carries is
  never removed or renamed (``spans.check_label_change``). ``span_overlap`` steers new
  submissions only; spans already stored stay as they were.

``pairing`` only steers which models the next generated items compare (pull/pairing.py);
items already published keep their replies.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlmodel import Session, select

from service import audit
from service.db import is_sqlite
from service.errors import Conflict, InvalidInput
from service.models import BATCH_IN_FLIGHT, ImportBatch, Judgment, Mode, Pairing, Project, utcnow
from service.rating import adaptive, current, judged, slots, spans
from service.schemas import PAIRING_PAIRWISE_ONLY, ProjectSchema, flatten_messages

# What an admin may change after creation; slug, mode, scale and pairs shape the items.
SETTINGS = (
    "name",
    "description",
    "status",
    "overlap",
    "lease_minutes",
    "order_strategy",
    "gold_rate",
    "qualification_items",
    "qualification_threshold",
    "daily_cap",
    "rater_cap",
    "skip_flag_threshold",
    "confirm_contradictions",
    "pairing",
    "pairing_uniform_share",
    "span_labels",
    "span_overlap",
    "edit",
    "adaptive_overlap",
    "overlap_max",
    "audit_share",
    "rubric",
    "judge_display",
    "judge_triage",
    "judge_budget",
    "judge_budget_overlap",
    "judge_audit_share",
    "judge_token_budget",
)
# The settings that decide each unit's target: changed together by ``change_overlap``.
OVERLAP_SETTINGS = ("overlap", *adaptive.TARGET_SETTINGS)


def load_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a change of settings (any subset of ``SETTINGS``) with the project schema."""
    try:
        # Partial at the top only: a rubric given is loaded whole, with its defaults.
        values = ProjectSchema(only=SETTINGS, partial=SETTINGS).load(data)
    except ValidationError as exc:
        errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages)]
        raise InvalidInput("Invalid settings.", errors=errors) from exc
    if not values:
        raise InvalidInput(f"Nothing to change: give one of {', '.join(SETTINGS)}.")
    return values


def update_settings(
    *,
    session: Session,
    project: Project,
    data: dict[str, Any],
    actor_id: int | None,
    address: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Validate and apply a change of settings, audited; return what changed (from, to)."""
    values = load_settings(data)
    changes = {
        k: {"from": getattr(project, k), "to": v}
        for k, v in values.items()
        if getattr(project, k) != v
    }
    if values.get("pairing", Pairing.ALL) != Pairing.ALL and project.mode != Mode.PAIRWISE:
        raise InvalidInput(
            "Invalid settings.", errors=[{"field": "pairing", "message": PAIRING_PAIRWISE_ONLY}]
        )
    if "rubric" in changes:
        check_rubric_editable(session=session, project=project)
    if "span_labels" in changes:
        spans.check_label_change(session=session, project=project, labels=values["span_labels"])
    if set(changes) & set(OVERLAP_SETTINGS):
        wanted = {k: values.get(k, getattr(project, k)) for k in OVERLAP_SETTINGS}
        change_overlap(session=session, project=project, **wanted)
    if "judge_triage" in changes:
        change_triage(session=session, project=project, on=values["judge_triage"])
    for key, change in changes.items():
        setattr(project, key, change["to"])
    if changes:
        project.updated_at = utcnow()
        session.add(project)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="project.settings",
            target=f"project:{project.slug}",
            details=changes,
            address=address,
        )
        session.flush()
    return changes


def judgment_count(*, session: Session, project: Project) -> int:
    """Return how many judgments (gold included, every revision) the project holds."""
    query = sa.select(sa.func.count()).where(Judgment.project_id == project.id)
    return session.execute(query).scalar_one()


def check_rubric_editable(*, session: Session, project: Project) -> None:
    """Refuse to change the rubric once judgments were given against it."""
    n = judgment_count(session=session, project=project)
    if n:
        raise Conflict(
            f"The rubric cannot change: {n} judgment(s) were given against it, and a "
            "changed rubric would make their scores mean something else. "
            "Start a new project for a new rubric.",
            errors=[{"field": "rubric", "message": "fixed once judgments exist"}],
        )


def change_overlap(
    *,
    session: Session,
    project: Project,
    overlap: int,
    adaptive_overlap: bool | None = None,
    overlap_max: int | None = None,
    audit_share: float | None = None,
    judge_budget: bool | None = None,
    judge_budget_overlap: int | None = None,
    judge_audit_share: float | None = None,
) -> None:
    """Set the overlap on the project and on each of its items' slots; never below the floor.

    With adaptive overlap (given, or the project's) ``overlap`` is each unit's minimum and
    the floor bounds ``overlap_max`` instead; every item's audit flag and raised target
    are then recomputed from its judgments (``adaptive.retarget``) under the same locks.
    Switching it off brings every unit back to ``overlap``, which the floor bounds again.
    The judges' budget mode (``judge_budget``, ``judge_budget_overlap``,
    ``judge_audit_share``, judge_rule.py) also decides targets: changed the same way.

    The hand-out and ending statements read the capacity from the slot row they update
    (see slots.py), so a rater's request that read the project before this change
    commits still fills an item to the new overlap, never the old one. Refused while an
    import into the project is in flight: its items are published in transactions of
    their own, whose slot rows this one cannot update.
    """
    _lock_counters(session, project)
    given = {
        "adaptive_overlap": adaptive_overlap,
        "overlap_max": overlap_max,
        "audit_share": audit_share,
        "judge_budget": judge_budget,
        "judge_budget_overlap": judge_budget_overlap,
        "judge_audit_share": judge_audit_share,
    }
    new = {"overlap": overlap} | {
        k: getattr(project, k) if v is None else v for k, v in given.items()
    }
    old = {k: getattr(project, k) for k in new}
    if new != old:
        check_no_import(session=session, project=project)
    follows = new["adaptive_overlap"] or new["judge_budget"]
    followed = old["adaptive_overlap"] or old["judge_budget"]
    if follows and not followed and not is_sqlite(session):
        # Submissions that skip the lease lock read the switch under a key-share lock on
        # this row (judgments._INSERT_LIVE): held until commit, so none slips in unsettled
        # between the recount below and the switch.
        session.execute(
            sa.select(Project.id).where(Project.id == project.id).with_for_update()
        ).all()
    _check_floor(session, project, new, old)
    for key, value in new.items():
        setattr(project, key, value)
    session.add(project)
    session.flush()
    # After the project row: an item inserted meanwhile read the project FOR SHARE (the
    # insert trigger), so it either waited for this change or is committed before the
    # flush above returned, and this statement sees it.
    slots.copy_overlap(session=session, project=project)
    if follows or followed:
        adaptive.retarget(session=session, project=project)


def _lock_counters(session: Session, project: Project) -> None:
    """Lock the project's slot rows (PostgreSQL), in item order, until the commit."""
    if not is_sqlite(session):
        # Hold the counters while the floor is read: a claim skips them (SKIP LOCKED),
        # an ending waits, so no item gains a rater between the check and the change.
        session.execute(
            sa.select(slots.SLOTS.c.item_id)
            .where(slots.SLOTS.c.project_id == project.id)
            .order_by(slots.SLOTS.c.item_id)
            .with_for_update()
        ).all()


def change_triage(*, session: Session, project: Project, on: bool) -> None:
    """Switch triage order and give every item the slot priority the rule gives it."""
    _lock_counters(session, project)
    project.judge_triage = on
    session.add(project)
    session.flush()
    judged.retriage(session=session, project=project)


def after_judges_changed(*, session: Session, project: Project) -> None:
    """Re-apply budget mode and triage once a judge joins or leaves the project.

    Whether every judge agrees, or some disagree, depends on which judges are active
    (judge_votes.py): a judge that leaves can settle units the others agree on, one that
    joins unsettles every unit it has not judged yet.
    """
    # Locked first, the settings read after: a switch of budget mode or triage that
    # commits meanwhile either waited for this or is seen (both take the counters).
    _lock_counters(session, project)
    session.refresh(project, ["judge_budget", "judge_triage", *adaptive.TARGET_SETTINGS])
    if project.judge_budget:
        adaptive.retarget(session=session, project=project)
    if project.judge_triage:
        judged.retriage(session=session, project=project)


def _check_floor(
    session: Session, project: Project, new: dict[str, Any], old: dict[str, Any]
) -> None:
    """Refuse targets below what an item already has on one unit (``overlap_floor``)."""
    if new["adaptive_overlap"]:
        if new["overlap"] > new["overlap_max"]:
            raise InvalidInput(
                "With adaptive overlap, overlap (the minimum) cannot exceed overlap_max.",
                errors=[{"field": "overlap_max", "message": f"at least {new['overlap']}"}],
            )
        field = "overlap_max"
        lowered = not old["adaptive_overlap"] or new["overlap_max"] < old["overlap_max"]
    else:
        field = "overlap"
        lowered = old["adaptive_overlap"] or new["overlap"] < old["overlap"]
    floor = overlap_floor(session=session, project=project) if lowered else 0
    if new[field] < floor:
        switching_off = old["adaptive_overlap"] and not new["adaptive_overlap"]
        what = (
            "To switch adaptive overlap off, overlap must be at least"
            if switching_off
            else f"{field.capitalize().replace('_', ' ')} cannot go below"
        )
        raise Conflict(
            f"{what} {floor}: an item already has {floor} rater(s) (judged or holding a "
            "lease) on one pair, and judgments are never deleted.",
            errors=[{"field": field, "message": f"at least {floor}"}],
        )


def check_no_import(*, session: Session, project: Project) -> None:
    """Refuse an overlap change while an import into the project is in flight.

    Its new items would take the overlap the project had when they were published.
    """
    batch = session.exec(
        select(ImportBatch)
        .where(BATCH_IN_FLIGHT, ImportBatch.project_id == project.id)
        .order_by(ImportBatch.id)
    ).first()
    if batch is not None:
        raise Conflict(
            f"Overlap cannot change while an import into this project is in flight "
            f"(batch {batch.id}, {batch.state}); try again when it has finished.",
            errors=[{"field": "overlap", "message": "an import is in flight"}],
        )


def overlap_floor(*, session: Session, project: Project) -> int:
    """Return the lowest overlap the data allows: the most raters on one real item's unit.

    Counts the raters holding a slot (a submitted or active lease, as ``taken`` does) and
    the raters with a current judgment, per pair unit (the whole item unless it has
    several, see pairs.py), the way ``rankroom doctor`` checks overlap.
    """
    leases = slots.LEASES
    held = session.execute(
        sa.select(leases.c.item_id, leases.c.rater_id, leases.c.shown_order)
        .join(slots.SLOTS, slots.SLOTS.c.item_id == leases.c.item_id)
        .where(
            leases.c.project_id == project.id,
            leases.c.status.in_(slots.HOLDING),
            sa.not_(slots.SLOTS.c.is_gold),
        )
    ).all()
    cur = current.current_judgments().where(Judgment.project_id == project.id).subquery()
    judged = session.execute(
        sa.select(cur.c.item_id, cur.c.rater_id, cur.c.shown_order).where(~cur.c.is_gold)
    ).all()
    units = dict(
        session.execute(
            select(slots.SLOTS.c.item_id, slots.SLOTS.c.units).where(
                slots.SLOTS.c.project_id == project.id, slots.SLOTS.c.units > 1
            )
        ).all()
    )
    raters: dict[tuple[int, frozenset[str]], set[int]] = {}
    for item_id, rater_id, order in [*held, *judged]:
        unit = frozenset(order[:2]) if item_id in units else frozenset()
        raters.setdefault((item_id, unit), set()).add(rater_id)
    return max((len(who) for who in raters.values()), default=0)
