"""The one place errors become HTTP responses.

Under ``/api`` every error is the JSON envelope
``{"ok": false, "error": msg, "errors": [...], "status": code}``; in the browser
it is an HTML page. A wrong request never gets a 200.
"""

from __future__ import annotations

import errno
import logging
import re
import sqlite3
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from service.errors import DomainError
from service.schemas import flatten_messages

log = logging.getLogger(__name__)


# The database is down, locked past its timeout, out of disk, or cut mid-request: the
# request failed whole (its transaction rolled back) and the same request may succeed
# later; submissions carry a client id, so a retry never stores a judgment twice.
UNAVAILABLE = (sa.exc.OperationalError, sa.exc.TimeoutError, sa.exc.DisconnectionError)


# SQLite raises OperationalError for bugs too ("no such table", a syntax error): only
# these mean the database cannot serve now. psycopg's are all connection or resource
# failures (SQLSTATE classes 08, 53, 57, 58).
_SQLITE_TRANSIENT = ("locked", "busy", "disk", "unable to open", "readonly", "i/o error")


def _transient(exc: Exception) -> bool:
    original = getattr(exc, "orig", None)
    if isinstance(original, sqlite3.Error):
        return any(word in str(original).lower() for word in _SQLITE_TRANSIENT)
    return True


def envelope(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Any:
    """Build the JSON error response every API error uses."""
    body = {"ok": False, "error": message, "errors": errors or [], "status": status}
    rid = g.get("request_id")
    if rid:
        body["request_id"] = rid
    response = jsonify(body)
    response.status_code = status
    return response


def _wants_json() -> bool:
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _render(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Any:
    if _wants_json():
        return envelope(status, message, errors)
    html = render_template(
        "error.html",
        status=status,
        message=message,
        errors=errors or [],
        request_id=g.get("request_id"),
    )
    return html, status


def _response(rendered: Any) -> Any:
    return current_app.make_response(rendered)


def _webargs_errors(exc: HTTPException) -> list[dict[str, Any]]:
    """Flatten webargs/marshmallow messages into [{"field", "message"}]."""
    data = getattr(exc, "data", None) or {}
    # webargs nests by location ("json", "query"); the field path leaves it out.
    return [
        {"field": field, "message": message}
        for location_messages in (data.get("messages") or {}).values()
        for field, message in flatten_messages(location_messages)
    ]


_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _request_id() -> None:
    # A caller's id is echoed only when harmless (it lands in logs and headers).
    sent = request.headers.get("X-Request-Id", "")
    g.request_id = sent if _SAFE_REQUEST_ID.match(sent) else uuid.uuid4().hex[:16]


def init_request_id(app: Flask) -> None:
    """Give every request an id (first, so even early refusals carry it) and echo it."""
    app.before_request_funcs.setdefault(None, []).insert(0, _request_id)

    @app.after_request
    def _echo_request_id(response: Any) -> Any:
        if g.get("request_id"):
            response.headers["X-Request-Id"] = g.request_id
        return response


def register(app: Flask) -> None:
    """Map every exception to the envelope (API) or the error page (browser)."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Any:
        response = _response(_render(exc.status, exc.message, exc.errors))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        errors = _webargs_errors(exc)
        message = "Invalid request." if errors else (exc.description or exc.name)
        if status == 413:
            limit = request.max_content_length
            message = f"Request body too large (limit {limit} bytes)."
        return _render(status, message, errors)

    def _unavailable(what: str, exc: BaseException) -> Any:
        log.warning("503, request id %s: %s", g.get("request_id"), exc)
        retry_after = int(current_app.config["RETRY_AFTER_SECONDS"])
        message = f"{what}; nothing was saved. Try again in {retry_after} s."
        response = _response(_render(503, message))
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _database(exc: Exception) -> Any:
        if not _transient(exc):
            return _unexpected(exc)
        # SQLite's SQLITE_FULL, PostgreSQL's class 53 (insufficient resources).
        full = "disk is full" in str(exc) or "No space left" in str(exc)
        what = "The database's disk is full" if full else "The database is unavailable"
        return _unavailable(what, exc)

    for unavailable in UNAVAILABLE:
        app.register_error_handler(unavailable, _database)

    @app.errorhandler(OSError)
    def _os_error(exc: OSError) -> Any:
        if exc.errno == errno.ENOSPC:
            return _unavailable("The server's disk is full", exc)
        return _unexpected(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error, request id %s", g.get("request_id"))
        return _render(500, f"Internal error. Quote request id {g.get('request_id')}.")
