"""The JSON API under /api/v1, documented by its own OpenAPI document."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from marshmallow import Schema, fields

from service.http.auth import public


class ErrorEnvelopeSchema(Schema):
    """Every error: the one envelope built by service.http.errors.envelope."""

    ok = fields.Boolean(required=True)
    error = fields.String(required=True)
    errors = fields.List(fields.Dict(), required=True)
    status = fields.Integer(required=True)
    request_id = fields.String()


class RankroomApi(Api):
    # Document our envelope (not flask-smorest's own) as every operation's error answer.
    ERROR_SCHEMA = ErrorEnvelopeSchema


def init_app(app: Flask) -> None:
    """Register every API blueprint and open the OpenAPI document to all."""
    from service.api import (
        audit,
        export,
        health,
        judges,
        members,
        projects,
        rating,
        sources,
        stats,
        tokens,
        users,
        workload,
    )

    api = RankroomApi(app, spec_kwargs={"info": {"description": "Rankroom's JSON API."}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for module in (
        audit,
        export,
        health,
        judges,
        members,
        projects,
        rating,
        sources,
        stats,
        tokens,
        users,
        workload,
    ):
        api.register_blueprint(module.bp)
    app.extensions["rankroom.api"] = api
    for endpoint in ("api-docs.openapi_json",):
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = public(app.view_functions[endpoint])
