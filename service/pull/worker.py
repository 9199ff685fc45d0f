"""The background worker: claim due pulls with a database lock and run them one at a time.

Any number of workers, on any number of hosts, may share one database. A run is
claimed by one conditional UPDATE (``status = 'queued'`` still true), after
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL and inside ``BEGIN IMMEDIATE``
on SQLite, so exactly one worker gets it. A claimed run is kept alive by its
heartbeat; one whose worker died is handed to another after WORKER_STALE_SECONDS.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from service import db
from service.errors import Conflict
from service.items import importing
from service.judging import lease
from service.models import PullRun, RunStatus, Source, utcnow
from service.projects import sources
from service.pull import context, runs

log = logging.getLogger(__name__)
# A run whose worker vanished this many times fails instead of going round again.
MAX_ATTEMPTS = 3


def _take(session: Session, run_id: int, worker_id: str, **values: str) -> bool:
    """Flip one queued run to running for ``worker_id``; False if someone was quicker."""
    now = utcnow()
    taken = session.execute(
        sa.update(PullRun)
        .where(PullRun.id == run_id, PullRun.status == RunStatus.QUEUED.value)
        .values(
            status=RunStatus.RUNNING.value,
            claimed_by=worker_id,
            started_at=now,
            heartbeat_at=now,
            attempts=PullRun.attempts + 1,
            **values,
        )
    ).rowcount
    return taken == 1


def claim_next(*, session: Session, worker_id: str) -> PullRun | None:
    """Claim the oldest due queued run for ``worker_id``, or return None when there is none."""
    candidate = session.execute(
        sa.select(PullRun.id)
        .where(PullRun.status == RunStatus.QUEUED.value, PullRun.run_after <= utcnow())
        # One judge run per project at a time (the token budget): the others wait.
        .where(sa.not_(lease.must_wait(PullRun.source_id)))
        .order_by(PullRun.run_after, PullRun.id)
        .limit(1)
        # PostgreSQL: lock the row, and let other workers pass over it rather than wait.
        # SQLite has no row locks (the clause is dropped): BEGIN IMMEDIATE serialises us.
        .with_for_update(skip_locked=True)
    ).scalar()
    if candidate is None or not _take(session, candidate, worker_id):
        return None
    return session.get(PullRun, candidate, populate_existing=True)


def claim_source(
    *, session: Session, source: Source, worker_id: str, mode: str = "pull"
) -> PullRun:
    """Claim the source's queued run, or start a new one, to run in this process (the CLI)."""
    queued = session.exec(
        select(PullRun).where(
            PullRun.source_id == source.id, PullRun.status == RunStatus.QUEUED.value
        )
    ).first()
    if queued is not None:
        # Asked for a retry, the queued pull becomes one; a plain pull keeps its mode.
        upgrade = {"mode": mode} if mode == "retry" else {}
        if not _take(session, queued.id, worker_id, **upgrade):
            raise Conflict(f"A worker just started pulling {source.name!r} (run {queued.id}).")
        return session.get(PullRun, queued.id, populate_existing=True)
    return sources.enqueue_run(
        session=session,
        source=source,
        trigger="cli",
        mode=mode,
        status=RunStatus.RUNNING.value,
        claimed_by=worker_id,
    )


def requeue_stale(*, session: Session, stale_seconds: float) -> list[PullRun]:
    """Hand back runs whose worker stopped beating; fail those that died too often."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    stale = session.exec(
        select(PullRun).where(
            PullRun.status == RunStatus.RUNNING.value, PullRun.heartbeat_at < cutoff
        )
    ).all()
    changed = []
    for run in stale:
        values: dict = {"status": RunStatus.QUEUED.value, "claimed_by": None, "run_after": utcnow()}
        if run.attempts >= MAX_ATTEMPTS:
            values = {
                "status": RunStatus.FAILED.value,
                "finished_at": utcnow(),
                "error": f"the worker running it stopped responding ({run.attempts} attempts)",
            }
        # Conditional: another worker may have requeued it, or its own worker woken up.
        done = session.execute(
            sa.update(PullRun)
            .where(PullRun.id == run.id, PullRun.status == RunStatus.RUNNING.value)
            .where(PullRun.heartbeat_at < cutoff)
            .values(**values)
        ).rowcount
        if done:
            changed.append(session.get(PullRun, run.id, populate_existing=True))
    return changed


def fail_dead(*, session: Session) -> list[PullRun]:
    """Fail the runs claimed by a process of this host that no longer exists.

    Not retried: a run that killed its worker (out of memory on a hostile file) would
    kill the next one too. Runs of other hosts go stale and are handled by
    ``requeue_stale``.
    """
    host = socket.gethostname()
    running = session.exec(
        select(PullRun).where(
            PullRun.status == RunStatus.RUNNING.value, PullRun.claimed_by.startswith(f"{host}:")
        )
    ).all()
    failed = []
    for run in running:
        pid = int(run.claimed_by.split(":")[1])
        if _alive(pid):
            continue
        error = f"its worker process ({pid} on {host}) died mid-run: killed, or out of memory"
        done = session.execute(
            sa.update(PullRun)
            .where(PullRun.id == run.id, PullRun.status == RunStatus.RUNNING.value)
            .where(PullRun.claimed_by == run.claimed_by)
            .values(status=RunStatus.FAILED.value, finished_at=utcnow(), error=error)
        ).rowcount
        if done:
            failed.append(session.get(PullRun, run.id, populate_existing=True))
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds that id now
    return True


def run_worker(
    ctx: context.PullContext,
    *,
    stopping: threading.Event,
    poll_seconds: float = 5.0,
    once: bool = False,
    echo: Callable[[str], None] = log.info,
) -> int:
    """Run due pulls until ``stopping`` is set (or, with ``once``, the queue is empty).

    ``stopping`` lets the current pull finish; ``ctx.stop`` interrupts it and puts
    it back in the queue. Returns how many pulls this worker ran.
    """
    ran = 0
    try:
        with db.write_session(ctx.engine) as s:
            for run in fail_dead(session=s):
                echo(f"run {run.id}: failed, {run.error}")
    except sa.exc.OperationalError as exc:
        echo(f"database unavailable ({type(exc.orig).__name__}); dead runs checked later")
    while not stopping.is_set():
        try:
            run = _next(ctx, echo)
            if run is not None:
                echo(f"run {run.id}: claimed (source {run.source_id}, {run.trigger}, {run.mode})")
                finished = runs.execute(ctx, run.id)
                error = f": {finished.error}" if finished.error else ""
                echo(f"run {finished.id}: {finished.status}{error}")
                ran += 1
                continue
        except sa.exc.OperationalError as exc:
            # The database is restarting or unreachable: wait and try again, do not die.
            # A run caught halfway keeps its claim and is taken over once it goes stale.
            echo(f"database unavailable ({type(exc.orig).__name__}); retrying")
        if once:
            break
        stopping.wait(poll_seconds)
    return ran


def _next(ctx: context.PullContext, echo: Callable[[str], None]) -> PullRun | None:
    for line in importing.recover(ctx.engine):  # what a crashed import left half done
        echo(line)
    with db.write_session(ctx.engine) as s:
        for run in requeue_stale(session=s, stale_seconds=ctx.stale_seconds):
            echo(f"run {run.id}: its worker stopped responding; now {run.status}")
        for run in sources.schedule_due(session=s):
            echo(f"run {run.id}: scheduled (source {run.source_id})")
    with db.write_session(ctx.engine) as s:
        return claim_next(session=s, worker_id=ctx.worker_id)
