"""Preference dataset export over HTTP: the same bytes as ``rankroom export``, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlmodel import Session

from service import db
from service.dashboards.record import export_records
from service.errors import Forbidden, InvalidInput
from service.export.card import FileInfo, render_card
from service.export.exporter import Export, part_filename
from service.export.folder_options import FolderOptions, FolderOptionsSchema
from service.export.folder_zip import folder_zip
from service.export.options import ExportOptions, ExportOptionsSchema
from service.http import liveness
from service.http.auth import acts_as_admin, client_address, current_user, requires
from service.images import ImageStore

bp = Blueprint(
    "export", __name__, url_prefix="/api/v1/export", description="Preference dataset exports."
)


def _start(options: ExportOptions, session: Session, via: str = "api") -> Export:
    if options.real_usernames and not acts_as_admin():
        # Names are an admin's to see: an admin's export-only token gets pseudonyms too.
        raise Forbidden(
            "Only admins (a session or an admin-scoped token) may export real usernames."
        )
    return Export(
        session=session,
        options=options,
        secret_key=current_app.config["SECRET_KEY"],
        actor=current_user(),
        via=via,
        address=client_address(),
        images=ImageStore.from_config(current_app.config),
    )


@bp.route("")
@bp.arguments(ExportOptionsSchema, location="query", as_kwargs=False, unknown=RAISE)
@bp.doc(
    responses={
        "200": {
            "description": "The dataset as JSON Lines, streamed.",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    }
)
@requires("engineer", "admin", scope="export")
def export(options: ExportOptions) -> Any:
    """Stream a preference dataset (one split part at a time) as JSON Lines."""
    if options.split and not options.part:
        raise InvalidInput(
            "Give part (one of the split names): the API streams one split at a time.",
            errors=[{"field": "part", "message": "required with split"}],
        )
    # The body streams after the request's own session is closed (Flask 3.1 tears the
    # request down before iterating it), so the export reads through its own session.
    session = Session(db.engine())
    try:
        job = _start(options, session)
    except Exception:
        session.close()
        raise
    name = part_filename(f"{options.format}.jsonl", options.part or "")

    def body() -> Iterator[bytes]:
        try:
            for _, data in job.chunks():
                yield data
        finally:
            session.close()

    return Response(
        body(),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/card")
@bp.arguments(ExportOptionsSchema, location="query", as_kwargs=False, unknown=RAISE)
@bp.doc(
    responses={
        "200": {
            "description": "The dataset card (Markdown) of this export.",
            "content": {"text/markdown": {"schema": {"type": "string"}}},
        }
    }
)
@requires("engineer", "admin", scope="export")
def card(options: ExportOptions) -> Any:
    """Run the export without sending it and return its dataset card, checksums included."""
    job = _start(options, db.session(), via="api card")
    for _ in job.chunks():
        pass
    s = job.summary
    files = [
        FileInfo(
            name=part_filename(f"{options.format}.jsonl", part),
            part=part,
            rows=s.rows[part],
            sha256=s.sha256[part],
        )
        for part in options.split_names()
    ]
    records = export_records(session=db.session(), summary=s)
    return Response(render_card(s, files, records), mimetype="text/markdown")


@bp.route("/folder")
@bp.arguments(FolderOptionsSchema, location="query", as_kwargs=False, unknown=RAISE)
@bp.doc(
    responses={
        "200": {
            "description": "The Hub-ready folder (Parquet configs and README.md) as a zip, "
            "streamed config by config as each is written.",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
)
@requires("engineer", "admin", scope="export")
def folder(options: FolderOptions) -> Any:
    """Stream the Hub-ready Parquet folder of these options as a zip, written as it goes."""
    if options.first.real_usernames and not acts_as_admin():
        raise Forbidden(
            "Only admins (a session or an admin-scoped token) may export real usernames."
        )
    # The body streams after the request's own session is closed: its own session, held
    # (one snapshot) until the last byte.
    session = Session(db.engine())
    body = folder_zip(
        session=session,
        options=options,
        secret_key=current_app.config["SECRET_KEY"],
        actor=current_user(),
        via="api folder",
        address=client_address(),
        records=lambda summary: export_records(session=session, summary=summary),
        alive=liveness.beat,
        images=ImageStore.from_config(current_app.config),
    )
    try:
        next(body)  # every option checked: a refusal is still an error status here
    except BaseException:
        body.close()
        session.close()
        raise

    def stream() -> Iterator[bytes]:
        try:
            yield b""  # gunicorn sends the headers on this first write, before any config
            yield from body
        finally:
            body.close()
            session.close()

    return Response(
        stream(),
        mimetype="application/zip",
        headers={"Content-Disposition": 'attachment; filename="rankroom-dataset.zip"'},
    )
