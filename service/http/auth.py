"""Who is asking, and may they: session cookies for browsers, bearer tokens for the API.

Every view declares its access with ``@requires(...)`` or ``@public``; the rule is
stored on the view so a test can walk the URL map and check every route.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g, redirect, request, session, url_for

from service import audit, db
from service.accounts import users
from service.errors import Forbidden, Unauthorized
from service.models import ApiToken, User, as_loaded, utcnow

F = TypeVar("F", bound=Callable[..., Any])
SEEN_PRECISION_SECONDS = 60
# Built once: every signed-in request runs it, and building a statement costs more
# than executing it. Core, not the ORM: see models.as_loaded.
_USER_BY_ID = sa.select(*User.__table__.c).where(User.__table__.c.id == sa.bindparam("b_id"))


ADMIN_SCOPE = "admin"


@dataclass(frozen=True)
class Access:
    """Who may call a view: roles allowed, and the token scope needed (if by token).

    A view without a scope of its own (a page, a rater's route) is reached by token only
    with the admin scope: a token grants exactly what its scopes name.
    """

    roles: frozenset[str]
    scope: str | None = None
    public: bool = False

    @property
    def token_scope(self) -> str:
        """Return the scope a bearer token needs for this view (besides "admin")."""
        return self.scope or ADMIN_SCOPE


def public(view: F) -> F:
    """Mark a view as open to anyone."""
    if not inspect.isfunction(view):
        # Bound methods (e.g. flask-smorest's OpenAPI view) take no attributes: wrap them.
        view = functools.wraps(view)(functools.partial(view))  # type: ignore[assignment]
    view.access = Access(roles=frozenset(), public=True)  # type: ignore[attr-defined]
    return view


def requires(*roles: str, scope: str | None = None) -> Callable[[F], F]:
    """Allow a view only to signed-in users with one of ``roles`` (and token ``scope``)."""

    def decorate(view: F) -> F:
        # Checked by init_app's hook before the request body is parsed (see there).
        view.access = Access(roles=frozenset(roles), scope=scope)  # type: ignore[attr-defined]
        return view

    return decorate


def current_user() -> User | None:
    """Return the signed-in user of this request, if any."""
    return g.get("user")


def client_address() -> str:
    """Return the caller's address (from X-Forwarded-For only when PROXY_HOPS trusts it)."""
    return (request.remote_addr or "")[:64]


def audit_here(action: str, target: str = "", details: dict[str, Any] | None = None) -> None:
    """Record an audit event by the current user, from the current address."""
    user = current_user()
    audit.record(
        session=db.session(),
        actor_id=user.id if user else None,
        action=action,
        target=target,
        details=details,
        address=client_address(),
    )


def current_token() -> ApiToken | None:
    """Return the API token this request authenticated with, if any."""
    return g.get("token")


def check(access: Access) -> None:
    """Raise unless the current user satisfies ``access``."""
    if access.public:
        return
    user = current_user()
    if user is None:
        raise Unauthorized("Sign in or send an API token (Authorization: Bearer ...).")
    if user.role not in access.roles:
        raise Forbidden(f"Your role ({user.role}) may not do this.")
    token = current_token()
    if token is not None and not token_grants(token.scopes, access):
        raise Forbidden(f"This API token lacks the {access.token_scope!r} scope.")


def token_grants(scopes: list[str], access: Access) -> bool:
    """Tell whether a token with ``scopes`` may call a view its user's role allows.

    An "admin"-scoped token may do whatever its user may do; any other scope reaches only
    the views that name it (so an admin's stats token cannot open the People page).
    """
    return access.public or ADMIN_SCOPE in scopes or access.token_scope in scopes


def acts_as_admin() -> bool:
    """Tell whether this request has an admin's full rights: a session or an admin-scoped token."""
    user, token = current_user(), current_token()
    if user is None or user.role != "admin":
        return False
    return token is None or ADMIN_SCOPE in token.scopes


def csrf_token() -> str:
    """Return this browser session's CSRF token, creating it on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    """Refuse a state-changing browser request without the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS") or current_token() is not None:
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("Missing or stale CSRF token: reload the page and try again.")


def sign_in(user: User) -> None:
    """Start a fresh browser session for ``user`` (a new session id defeats fixation)."""
    session.clear()
    csrf_token()
    # A fresh random id: nothing from before sign-in (a planted cookie) carries over.
    session["sid"] = secrets.token_urlsafe(16)
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["seen"] = utcnow().timestamp()
    session.permanent = True


def sign_out() -> None:
    """End the browser session, and every copy of its cookie (it is signed, not stored)."""
    user = current_user()
    if user is not None:
        user.session_epoch += 1
        db.session().add(user)
        db.session().commit()
    session.clear()


def _load_user() -> None:
    g.user = None
    g.token = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user, token = users.resolve_token(header[7:].strip(), lookup=db.lookup)
        if users.token_stale(token):
            # Its own short transaction, before the request's session opens: on SQLite a
            # write here inside the request's transaction could wait on itself.
            with db.write_session() as s:
                users.touch_token(session=s, token=token)
        g.user, g.token = user, token
        return
    uid = session.get("uid")
    if uid is None:
        return
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"]).total_seconds()
    now = utcnow().timestamp()
    row = db.lookup(_USER_BY_ID, {"b_id": uid})
    user = None if row is None else as_loaded(User, row._mapping)
    if (
        user is None
        or not user.active
        or session.get("epoch") != user.session_epoch
        or now - session.get("seen", 0) > idle
    ):
        session.clear()
        return
    # Re-signing the cookie on every request costs more than the rest of the check:
    # a minute's precision is plenty for an idle timeout counted in tens of minutes.
    if now - session.get("seen", 0) > SEEN_PRECISION_SECONDS:
        session["seen"] = now
    g.user = user


def init_app(app: Flask) -> None:
    """Resolve the user of every request and refuse views that declare no access rule."""
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def _enforce_declared_access() -> Any:
        view = app.view_functions.get(request.endpoint or "")
        if view is None:
            return None
        access = getattr(view, "access", None)
        if access is None:
            # A view without a rule is a bug; refuse rather than serve it open.
            raise Forbidden("This endpoint declares no access rule.")
        if not access.public and current_user() is None and not request.path.startswith("/api/"):
            return redirect(url_for("web.login", next=request.full_path))
        # Here, not in the view: a caller without the right to a route must get 401/403
        # before its body is validated, or a 422 would describe the schema to them.
        check(access)
        return None
