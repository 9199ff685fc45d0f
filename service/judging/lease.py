"""One judge run per project at a time: the lease that lets a run spend the token budget.

A run reads the tokens spent so far once and then counts its own replies (runner.py,
``Budget``). Two runs of one project at once (two judges, on two workers or hosts)
would each see the same remaining budget and together overspend it. So a run first
takes its project's ``JudgeRunLease`` row; a second run is refused (409, its run fails
saying which run holds the lease). The worker does not claim a judge run while another
judge of its project runs (``must_wait``), so queued runs wait their turn rather than
fail. Runs of one project go one after another; each still sends its calls with the
judge's own concurrency.

The lease is held by a pull run, whose liveness the pull worker already tracks (a
heartbeat; a dead worker's run is failed or handed on): a row whose run is no longer
running under the worker that took it is free to take, so a crash never locks a
project's judges out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from service import db
from service.errors import Conflict
from service.models import JudgeRunLease, PullRun, RunStatus, Source, utcnow
from service.projects.source_config import JUDGE_KIND


def must_wait(source_id: Any) -> sa.ColumnElement[bool]:
    """Return SQL that holds when a run of ``source_id`` is a judge's and another judge of
    its project has a run running: the worker leaves it queued until that one ends.

    Read from the runs' status, set when a run is claimed (before it takes the lease):
    only two workers claiming at the same instant get past it, and then ``take`` refuses one.
    """
    mine, other, running = aliased(Source), aliased(Source), aliased(PullRun)
    return sa.exists().where(
        mine.id == source_id,
        mine.kind == JUDGE_KIND,
        other.project_id == mine.project_id,
        other.kind == JUDGE_KIND,
        running.source_id == other.id,
        running.status == RunStatus.RUNNING.value,
    )


@dataclass(frozen=True)
class Holder:
    """Who asks for the lease: the pull run and the worker running it."""

    run_id: int
    worker_id: str


def take(*, session: Session, project_id: int, judge_id: int, holder: Holder) -> None:
    """Make ``holder`` the project's judge run, or raise Conflict naming the run that is."""
    row = session.execute(
        sa.select(JudgeRunLease).where(JudgeRunLease.project_id == project_id).with_for_update()
    ).scalar_one_or_none()
    values = {"judge_id": judge_id, "run_id": holder.run_id, "worker_id": holder.worker_id}
    if row is None:
        try:
            # A savepoint: a run taking the lease at this moment makes the insert fail.
            with session.begin_nested():
                session.add(JudgeRunLease(project_id=project_id, **values))
            return
        except sa.exc.IntegrityError:
            row = session.get(JudgeRunLease, project_id, populate_existing=True)
    if row is not None and row.run_id != holder.run_id and _alive(session, row):
        raise Conflict(
            f"Another judge run of this project is running (run {row.run_id}): one judge "
            "runs at a time, so the judges' token budget holds. Run this judge when it ends."
        )
    session.execute(
        sa.update(JudgeRunLease)
        .where(JudgeRunLease.project_id == project_id)
        .values(**values, taken_at=utcnow())
    )


def _alive(session: Session, row: JudgeRunLease) -> bool:
    """Tell whether the lease's run still runs under the worker that took it."""
    return (
        session.execute(
            sa.select(PullRun.id).where(
                PullRun.id == row.run_id,
                PullRun.status == RunStatus.RUNNING.value,
                PullRun.claimed_by == row.worker_id,
            )
        ).first()
        is not None
    )


def holds(*, session: Session, project_id: int, holder: Holder) -> bool:
    """Tell whether ``holder`` still has the project's lease.

    It loses it when its run is handed to another worker (its worker stopped beating:
    ``worker.requeue_stale``) or ends, even if the process still runs.
    """
    row = session.get(JudgeRunLease, project_id, populate_existing=True)
    return (
        row is not None
        and (row.run_id, row.worker_id) == (holder.run_id, holder.worker_id)
        and _alive(session, row)
    )


def give_back(*, session: Session, project_id: int, holder: Holder) -> None:
    """Free the project's lease if ``holder`` still has it."""
    session.execute(
        sa.delete(JudgeRunLease).where(
            JudgeRunLease.project_id == project_id,
            JudgeRunLease.run_id == holder.run_id,
            JudgeRunLease.worker_id == holder.worker_id,
        )
    )


@contextlib.contextmanager
def held(engine: sa.Engine, *, project_id: int, judge_id: int, holder: Holder) -> Iterator[None]:
    """Hold the project's lease for the block (raise Conflict if another run has it)."""
    with db.write_session(engine) as s:
        take(session=s, project_id=project_id, judge_id=judge_id, holder=holder)
    try:
        yield
    finally:
        with db.write_session(engine) as s:
            give_back(session=s, project_id=project_id, holder=holder)
