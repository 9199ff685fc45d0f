"""Random sequences of everything that hands out or ends a lease leave no drift.

Hypothesis plays raters and admins: next item, submit (late work too), skip, leases
run out and are swept, admins release, reassign, deactivate, reactivate and erase.
After each sequence ``rankroom doctor``'s check finds the counters equal to a
recount and the overlap rules kept, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from service import db
from service.accounts import erasure, users
from service.errors import DomainError
from service.models import Assignment, Project, User, utcnow
from service.rating import doctor, leases, slots
from tests.factories import Factory, item_row
from tests.raters import Desk

RATERS = 4
OPS = (
    "next",
    "submit",
    "skip",
    "expire",
    "release",
    "reassign",
    "deactivate",
    "activate",
    "erase",
)
# Handing out and submitting are what raters mostly do: drawn more often.
op = st.sampled_from(("next", "next", "submit", "submit", *OPS))
steps = st.lists(
    st.tuples(op, st.integers(0, RATERS - 1), st.integers(0, RATERS - 1)), min_size=3, max_size=25
)


def _latest(app: Any, project: Project, rater: User) -> Assignment | None:
    with app.app_context():
        return (
            db.session()
            .exec(
                select(Assignment)
                .where(Assignment.project_id == project.id, Assignment.rater_id == rater.id)
                .order_by(Assignment.id.desc())
            )
            .first()
        )


def _active(app: Any, user: User) -> bool:
    with app.app_context():
        return db.session().get(User, user.id).active


def _step(app: Any, desk: Desk, project: Project, admin: User, raters: list[User], step) -> None:
    name, who, other = step
    rater = raters[who]
    lease = _latest(app, project, rater)
    if name in ("next", "submit", "skip") and not _active(app, rater):
        return  # signed out: the pages and the API refuse them before any of this
    if name == "next":
        desk.next(project, rater)
    elif name == "submit" and lease is not None:
        desk.submit(lease, rater)
    elif name == "skip" and lease is not None:
        desk.skip(lease, rater)
    elif name == "expire" and lease is not None:
        desk.expire(lease.id)  # time travel, then the sweep every "next item" runs
        with app.app_context(), db.write_session() as s:
            slots.sweep_expired(session=s, project=s.get(Project, project.id), now=utcnow())
    elif name in ("release", "reassign") and lease is not None:
        with app.app_context(), db.write_session() as s:
            locked = leases.lock_assignment(session=s, assignment_id=lease.id, rater=None)
            boss = s.get(User, admin.id)
            if name == "release":
                leases.release(session=s, lease=locked, admin=boss)
            else:
                to = s.get(User, raters[other].id)
                leases.reassign(session=s, lease=locked, rater=to, admin=boss)
    elif name in ("deactivate", "activate", "erase"):
        with app.app_context(), db.write_session() as s:
            user = s.get(User, rater.id)
            if name == "deactivate":
                users.deactivate_user(session=s, user=user)
            elif name == "activate":
                users.activate_user(session=s, user=user)
            else:
                erasure.erase_user(session=s, user=user, secret_key="k")


def _people(app: Any) -> list[User]:
    """Return an admin and the raters, without passwords (hashing one costs more than a step)."""
    with app.app_context(), db.write_session() as s:
        return [
            users.create_user(session=s, username=f"u{uuid.uuid4().hex[:12]}", role=role)
            for role in ["admin"] + ["rater"] * RATERS
        ]


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(overlap=st.integers(1, 2), gold_rate=st.sampled_from([0.0, 0.3]), steps=steps)
def test_no_sequence_of_lease_operations_leaves_drift(app, overlap, gold_rate, steps) -> None:
    make, desk = Factory(app), Desk(app)
    project = make.project(overlap=overlap, gold_rate=gold_rate, skip_flag_threshold=2)
    make.items(project, [item_row() for _ in range(3)])
    make.items(project, [item_row(gold={"preferred": "a"})])
    admin, *raters = _people(app)
    for step in steps:
        # A refusal (late work on a taken slot, a lease already ended) is legal.
        try:
            _step(app, desk, project, admin, raters, step)
        except DomainError:
            event(f"{step[0]} refused")  # --hypothesis-show-statistics counts them
        else:
            event(step[0])
    with app.app_context(), db.write_session() as s:
        found = doctor.check(session=s, project=s.get(Project, project.id))
    assert found.drift == [], steps
