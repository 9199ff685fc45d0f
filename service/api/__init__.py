"""The JSON API under /api/v1, documented by its own OpenAPI document."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from service.auth import public


def init_app(app: Flask) -> None:
    """Register every API blueprint and open the OpenAPI document to all."""
    from service.api import export, health, projects, rating

    api = Api(app, spec_kwargs={"info": {"description": "Rankroom's JSON API."}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for module in (health, projects, rating, export):
        api.register_blueprint(module.bp)
    app.extensions["rankroom.api"] = api
    for endpoint in ("api-docs.openapi_json",):
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = public(app.view_functions[endpoint])
