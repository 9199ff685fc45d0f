"""The audit log for admins: page through it, or export it as CSV or JSON Lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlmodel import Session

from service import audit, db
from service.api.paging import PAGE_HEADERS, PageArgs, page_headers
from service.http.auth import audit_here, requires
from service.schemas import TextInteger, UtcDateTime

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Audit log (admins).")


class AuditFilterSchema(Schema):
    action = fields.String(
        validate=validate.Length(1, 80),
        metadata={"description": "An action, or its prefix before a dot (user, login, token)."},
    )
    actor_id = TextInteger(validate=validate.Range(1, 2**31 - 1))
    since = UtcDateTime(metadata={"description": "From (ISO)."})
    until = UtcDateTime(metadata={"description": "Before (ISO)."})


class AuditListArgs(PageArgs, AuditFilterSchema):
    pass


class AuditExportArgs(AuditFilterSchema):
    format = fields.String(load_default="jsonl", validate=validate.OneOf(audit.EXPORT_FORMATS))


class AuditEventSchema(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    actor = fields.String(allow_none=True)
    action = fields.String()
    target = fields.String()
    address = fields.String(allow_none=True)
    details = fields.Dict()


@bp.route("")
@bp.arguments(AuditListArgs, location="query")
@bp.response(200, AuditEventSchema(many=True), headers=PAGE_HEADERS)
@requires("admin", scope="admin")
def list_events(args: dict[str, Any]) -> Any:
    """List audit events, newest first, a page at a time."""
    s = db.session()
    page = audit.list_events(session=s, **args)
    names = audit.actor_names(session=s, events=page.items)
    rows = [audit.as_row(e, names.get(e.actor_id or 0)) for e in page.items]
    return rows, page_headers(page)


@bp.route("/export")
@bp.arguments(AuditExportArgs, location="query")
@bp.response(200, {"type": "string"}, content_type="text/csv", description="CSV or JSON Lines.")
@bp.alt_response(200, schema={"type": "string"}, content_type="application/x-ndjson")
@requires("admin", scope="admin")
def export(args: dict[str, Any]) -> Any:
    """Export matching events, oldest first, as CSV or JSON Lines (the export is audited)."""
    fmt = args.pop("format")
    audit_here("audit.export", "audit", {"format": fmt, "filters": _jsonable(args)})
    db.session().commit()
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    # The body streams after the request is torn down (and its session closed), so it
    # reads through a session of its own; that opens no connection until it is read.
    response = Response(_stream(Session(db.engine()), fmt, args), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="rankroom-audit.{fmt}"'
    return response


def _stream(s: Session, fmt: str, filters: dict[str, Any]) -> Iterator[str]:
    try:
        yield from audit.export_events(session=s, fmt=fmt, **filters)
    finally:
        s.close()


def _jsonable(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in filters.items()}
