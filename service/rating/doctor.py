"""``rankroom doctor``: recount slots, leases and overlap and report (or repair) any drift.

The counters in ``item_slots`` decide who gets work; a counter that drifts from the
leases it counts hides an item from every rater, or hands it to one too many. The
checkup recounts them (``slots.recounted``; a row's copy of its project's overlap too,
which decides its capacity) and checks the rules the counters exist to
keep: a real item is judged by at most ``overlap`` distinct raters on each of its pair
units (every pair of a pairwise item at most ``overlap`` times), a rater holds one
current judgment per item (revisions form one chain) and at most one active lease.
The CLI and the admin API call these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from service import audit
from service.models import Item, Judgment, LeaseStatus, Project
from service.rating import adaptive, current, judged, slots

# The counters a repair rebuilds (and the overlap each slot row keeps of its project's,
# and under adaptive overlap the raised target and audit flag the rule gives it);
# the other checks name data only a person can judge.
RECOUNTED = ("taken", "skips", "open", "overlap")  # by ``slots.recounted``
COUNTERS = (*RECOUNTED, "raised", "audit", "priority")


@dataclass(frozen=True)
class Drift:
    """One disagreement between what is stored and what the data says it should be.

    For a counter, ``expected`` is its recount; for a rule ("raters", "judgments",
    "active leases"), ``stored`` is what was found and ``expected`` the most allowed.
    """

    project: str
    item: str
    counter: str
    stored: int | bool
    expected: int | bool
    rater_id: int | None = None

    @property
    def repairable(self) -> bool:
        """Tell whether ``repair`` fixes this row (counters yes, broken rules no)."""
        return self.counter in COUNTERS


@dataclass(frozen=True)
class Checkup:
    """What the doctor looked at and found; ``repaired`` items had their counters rebuilt."""

    projects: list[str]
    items: int
    drift: list[Drift] = field(default_factory=list)
    repaired: int = 0

    @property
    def unresolved(self) -> list[Drift]:
        """Return the drift still in the data (all of it, unless repaired)."""
        return [d for d in self.drift if not (self.repaired and d.repairable)]

    @property
    def ok(self) -> bool:
        """Tell whether nothing is (any longer) wrong."""
        return not self.unresolved


def _projects(session: Session, project: Project | None) -> list[Project]:
    if project is not None:
        return [project]
    return list(session.exec(select(Project).order_by(Project.id)))


def check(*, session: Session, project: Project | None = None) -> Checkup:
    """Recount every item's counters and check overlap, in one project or in all."""
    chosen = _projects(session, project)
    drift: list[Drift] = []
    for p in chosen:
        drift += _counter_drift(session, p) + _rule_drift(session, p)
    ids = [p.id for p in chosen]
    items = session.execute(
        sa.select(sa.func.count()).select_from(Item).where(Item.project_id.in_(ids))
    ).scalar()
    return Checkup(projects=[p.slug for p in chosen], items=items or 0, drift=drift)


def repair(
    *,
    session: Session,
    project: Project | None = None,
    actor_id: int | None = None,
    address: str | None = None,
) -> Checkup:
    """Rebuild drifted counters from the leases, audit it, and return what was found.

    Runs in the caller's transaction; the rule checks are reported, never "fixed".
    """
    chosen = _projects(session, project)
    found = check(session=session, project=project)
    repaired = 0
    for p in chosen:
        # recount locks the project's counters (PostgreSQL) before retarget reads them.
        recounted = slots.recount(session=session, project=p)
        retargeted = adaptive.retarget(session=session, project=p)
        repaired += max(recounted, retargeted, judged.retriage(session=session, project=p))
    if repaired:
        audit.record(
            session=session,
            actor_id=actor_id,
            action="slots.repair",
            target=f"project:{project.slug}" if project else "projects",
            details={
                "items": repaired,
                "drift": [
                    [d.project, d.item, d.counter, d.stored, d.expected]
                    for d in found.drift
                    if d.repairable
                ][:100],
            },
            address=address,
        )
    return Checkup(found.projects, found.items, found.drift, repaired)


def _external_ids(session: Session, item_ids: set[int]) -> dict[int, str]:
    if not item_ids:
        return {}
    rows = session.execute(sa.select(Item.id, Item.external_id).where(Item.id.in_(item_ids)))
    return dict(rows.all())


def _counter_drift(session: Session, project: Project) -> list[Drift]:
    rows = session.execute(slots.recounted(project_id=project.id)).all()
    names = _external_ids(session, {r.item_id for r in rows})
    out = []
    for r in rows:
        for counter in RECOUNTED:
            stored, want = getattr(r, counter), getattr(r, f"want_{counter}")
            if counter == "open":
                stored, want = bool(stored), bool(want)
            if stored != want:
                out.append(Drift(project.slug, names[r.item_id], counter, stored, want))
    return out + _adaptive_drift(session, project)


