"""Execute one claimed pull run: dispatch on the source's kind, keep the claim alive, record."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.errors import DomainError
from service.items.importing import MAX_REPORTED_ERRORS
from service.models import Project, PullRun, RunStatus, Source, utcnow
from service.projects.source_config import JUDGE_KIND
from service.pull import folder, generation, judge_runs, remote
from service.pull.context import Outcome, PullContext
from service.pull.fetch import FetchError, Stopped

log = logging.getLogger(__name__)


Runner = Callable[[PullContext, PullRun, Source, Project], Outcome]


# Each kind of source and the function that pulls it.
RUNNERS: dict[str, Runner] = {
    "remote": remote.pull,
    "folder": folder.pull,
    "generation": generation.pull,
    JUDGE_KIND: judge_runs.pull,
}


def execute(ctx: PullContext, run_id: int) -> PullRun:
    """Run a pull this worker has claimed and record its outcome (or hand it back if stopped)."""
    with Session(ctx.engine, expire_on_commit=False) as s:
        run = s.get(PullRun, run_id)
        source = s.get(Source, run.source_id)
        project = s.get(Project, source.project_id)
    heartbeat = Heartbeat(ctx, run_id)
    heartbeat.start()
    outcome: Outcome | None = None
    try:
        outcome = RUNNERS[source.kind](ctx, run, source, project)
    except Stopped:
        pass
    except FetchError as exc:
        outcome = Outcome(RunStatus.FAILED.value, error=exc.message)
    except DomainError as exc:
        outcome = Outcome(RunStatus.FAILED.value, error=exc.message, errors=exc.errors)
    except Exception as exc:
        log.exception("pull run %s failed unexpectedly", run_id)
        outcome = Outcome(RunStatus.FAILED.value, error=f"internal error: {type(exc).__name__}")
    finally:
        heartbeat.stop()
    if outcome is None:
        return _release(ctx, run_id)
    return _finish(ctx, run_id, outcome)


def abandon(ctx: PullContext, run_id: int, message: str) -> PullRun:
    """Mark a run this process holds as failed (the CLI was interrupted)."""
    return _finish(ctx, run_id, Outcome(RunStatus.FAILED.value, error=message))


def _finish(ctx: PullContext, run_id: int, outcome: Outcome) -> PullRun:
    now = utcnow()
    with db.write_session(ctx.engine) as s:
        won = s.execute(
            sa.update(PullRun)
            .where(PullRun.id == run_id, PullRun.claimed_by == ctx.worker_id)
            .where(PullRun.status == RunStatus.RUNNING.value)
            .values(
                status=outcome.status,
                finished_at=now,
                batch_id=outcome.batch_id,
                summary=outcome.summary,
                error=outcome.error,
                errors=outcome.errors[:MAX_REPORTED_ERRORS],
                progress={},
            )
        ).rowcount
        run = s.get(PullRun, run_id)
        if not won:
            # Declared stale and taken over while we worked; the new holder records it.
            log.warning("run %s is no longer held by %s; outcome dropped", run_id, ctx.worker_id)
            return run
        s.execute(
            sa.update(Source)
            .where(Source.id == run.source_id)
            .values(last_run_at=now, last_status=outcome.status, last_error=outcome.error)
        )
    return run


def _release(ctx: PullContext, run_id: int) -> PullRun:
    """Put an interrupted run back in the queue for another worker to resume."""
    with db.write_session(ctx.engine) as s:
        s.execute(
            sa.update(PullRun)
            .where(PullRun.id == run_id, PullRun.claimed_by == ctx.worker_id)
            .values(status=RunStatus.QUEUED.value, claimed_by=None, progress={}, run_after=utcnow())
        )
        return s.get(PullRun, run_id)


class Heartbeat(threading.Thread):
    """Stamp a running run every few seconds, so a dead worker's run can be taken over."""

    def __init__(self, ctx: PullContext, run_id: int) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.ctx = ctx
        self.run_id = run_id
        self.interval = max(0.2, ctx.stale_seconds / 5)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            try:
                with db.write_session(self.ctx.engine) as s:
                    s.execute(
                        sa.update(PullRun)
                        .where(PullRun.id == self.run_id)
                        .where(PullRun.claimed_by == self.ctx.worker_id)
                        .values(heartbeat_at=utcnow(), progress=dict(self.ctx.latest))
                    )
            except sa.exc.OperationalError as exc:
                # SQLite: the import holds the write lock; the next beat will do.
                log.info("heartbeat of run %s skipped: %s", self.run_id, exc)

    def stop(self) -> None:
        """End the heartbeat and wait for it."""
        self._done.set()
        if self.is_alive():
            self.join()
