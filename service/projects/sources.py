"""Sources a project pulls from, and the runs (jobs) that pull them.

Admins create sources; a run is queued by a click, the API, the schedule or the
CLI, and executed by a worker (``service/pull/worker.py``) through ``service/pull/runs.py``.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlmodel import Session, select

from service.errors import Conflict, InvalidInput, NotFound
from service.models import (
    ACTIVE_RUN_STATES,
    Generation,
    Project,
    PullRun,
    RunStatus,
    Source,
    utcnow,
)
from service.projects.source_config import CONFIG_SCHEMAS, SourceInputSchema, SourceUpdateSchema
from service.schemas import flatten_messages

RETRYABLE_RUN_STATES = (RunStatus.FAILED.value, RunStatus.PARTIAL.value)


def _invalid(exc: ValidationError, what: str, prefix: str = "") -> InvalidInput:
    errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages, prefix)]
    return InvalidInput(f"Invalid {what}.", errors=errors)


def _load_config(kind: str, config: Any) -> dict[str, Any]:
    try:
        return CONFIG_SCHEMAS[kind]().load(config)
    except ValidationError as exc:
        raise _invalid(exc, f"{kind} source config", "config") from exc


def create_source(*, session: Session, data: dict[str, Any], user_id: int | None = None) -> Source:
    """Validate ``data`` (name, project slug, kind, config, interval) and create the source."""
    try:
        values = SourceInputSchema().load(data)
    except ValidationError as exc:
        raise _invalid(exc, "source") from exc
    project = session.exec(select(Project).where(Project.slug == values["project"])).first()
    if project is None:
        raise NotFound(f"No project {values['project']!r}.")
    if session.exec(select(Source).where(Source.name == values["name"])).first():
        raise Conflict(f"Source {values['name']!r} already exists.")
    interval = values.get("interval_minutes")
    source = Source(
        name=values["name"],
        project_id=project.id,
        kind=values["kind"],
        config=_load_config(values["kind"], values["config"]),
        interval_minutes=interval,
        # A scheduled source is due at once; the worker then keeps the interval.
        next_run_at=utcnow() if interval else None,
        created_by=user_id,
    )
    session.add(source)
    session.flush()
    return source


def update_source(*, session: Session, source: Source, data: dict[str, Any]) -> Source:
    """Change a source's config and/or schedule; a new remote URL forgets the old validators."""
    try:
        values = SourceUpdateSchema().load(data)
    except ValidationError as exc:
        raise _invalid(exc, "source") from exc
    if "config" in values:
        config = _load_config(source.kind, values["config"])
        if config.get("url") != source.config.get("url"):
            source.etag = source.last_modified = source.last_checksum = None
        source.config = config
    if "interval_minutes" in values:
        source.interval_minutes = values["interval_minutes"]
        source.next_run_at = utcnow() if source.interval_minutes else None
    source.updated_at = utcnow()
    session.add(source)
    session.flush()
    return source


def get_source(*, session: Session, name: str) -> Source:
    """Return the source called ``name`` or raise NotFound."""
    source = session.exec(select(Source).where(Source.name == name)).first()
    if source is None:
        raise NotFound(f"No source {name!r}.")
    return source


def list_sources(*, session: Session, project: Project | None = None) -> list[Source]:
    """Return every source (of ``project``, if given), oldest first."""
    query = select(Source).order_by(Source.id)
    if project is not None:
        query = query.where(Source.project_id == project.id)
    return list(session.exec(query))


def active_run(*, session: Session, source: Source) -> PullRun | None:
    """Return the source's queued or running run, if any."""
    return session.exec(
        select(PullRun).where(PullRun.source_id == source.id, PullRun.status.in_(ACTIVE_RUN_STATES))
    ).first()


def active_runs(*, session: Session) -> dict[int, PullRun]:
    """Map each source id to its queued or running run, for sources that have one."""
    runs = session.exec(select(PullRun).where(PullRun.status.in_(ACTIVE_RUN_STATES)))
    return {run.source_id: run for run in runs}


def enqueue_run(
    *,
    session: Session,
    source: Source,
    trigger: str = "manual",
    mode: str = "pull",
    user_id: int | None = None,
    retry_of: int | None = None,
    status: str = RunStatus.QUEUED.value,
    claimed_by: str | None = None,
) -> PullRun:
    """Queue a pull of ``source``; refuse while another one is queued or running."""
    if mode not in ("pull", "retry"):
        raise InvalidInput(f"Unknown mode {mode!r}; use pull or retry.", errors=[{"field": "mode"}])
    busy = active_run(session=session, source=source)
    if busy is not None:
        raise Conflict(f"Source {source.name!r} already has a {busy.status} pull (run {busy.id}).")
    now = utcnow()
    run = PullRun(
        source_id=source.id,
        trigger=trigger,
        mode=mode,
        requested_by=user_id,
        retry_of=retry_of,
        status=status,
        claimed_by=claimed_by,
        run_after=now,
        started_at=now if claimed_by else None,
        heartbeat_at=now if claimed_by else None,
        attempts=1 if claimed_by else 0,
    )
    try:
        # A savepoint: the unique index on active runs may refuse a racing twin.
        with session.begin_nested():
            session.add(run)
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"Source {source.name!r} already has a pull queued or running.") from exc
    return run


def retry_run(*, session: Session, run: PullRun, user_id: int | None = None) -> PullRun:
    """Queue a retry of a failed or partial run: re-pull, and re-ask failed generations."""
    if run.status not in RETRYABLE_RUN_STATES:
        raise Conflict(f"Run {run.id} is {run.status}; only failed or partial runs are retried.")
    source = session.get(Source, run.source_id)
    return enqueue_run(
        session=session,
        source=source,
        trigger="retry",
        mode="retry",
        user_id=user_id,
        retry_of=run.id,
    )


def get_run(*, session: Session, run_id: int) -> PullRun:
    """Return run ``run_id`` or raise NotFound."""
    run = session.get(PullRun, run_id)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    return run


def list_runs(*, session: Session, source: Source, limit: int = 50) -> list[PullRun]:
    """Return the source's latest runs, newest first."""
    query = select(PullRun).where(PullRun.source_id == source.id)
    return list(session.exec(query.order_by(PullRun.id.desc()).limit(limit)))


def list_generations(
    *, session: Session, source: Source, status: str | None = None, limit: int = 500
) -> list[Generation]:
    """Return the source's generations (only ``status`` ones, if given), by prompt."""
    query = select(Generation).where(Generation.source_id == source.id)
    if status is not None:
        query = query.where(Generation.status == status)
    order = (Generation.prompt_id, Generation.generator, Generation.sample)
    return list(session.exec(query.order_by(*order).limit(limit)))


def schedule_due(*, session: Session) -> list[PullRun]:
    """Queue a pull of every source whose schedule is due; advance each schedule once."""
    now = utcnow()
    due = session.exec(
        select(Source).where(Source.interval_minutes.is_not(None), Source.next_run_at <= now)
    ).all()
    queued = []
    for source in due:
        # Conditional update: of several workers looking at once, one advances the clock.
        won = session.execute(
            sa.update(Source)
            .where(Source.id == source.id, Source.next_run_at <= now)
            .values(next_run_at=now + timedelta(minutes=source.interval_minutes))
        ).rowcount
        # A pull still queued or running when the schedule comes round skips its turn.
        if won:
            with contextlib.suppress(Conflict):
                queued.append(enqueue_run(session=session, source=source, trigger="schedule"))
    return queued
