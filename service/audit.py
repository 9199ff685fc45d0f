"""The audit log: who did what, when and from where — admin actions, exports and sign-ins.

Targets name things by id (``user:12``, ``token:3``, ``project:demo``) rather than by
personal data, so erasing a rater leaves the log intact and anonymous.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from service.errors import InvalidInput
from service.models import AuditEvent, User
from service.paging import Page, paginate

EXPORT_FORMATS = ("csv", "jsonl")
COLUMNS = ("id", "created_at", "actor_id", "actor", "action", "target", "address", "details")
_EXPORT_CHUNK = 1000


def record(
    *,
    session: Session,
    actor_id: int | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    address: str | None = None,
) -> AuditEvent:
    """Add one event to the audit log (committed with the caller's transaction)."""
    event = AuditEvent(
        actor_id=actor_id,
        action=action[:80],
        target=target[:300],
        details=details or {},
        address=(address or None) and address[:64],
    )
    session.add(event)
    session.flush()
    return event


def _query(
    action: str | None = None,
    actor_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    query = select(AuditEvent)
    if action:
        # "user" matches "user.invite", "user.erase", ...; "login" matches "login.failed".
        query = query.where(
            (AuditEvent.action == action) | AuditEvent.action.startswith(f"{action}.")
        )
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    return query


def list_events(
    *, session: Session, page: int = 1, per_page: int = 50, **filters: Any
) -> Page[AuditEvent]:
    """Return one page of events, newest first, filtered by action, actor and time."""
    query = _query(**filters).order_by(AuditEvent.id.desc())
    return paginate(session=session, query=query, page=page, per_page=per_page)


def actor_names(*, session: Session, events: list[AuditEvent]) -> dict[int, str]:
    """Map the actors of ``events`` to their (possibly pseudonymised) usernames."""
    ids = {e.actor_id for e in events if e.actor_id is not None}
    if not ids:
        return {}
    rows = session.exec(select(User.id, User.username).where(User.id.in_(ids)))
    return {uid: name for uid, name in rows}


def as_row(event: AuditEvent, actor: str | None) -> dict[str, Any]:
    """Return an event as a flat dict (the export's columns)."""
    return {
        "id": event.id,
        "created_at": event.created_at,
        "actor_id": event.actor_id,
        "actor": actor,
        "action": event.action,
        "target": event.target,
        "address": event.address,
        "details": event.details,
    }


def export_events(*, session: Session, fmt: str, **filters: Any) -> Iterator[str]:
    """Stream matching events, oldest first, as CSV or JSON Lines text chunks."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}.")
    if fmt == "csv":
        yield _csv_line(COLUMNS)
    last_id = 0
    while True:
        # Keyset pages keep memory flat however long the log is.
        query = _query(**filters).where(AuditEvent.id > last_id)
        events = list(session.exec(query.order_by(AuditEvent.id).limit(_EXPORT_CHUNK)))
        if not events:
            return
        names = actor_names(session=session, events=events)
        for event in events:
            row = as_row(event, names.get(event.actor_id or 0))
            row["created_at"] = event.created_at.isoformat()
            if fmt == "jsonl":
                yield json.dumps(row, ensure_ascii=False) + "\n"
            else:
                row["details"] = json.dumps(row["details"], ensure_ascii=False, sort_keys=True)
                yield _csv_line([_defuse(row[c]) for c in COLUMNS])
        last_id = events[-1].id or last_id


def _defuse(value: Any) -> Any:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_line(values: Any) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return out.getvalue()
