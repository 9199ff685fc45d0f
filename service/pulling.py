"""Execute one claimed pull run: dispatch on the source's kind, keep the claim alive, record.

Every kind ends in ``importing.import_items``, so the same validation, all-or-nothing
and idempotency rules apply to every pull, and a pull that fails halfway leaves no
items behind.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import socket
import threading
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.errors import DomainError, InvalidInput
from service.fetch import FetchError, Stopped
from service.importing import (
    MAX_REPORTED_ERRORS,
    ImportResult,
    InputLimits,
    import_items,
    read_jsonl,
)
from service.models import Project, PullRun, RunStatus, Source, utcnow

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int | None], None]


@dataclass
class Outcome:
    """How a run ended: its status, the batch it made, counts, and what went wrong."""

    status: str
    batch_id: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of_import(cls, result: ImportResult, **summary: Any) -> Outcome:
        """Describe a finished import; bad lines kept out by skip-invalid make it partial."""
        counts = {k: v for k, v in result.as_dict().items() if k != "errors"}
        status = RunStatus.PARTIAL if result.error_count else RunStatus.SUCCEEDED
        error = f"{result.error_count} bad line(s) skipped" if result.error_count else ""
        return cls(
            status=status.value,
            batch_id=result.batch_id,
            summary={**counts, **summary},
            error=error,
            errors=[e.as_dict() for e in result.errors],
        )


@dataclass
class PullContext:
    """What a running pull needs besides its run: the database, limits, and the stop signal."""

    engine: sa.Engine
    worker_id: str
    max_chars: int = 200_000
    prompts_dir: str = ""
    max_bytes: int = 2 * 1024**3
    stale_seconds: float = 300.0
    input_limits: InputLimits = field(default_factory=InputLimits)
    stop: threading.Event = field(default_factory=threading.Event)
    on_progress: Progress | None = None
    # The latest progress, written into the run by the heartbeat.
    latest: dict[str, Any] = field(default_factory=dict)

    def report(self, phase: str, done: int, total: int | None = None) -> None:
        """Record progress (shown on the run, and by the CLI's progress bar)."""
        self.latest = {"phase": phase, "done": done, "total": total}
        if self.on_progress is not None:
            self.on_progress(phase, done, total)

    def check_stop(self) -> None:
        """Raise Stopped if the worker was asked to stop now."""
        if self.stop.is_set():
            raise Stopped("the worker is stopping")


def context_from_config(
    *, engine: sa.Engine, config: Mapping[str, Any], worker_id: str | None = None
) -> PullContext:
    """Build a pull context from the app's settings."""
    return PullContext(
        engine=engine,
        worker_id=worker_id or worker_name(),
        max_chars=int(config["MAX_RESPONSE_CHARS"]),
        prompts_dir=str(config["PROMPTS_DIR"]),
        max_bytes=int(config["PULL_MAX_BYTES"]),
        stale_seconds=float(config["WORKER_STALE_SECONDS"]),
        input_limits=InputLimits.from_config(config),
    )


def worker_name() -> str:
    """Name this process uniquely across hosts, for the runs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def key_from_env(name: str) -> str:
    """Return the API key held in environment variable ``name``; refuse an unset one."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise InvalidInput(
            f"environment variable {name} is not set on this worker ({socket.gethostname()}); "
            "API keys are read from there, never stored."
        )
    return value


class _Gunzipped:
    """A gzip stream whose damage is reported as bad input, naming the file."""

    def __init__(self, fileobj: IO[bytes], label: str) -> None:
        self.stream, self.label = gzip.GzipFile(fileobj=fileobj, mode="rb"), label

    def readline(self, size: int = -1) -> bytes:
        try:
            return self.stream.readline(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidInput(
                f"{self.label}: the gzip data is damaged or cut short ({exc}); "
                "nothing was imported."
            ) from exc


def open_jsonl(fileobj: IO[bytes], label: str) -> IO[bytes]:
    """Return a reader of a seekable JSON Lines file, gunzipping it if it starts as gzip."""
    fileobj.seek(0)
    head = fileobj.read(2)
    fileobj.seek(0)
    return _Gunzipped(fileobj, label) if head == b"\x1f\x8b" else fileobj  # type: ignore[return-value]


def import_file(
    ctx: PullContext,
    *,
    project: Project,
    fileobj: IO[bytes],
    label: str,
    kind: str,
    config: Mapping[str, Any],
) -> ImportResult:
    """Import one JSON Lines file object (gzip or not) as one batch, all or nothing."""
    hasher = hashlib.sha256()
    return import_items(
        engine=ctx.engine,
        project=project,
        rows=read_jsonl(open_jsonl(fileobj, label), hasher, ctx.input_limits),
        source=label,
        kind=kind,
        skip_invalid=bool(config.get("skip_invalid")),
        update=bool(config.get("update")),
        checksum=hasher.hexdigest,
        max_chars=ctx.max_chars,
        progress=lambda lines: ctx.report("import", lines),
    )


Runner = Callable[[PullContext, PullRun, Source, Project], Outcome]


def _runner(kind: str) -> Runner:
    # Imported here: each runner module builds on this one.
    from service import folder, generation, remote

    return {"remote": remote.pull, "folder": folder.pull, "generation": generation.pull}[kind]


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
        outcome = _runner(source.kind)(ctx, run, source, project)
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
