"""Import batches in flight: who owns one, its staged lines, and cleaning up after a crash.

An import stages its validated lines in ``import_stage``, a table nothing else reads,
in short write transactions, then publishes them (see ``importing``). Its batch row
says how far it got (``BatchState``): STAGING belongs to the process reading the input
(only it can go on; if it died, the batch is discarded), PUBLISHING is known valid and
anyone may finish it. One batch per project is in flight at a time, so what staging
checked against the project's items stays true until the batch is published.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import db
from service.errors import Conflict
from service.models import BATCH_IN_FLIGHT, BatchState, ImportBatch, ImportStage, utcnow

# A staging batch whose owner has not written for this long is taken to be dead (an
# owner stages a chunk every fraction of a second while it reads its input).
STALE_AFTER = timedelta(minutes=5)
# A publishing owner writes every few milliseconds; silent this long, others finish it.
PUBLISH_STALE_AFTER = timedelta(seconds=30)
DISCARD_CHUNK = 2000


def owner_id() -> str:
    """Name this process ("host:pid"), as the owner of the batches it stages."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_abandoned(batch: ImportBatch, after: timedelta = STALE_AFTER) -> bool:
    """Tell whether a batch's owner is gone: its process ended, or it went silent ``after``."""
    host, _, pid = batch.owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, another user's
    beat = batch.heartbeat_at
    return beat is None or utcnow() - beat > after


def in_flight(*, session: Session, project_id: int | None = None) -> list[ImportBatch]:
    """Return the batches not yet done, of one project or of all."""
    query = select(ImportBatch).where(BATCH_IN_FLIGHT)
    if project_id is not None:
        query = query.where(ImportBatch.project_id == project_id)
    return list(session.exec(query.order_by(ImportBatch.id)))


def progress(*, session: Session, project_id: int) -> dict[str, Any]:
    """Return a project's import in flight (its state and lines staged so far), for a
    progress bar; ``state`` is None when none is."""
    batch = next(iter(in_flight(session=session, project_id=project_id)), None)
    if batch is None:
        return {"batch_id": None, "state": None, "staged": 0}
    staged = session.execute(
        sa.select(sa.func.count()).where(ImportStage.batch_id == batch.id)
    ).scalar_one()
    return {"batch_id": batch.id, "state": batch.state, "staged": staged}


def open_batch(engine: sa.Engine, values: dict[str, Any]) -> int | ImportBatch:
    """Start a STAGING batch with ``values``; return its id, or the project's batch in flight."""
    try:
        with db.write_session(engine) as s:
            other = in_flight(session=s, project_id=values["project_id"])
            if other:
                return other[0]
            batch = ImportBatch(
                **values,
                state=BatchState.STAGING.value,
                owner=owner_id(),
                heartbeat_at=utcnow(),
            )
            s.add(batch)
            s.flush()
            return batch.id  # type: ignore[return-value]
    except sa.exc.IntegrityError as exc:  # PostgreSQL: another process opened one just now
        raise Conflict(
            "Another import into this project started at the same moment; try again."
        ) from exc


def busy(batch: ImportBatch) -> Conflict:
    """The error for an import refused because ``batch`` of the same project is staging."""
    return Conflict(
        f"Another import into this project is running (batch {batch.id}, {batch.source!r}, "
        f"by {batch.owner}); try again when it ends."
    )


def lock(session: Session, batch_id: int) -> ImportBatch | None:
    """Load the batch for this transaction, holding its row (PostgreSQL) against other writers."""
    return session.exec(
        select(ImportBatch)
        .where(ImportBatch.id == batch_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def stage(engine: sa.Engine, batch_id: int, rows: Iterable[dict[str, Any]]) -> None:
    """Add validated lines to a STAGING batch in one short transaction, and beat its heart."""
    with db.write_session(engine) as s:
        beat = s.execute(
            sa.update(ImportBatch)
            .where(ImportBatch.id == batch_id, ImportBatch.state == BatchState.STAGING.value)
            .values(heartbeat_at=utcnow())
        )
        if beat.rowcount != 1:
            raise Conflict(f"Import batch {batch_id} was discarded as abandoned; run it again.")
        s.execute(sa.insert(ImportStage), [{"batch_id": batch_id, **r} for r in rows])


def discard(engine: sa.Engine, batch_id: int) -> None:
    """Delete a batch that never published, and its staged lines, a chunk at a time."""
    stage_ids = sa.select(ImportStage.id).where(ImportStage.batch_id == batch_id)
    while True:
        with db.write_session(engine) as s:
            batch = lock(s, batch_id)
            if batch is None or batch.state != BatchState.STAGING.value:
                return  # gone already, or past the point of no return: rolled forward
            gone = s.execute(
                sa.delete(ImportStage).where(ImportStage.id.in_(stage_ids.limit(DISCARD_CHUNK)))
            ).rowcount
            if not gone:
                s.delete(batch)
                return
