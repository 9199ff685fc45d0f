"""Defences every request and response gets: security headers, body limits, input guards.

Pages must work under the Content-Security-Policy below: scripts and styles come
from files under /static only (no inline ``<script>``, no ``style=""`` attributes,
no ``onclick=""``). Setting ``element.style`` from a script file is fine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from service import db
from service.errors import DomainError, InvalidInput, NotFound
from service.json_depth import json_problem, loads, too_deep

F = TypeVar("F", bound=Callable[..., Any])

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Invite links carry their secret in the path: never send it on as a referrer.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def large_body(view: F) -> F:
    """Let a view (an import) take bodies up to MAX_CONTENT_LENGTH instead of MAX_BODY_BYTES."""
    view.large_body = True  # type: ignore[attr-defined]
    return view


def _limit_body() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "large_body", False):
        limit = current_app.config["MAX_BODY_BYTES"]
        ceiling = current_app.config.get("MAX_CONTENT_LENGTH") or limit
        request.max_content_length = min(limit, ceiling)


def _guard_input() -> None:
    """Refuse NUL characters anywhere and JSON nested too deeply, with a 400 naming the place."""
    if "\x00" in request.path:
        raise DomainError("The URL must not contain NUL characters.")
    for value in (request.view_args or {}).values():
        # Ids past a 32-bit integer exist nowhere, and PostgreSQL would fail on them.
        if isinstance(value, int) and not -(2**31) <= value < 2**31:
            raise NotFound("No such thing: the id is out of range.")
    for where, multi in (("query", request.args), ("form", request.form)):
        for key, values in multi.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                raise DomainError(f"{where} field {key!r} must not contain NUL characters.")
    if request.method in ("GET", "HEAD", "OPTIONS") or request.mimetype == "multipart/form-data":
        return
    if getattr(current_app.view_functions.get(request.endpoint or ""), "large_body", False):
        # Imports parse their own large bodies, JSON or JSON Lines, and name the line and
        # field of any NUL character (importing.read_jsonl).
        return
    if not request.is_json:
        return
    data = request.get_data(cache=True)  # 413 here when over the limit
    if not data:
        return
    if too_deep(data, current_app.config["MAX_JSON_DEPTH"]):
        depth = current_app.config["MAX_JSON_DEPTH"]
        raise DomainError(f"JSON nested deeper than {depth} levels.")
    try:
        doc = loads(data)  # a too-long integer is named below, not a bare ValueError later
    except RecursionError:
        depth = current_app.config["MAX_JSON_DEPTH"]
        raise DomainError(f"JSON nested deeper than {depth} levels.") from None
    except ValueError:
        return  # malformed JSON: the view's parser reports it (400) in its own words
    problem = json_problem(doc, current_app.config["MAX_JSON_DEPTH"])
    if problem and problem.message.startswith("JSON nested"):
        raise DomainError(problem.sentence())
    if problem:  # well-formed JSON holding what no column can store: name the field
        field = [{"field": problem.field, "message": problem.message}]
        raise InvalidInput(problem.sentence(), errors=field)


class IdConverter(IntegerConverter):
    """``<int:...>`` in a route: at most 18 ASCII digits, or the URL matches no route (404).

    Werkzeug's own takes any run of digits and raises a bare ValueError (a 500) past
    Python's 4300-digit limit; the input guard refuses ids past 32 bits (404) anyway.
    """

    regex = r"[0-9]{1,18}"


def _security_headers(response: Any) -> Any:
    wanted = dict(SECURITY_HEADERS)
    if current_app.config["SECURE_COOKIES"]:
        wanted["Strict-Transport-Security"] = "max-age=31536000"
    if request.endpoint != "static":
        # Pages and API answers hold people's data: keep them out of shared caches.
        wanted["Cache-Control"] = "no-store"
    # One pass over the headers a view set itself (setdefault per name would scan
    # them once per name, on every request).
    present = {name.lower() for name, _ in response.headers.items()}
    response.headers.extend([(k, v) for k, v in wanted.items() if k.lower() not in present])
    return response


def _declare_writes() -> None:
    # Any method but GET/HEAD/OPTIONS may write; the database layer knows no requests.
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        db.declare_writes()


def init_app(app: Flask) -> None:
    """Install the limits, input guards and security headers."""
    hops = int(app.config["PROXY_HOPS"] or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    # Before any blueprint is registered: a rule takes its converter when it is added.
    app.url_map.converters["int"] = IdConverter
    app.before_request(_declare_writes)
    app.before_request(_limit_body)
    app.before_request(_guard_input)
    app.after_request(_security_headers)
