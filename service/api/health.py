"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service import db
from service.http import readiness
from service.http.auth import public
from service.http.errors import envelope

bp = Blueprint("health", __name__, url_prefix="/", description="Probes for load balancers.")


class AliveSchema(Schema):
    ok = fields.Boolean(required=True)


class ReadySchema(AliveSchema):
    schema = fields.String(required=True, metadata={"description": "Migration revision."})


@bp.route("/healthz")
@bp.response(200, AliveSchema)
@public
def healthz() -> Any:
    """Answer while the process is up."""
    return {"ok": True}


@bp.route("/readyz")
@bp.response(200, ReadySchema)
@public
def readyz() -> Any:
    """Answer 200 only when the database is reachable, current, and can take writes."""
    try:
        with db.engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        db.check_schema(db.engine())
        problems = readiness.write_problems(
            db.engine(),
            instance_path=current_app.instance_path,
            min_free_mb=float(current_app.config["READY_MIN_FREE_MB"]),
        )
    except db.SchemaOutOfDate as exc:
        return envelope(503, str(exc))
    except sa.exc.SQLAlchemyError:
        return envelope(503, "Database unreachable.")
    if problems:
        return envelope(503, " ".join(problems))
    return {"ok": True, "schema": db.head_revision()}
