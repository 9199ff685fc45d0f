"""Rankroom: collect expert human preference data for RLHF."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from service import config


def _secret_key(instance: Path) -> str:
    """Read the instance's secret key, creating it once (shared by workers on one host)."""
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(test_config: dict[str, Any] | None = None, *, routes: bool = True) -> Flask:
    """Build the app: defaults, then RANKROOM_* environment variables, then ``test_config``.

    Without ``routes`` it has neither the API, the pages nor the request plumbing
    (sign-in, input guards, error pages): what a CLI command that serves no HTTP needs,
    built in a fraction of the time (no OpenAPI document, no route table, none of the
    handlers' imports, nor the accounts stack that sign-in loads).
    """
    app = Flask(__name__, instance_path=os.environ.get("RANKROOM_INSTANCE_PATH") or None)
    app.config.from_mapping(config.defaults())
    app.config.from_prefixed_env("RANKROOM")
    if test_config:
        app.config.from_mapping(test_config)

    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'rankroom.db'}"
    if not app.config["IMAGES_DIR"]:
        app.config["IMAGES_DIR"] = str(instance / "images")
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key(instance)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config["SECURE_COOKIES"]),
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
        # The cookie is re-signed when the session changes (auth.py moves "seen" once a
        # minute), not on every response: signing cost more than most API calls.
        SESSION_REFRESH_EACH_REQUEST=False,
        API_TITLE="Rankroom",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )

    from service import db

    db.init_app(app)
    if app.config["CHECK_SCHEMA"]:
        db.check_schema(db.engine_of(app))
    if routes:
        _serve_http(app)
    return app


def _serve_http(app: Flask) -> None:
    """Add the API, the pages and what every request passes through on its way to them."""
    from service import api, web
    from service.http import auth, hardening
    from service.http import errors as http_errors

    http_errors.init_request_id(app)
    hardening.init_app(app)
    auth.init_app(app)
    api.init_app(app)
    web.init_app(app)
    # After the API, so the one envelope handler wins over flask-smorest's own.
    http_errors.register(app)