def _adaptive_drift(session: Session, project: Project) -> list[Drift]:
    """Return items whose audit flag or raised target is not what the rule gives them."""
    flags = adaptive.audit_flags(session=session, project=project)
    raised = adaptive.off_target(session=session, project=project)
    # Triage order (judged.py): a contested item's slot priority is raised.
    priority = judged.priority_drift(session=session, project=project)
    names = _external_ids(session, {r[0] for r in [*flags, *raised, *priority]})
    return (
        [Drift(project.slug, names[i], "audit", s, w) for i, s, w in flags]
        + [Drift(project.slug, names[i], "raised", s, w) for i, s, w in raised]
        + [Drift(project.slug, names[i], "priority", s, w) for i, s, w in priority]
    )


def _pair_drift(session: Session, project: Project, cur: sa.Subquery) -> list[tuple]:
    """Return (item id, raters, pair) for pairs of a pairwise item judged past overlap.

    Only items of several units: an item of one has its pair checked as a whole.
    """
    if project.mode != "pairwise":
        return []
    shown = session.execute(
        sa.select(cur.c.item_id, cur.c.rater_id, cur.c.shown_order)
        .join(Item, Item.id == cur.c.item_id)
        .join(slots.SLOTS, slots.SLOTS.c.item_id == cur.c.item_id)
        .where(~Item.is_gold, slots.SLOTS.c.units > 1)
    )
    raters: dict[tuple, set[int]] = {}
    for item_id, rater_id, order in shown:
        raters.setdefault((item_id, frozenset(order[:2])), set()).add(rater_id)
    # Each unit's own target (adaptive overlap), else the project's overlap.
    found = adaptive.targets(session=session, project=project, item_ids={i for i, _ in raters})
    return [
        (item_id, len(who), "/".join(sorted(pair)), want)
        for (item_id, pair), who in sorted(raters.items(), key=lambda kv: kv[0][0])
        if len(who) > (want := found.get(item_id, {}).get(pair, project.overlap))
    ]


def _rule_drift(session: Session, project: Project) -> list[Drift]:
    cur = current.current_judgments().where(Judgment.project_id == project.id).subquery()
    # An item wants ``overlap`` raters on each of its pair units, and under adaptive
    # overlap the ``raised`` ones (checked against the rule above) (``slots.capacity``).
    cap = slots.capacity(slots.SLOTS.c.units, project.overlap, slots.SLOTS.c.raised)
    n_raters = sa.func.count(sa.distinct(cur.c.rater_id))
    raters = session.execute(
        sa.select(cur.c.item_id, n_raters, cap)
        .join(Item, Item.id == cur.c.item_id)
        .join(slots.SLOTS, slots.SLOTS.c.item_id == cur.c.item_id)
        .where(~Item.is_gold)
        .group_by(cur.c.item_id, slots.SLOTS.c.units, slots.SLOTS.c.raised)
        .having(n_raters > cap)
    ).all()
    pairs = _pair_drift(session, project, cur)
    twice = session.execute(
        sa.select(cur.c.item_id, cur.c.rater_id, sa.func.count())
        .group_by(cur.c.item_id, cur.c.rater_id)
        .having(sa.func.count() > 1)
    ).all()
    leases = slots.LEASES
    held = session.execute(
        sa.select(leases.c.item_id, leases.c.rater_id, sa.func.count())
        .where(leases.c.project_id == project.id, leases.c.status == LeaseStatus.ACTIVE)
        .group_by(leases.c.item_id, leases.c.rater_id)
        .having(sa.func.count() > 1)
    ).all()
    names = _external_ids(session, {r[0] for r in [*raters, *pairs, *twice, *held]})
    slug = project.slug
    return (
        [Drift(slug, names[i], "raters", n, want) for i, n, want in raters]
        + [Drift(slug, names[i], f"raters on pair {pair}", n, want) for i, n, pair, want in pairs]
        + [Drift(slug, names[i], "judgments", n, 1, rater) for i, rater, n in twice]
        + [Drift(slug, names[i], "active leases", n, 1, rater) for i, rater, n in held]
    )


def as_dict(checkup: Checkup) -> dict[str, object]:
    """Return a checkup as plain data, as the API and ``doctor --json`` show it."""
    return {
        "ok": checkup.ok,
        "projects": checkup.projects,
        "items": checkup.items,
        "repaired": checkup.repaired,
        "drift": [
            {
                "project": d.project,
                "item": d.item,
                "counter": d.counter,
                "stored": d.stored,
                "expected": d.expected,
                "rater_id": d.rater_id,
                "repairable": d.repairable,
            }
            for d in checkup.drift
        ],
    }


def summary(checkup: Checkup) -> str:
    """Return the checkup's one-line result, e.g. "doctor: 0 drift rows (120 items)"."""
    line = f"doctor: {_count(len(checkup.drift), 'drift row')} ({_count(checkup.items, 'item')}"
    line += f", {_count(len(checkup.projects), 'project')})"
    if checkup.repaired:
        left = _count(len(checkup.unresolved), "row")
        line += f"; repaired {_count(checkup.repaired, 'item')}, {left} left"
    return line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
