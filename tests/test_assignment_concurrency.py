"""Many threads and processes at once taking and submitting work, on both databases.

Afterwards: no pair unit of an item over its overlap, no rater twice on an item, no
submission lost or stored twice, the counters equal to a recount, and, once abandoned
leases have expired, every slot filled: each pair unit with exactly `overlap` raters.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import timedelta
from multiprocessing import get_context
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import create_app, db
from service.errors import Conflict
from service.models import Assignment, Judgment, Project, User, utcnow
from service.rating import assignment, judgments, leases, slots, workspace
from tests.factories import item_row

OVERLAP = 3
ITEMS = 8
RESPONSES = 3  # so 3 pair units per item, each wanting OVERLAP raters
UNITS = 3


def _work(app: Any, project_id: int, rater_ids: list[int], abandon: float, seed: int) -> dict:
    """Loop next -> submit for these raters until none has work; report what happened.

    Half the submissions take the next item in the same transaction, as the rating
    screen does (``workspace.submit_and_next``).
    """
    rng = random.Random(seed)
    created: list[str] = []
    refused = 0
    active = list(rater_ids)
    handed: dict[int, Any] = {}  # the lease a rater's last submission brought along
    with app.app_context():
        while active:
            rater_id = rng.choice(active)
            lease = handed.pop(rater_id, None)
            if lease is None:
                with db.write_session() as s:
                    lease = assignment.next_assignment(
                        session=s, project=s.get(Project, project_id), rater=s.get(User, rater_id)
                    )
            if isinstance(lease, assignment.NoWork):
                active.remove(rater_id)
                continue
            if rng.random() < abandon:
                # Walk away: the lease holds its slot until it expires. A rater who
                # abandons stops working, as in life, so the lease is not handed back.
                active.remove(rater_id)
                continue
            client_id = uuid.uuid4().hex
            together = rng.random() < 0.5
            for _ in range(2 if rng.random() < 0.2 else 1):  # sometimes a double click
                payload = {"client_id": client_id, "verdict": {"choice": "A"}}
                try:
                    with db.write_session() as s:
                        rater = s.get(User, rater_id)
                        if together:
                            _, new, _, handed[rater_id] = workspace.submit_and_next(
                                session=s, assignment_id=lease.id, rater=rater, payload=payload
                            )
                        else:
                            _, new = judgments.record_judgment(
                                session=s, assignment_id=lease.id, rater=rater, payload=payload
                            )
                except Conflict:
                    # Another thread of the same rater submitted this lease first.
                    refused += 1
                    break
                if new:
                    created.append(client_id)
    return {"created": created, "refused": refused}


def _process_worker(
    database_url: str, project_id: int, rater_ids: list[int], abandon: float, seed: int
) -> dict:
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "t"})
    try:
        return _work(app, project_id, rater_ids, abandon, seed)
    finally:
        db.engine_of(app).dispose()


def _hammer(app: Any, database_url: str, project_id: int, raters: list[int], abandon: float):
    """Run half the raters on 4 threads here and half in 3 processes, all at once."""
    threads = [raters[i::8] for i in range(4)]
    # Two threads share each of these raters: one person, two tabs, same moment.
    threads.append(threads[0])
    procs = [raters[4 + i :: 8] for i in range(3)]
    spawn = get_context("spawn")
    with (
        ProcessPoolExecutor(len(procs), mp_context=spawn) as pp,
        ThreadPoolExecutor(len(threads)) as tp,
    ):
        futures = [
            pp.submit(_process_worker, database_url, project_id, ids, abandon, k)
            for k, ids in enumerate(procs)
        ]
        futures += [
            tp.submit(_work, app, project_id, ids, abandon, 100 + k)
            for k, ids in enumerate(threads)
        ]
        return [f.result(timeout=300) for f in futures]


def _check(app: Any, project_id: int, created: list[str], *, exact: bool) -> None:
    with app.app_context():
        s = db.session()
        per_unit = Counter(
            (item_id, frozenset(shown))
            for item_id, shown in s.execute(sa.select(Judgment.item_id, Judgment.shown_order))
        )
        assert max(per_unit.values()) <= OVERLAP
        if exact:
            assert len(per_unit) == ITEMS * UNITS and set(per_unit.values()) == {OVERLAP}
        pairs = s.execute(
            sa.select(Judgment.item_id, Judgment.rater_id, sa.func.count())
            .group_by(Judgment.item_id, Judgment.rater_id)
            .having(sa.func.count() > 1)
        ).all()
        assert pairs == []
        stored = sorted(s.exec(select(Judgment.client_id)))
        assert stored == sorted(created)  # none lost, none twice
        submitted = s.exec(
            select(sa.func.count()).select_from(Assignment).where(Assignment.status == "submitted")
        ).one()
        assert submitted == len(stored)
    with app.app_context(), db.write_session() as s:
        assert slots.recount(session=s, project=s.get(Project, project_id)) == 0


def test_hammering_keeps_overlap_exact(app, database_url, make):
    project = make.project(overlap=OVERLAP, mode="pairwise", scale="binary")
    make.items(project, [item_row(n_responses=RESPONSES) for _ in range(ITEMS)])
    raters = [make.user().id for _ in range(16)]
    results = _hammer(app, database_url, project.id, raters, abandon=0.1)
    created = [c for r in results for c in r["created"]]
    _check(app, project.id, created, exact=False)

    # Time travel: every lease still open has now expired; fresh raters fill the rest.
    with app.app_context(), db.write_session() as s:
        s.execute(
            sa.update(Assignment)
            .where(Assignment.status == "active")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    fresh = [make.user().id for _ in range(16)]
    results = _hammer(app, database_url, project.id, fresh, abandon=0.0)
    created += [c for r in results for c in r["created"]]
    _check(app, project.id, created, exact=True)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_submit_and_next_takes_the_rater_lock_before_the_lease_row(app, make):
    # "Next item" takes the rater's lock, then rows; submit-and-next must too, or the
    # two could each hold what the other waits for.
    project = make.project(overlap=1, mode="pairwise", scale="binary")
    make.items(project, [item_row() for _ in range(2)])
    rater_id = make.user().id
    with db.write_session() as s:
        lease_id = assignment.next_assignment(
            session=s, project=s.get(Project, project.id), rater=s.get(User, rater_id)
        ).id
    holder = db.engine().connect()
    holder.execute(sa.select(leases.LOCK_RATER), {"rater_id": rater_id})
    results: list[Any] = []

    def submit() -> None:
        with app.app_context(), db.write_session() as s:
            payload = {"client_id": "ordered-1", "verdict": {"choice": "A"}}
            results.append(
                workspace.submit_and_next(
                    session=s, assignment_id=lease_id, rater=s.get(User, rater_id), payload=payload
                )
            )

    worker = threading.Thread(target=submit)
    worker.start()
    waiting = sa.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid = :space AND objid = :rater"
    )
    row = sa.text("SELECT id FROM assignment WHERE id = :id FOR UPDATE NOWAIT")
    try:
        with db.engine().connect() as probe:
            # The worker blocks on the rater's lock for as long as the holder keeps it;
            # without that lock it would finish on its own, and this loop sees it end.
            seen_waiting, deadline = False, time.monotonic() + 30
            while worker.is_alive() and not seen_waiting and time.monotonic() < deadline:
                params = {"space": leases.RATER_LOCK_SPACE, "rater": rater_id}
                seen_waiting = bool(probe.execute(waiting, params).scalar())
                time.sleep(0.02)
            assert seen_waiting, "submit-and-next did not wait for the rater's lock"
            assert worker.is_alive() and not results
            # It waits for the rater's lock holding no lock on the lease's row yet.
            assert probe.execute(row, {"id": lease_id}).scalar() == lease_id
            probe.rollback()
    finally:
        holder.rollback()
        holder.close()
        worker.join(timeout=10)
    (judgment, created, _, following) = results[0]
    assert created and judgment.assignment_id == lease_id
    assert following.id != lease_id
