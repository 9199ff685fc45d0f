"""Admin pages: people (invite, bulk-add, deactivate, erase), API tokens, the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlmodel import select

from service import audit, db
from service.accounts import erasure, invites
from service.accounts import users as user_accounts
from service.errors import Conflict, InvalidInput, NotFound
from service.http.auth import audit_here, current_user, requires
from service.http.hardening import large_body
from service.models import ApiToken, User, utcnow
from service.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page_args() -> dict[str, int]:
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(MAX_PER_PAGE, max(1, int(request.args.get("per_page", DEFAULT_PER_PAGE))))
    except ValueError as exc:
        raise InvalidInput("page and per_page must be whole numbers.") from exc
    return {"page": page, "per_page": per_page}


def _user(user_id: int) -> User:
    user = db.session().get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


def _links(made: list[invites.Invitation]) -> list[dict[str, Any]]:
    base = current_app.config["PUBLIC_URL"] or request.host_url
    return [
        {
            "user": m.user,
            "url": invites.invite_link(m.secret, base),
            "expires_at": m.invite.expires_at,
        }
        for m in made
    ]


@bp.route("/users")
@requires("admin")
def users() -> Any:
    """List people with their state, and the forms to invite or bulk-add raters."""
    role = request.args.get("role") or None
    page = user_accounts.page_users(session=db.session(), role=role, **_page_args())
    return render_template("admin/users.html", page=page, role=role)


@bp.route("/users/invite", methods=["POST"])
@requires("admin")
def invite() -> Any:
    """Create an account and show its one-time invite link."""
    s = db.session()
    form = request.form
    data = {
        "username": form.get("username", "").strip() or None,
        "email": form.get("email", "").strip() or None,
        "display_name": form.get("display_name", ""),
        "role": form.get("role", "rater"),
        "expertise": invites.split_tags(form.get("expertise", "")),
    }
    data = {k: v for k, v in data.items() if v is not None}
    days = current_app.config["INVITE_DAYS"]
    made = invites.invite_user(session=s, data=data, created_by=current_user().id, days=days)
    audit_here("user.invite", f"user:{made.user.id}", {"role": made.user.role})
    s.commit()
    return render_template("admin/invited.html", links=_links([made])), 201


@bp.route("/users/import", methods=["POST"])
@requires("admin")
@large_body
def import_csv() -> Any:
    """Add and invite the raters of an uploaded CSV, and show their links."""
    s = db.session()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput(
            "Choose a CSV file to upload.", errors=[{"field": "file", "message": "required"}]
        )
    rows = invites.read_raters_csv(upload.read())
    days = current_app.config["INVITE_DAYS"]
    made = invites.import_raters(session=s, rows=rows, created_by=current_user().id, days=days)
    audit_here("user.import", "users", {"count": len(made), "ids": [m.user.id for m in made]})
    s.commit()
    return render_template("admin/invited.html", links=_links(made)), 201


@bp.route("/users/<int:user_id>/invite", methods=["POST"])
@requires("admin")
def reinvite(user_id: int) -> Any:
    """Issue a fresh invite link (also how a forgotten password is reset)."""
    s = db.session()
    user = _user(user_id)
    days = current_app.config["INVITE_DAYS"]
    made = invites.create_invite(session=s, user=user, created_by=current_user().id, days=days)
    audit_here("user.reinvite", f"user:{user.id}")
    s.commit()
    return render_template("admin/invited.html", links=_links([made])), 201


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@requires("admin")
def deactivate(user_id: int) -> Any:
    """Deactivate a user: sessions end, tokens are revoked, leases released."""
    s = db.session()
    user = _user(user_id)
    if user.id == current_user().id:
        raise Conflict("You cannot deactivate your own account.")
    counts = user_accounts.deactivate_user(session=s, user=user)
    audit_here("user.deactivate", f"user:{user.id}", counts)
    s.commit()
    flash(
        f"Deactivated {user.username}: {counts['tokens_revoked']} token(s) revoked, "
        f"{counts['leases_released']} lease(s) released."
    )
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
@requires("admin")
def activate(user_id: int) -> Any:
    """Let a deactivated user sign in again."""
    s = db.session()
    user = user_accounts.activate_user(session=s, user=_user(user_id))
    audit_here("user.activate", f"user:{user.id}")
    s.commit()
    flash(f"Activated {user.username}.")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/erase", methods=["POST"])
@requires("admin")
def erase(user_id: int) -> Any:
    """Pseudonymise a user after the admin typed their username to confirm."""
    s = db.session()
    user = _user(user_id)
    if request.form.get("confirm", "") != user.username:
        raise InvalidInput(
            "Type the username exactly to confirm erasure.",
            errors=[{"field": "confirm", "message": "does not match the username"}],
        )
    if user.id == current_user().id:
        raise Conflict("You cannot erase your own account.")
    counts = erasure.erase_user(session=s, user=user, secret_key=current_app.secret_key)
    audit_here("user.erase", f"user:{user.id}", counts)
    s.commit()
    flash(f"Erased user {user.id}; they are now {user.username}.")
    return redirect(url_for("admin.users"))


@bp.route("/tokens")
@requires("admin")
def tokens() -> Any:
    """List API tokens (never their secrets) and the form to create one."""
    s = db.session()
    page = user_accounts.page_tokens(session=s, **_page_args())
    ids = {t.user_id for t in page.items}
    owners = {u.id: u for u in s.exec(select(User).where(User.id.in_(ids)))} if ids else {}
    return render_template(
        "admin/tokens.html",
        page=page,
        owners=owners,
        scopes=user_accounts.TOKEN_SCOPES,
        now=utcnow(),
    )


@bp.route("/tokens", methods=["POST"])
@requires("admin")
def create_token() -> Any:
    """Create a token and show its secret this once."""
    s = db.session()
    user = user_accounts.get_user(session=s, username=request.form.get("username", "").strip())
    try:
        days = int(request.form.get("days") or 0) or None
    except ValueError as exc:
        raise InvalidInput("Days must be a whole number.") from exc
    token, secret = user_accounts.create_token(
        session=s,
        user=user,
        scopes=request.form.getlist("scopes"),
        name=request.form.get("name", "")[:200],
        expires_in_days=days,
    )
    audit_here("token.create", f"token:{token.id}", {"user_id": user.id, "scopes": token.scopes})
    s.commit()
    return render_template("admin/token_created.html", token=token, user=user, secret=secret), 201


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@requires("admin")
def revoke_token(token_id: int) -> Any:
    """Revoke a token at once."""
    s = db.session()
    token: ApiToken = user_accounts.get_token(session=s, token_id=token_id)
    user_accounts.revoke_token(session=s, token=token)
    audit_here("token.revoke", f"token:{token.id}", {"user_id": token.user_id})
    s.commit()
    flash(f"Revoked token {token.prefix}….")
    return redirect(url_for("admin.tokens"))


@bp.route("/audit")
@requires("admin")
def audit_log() -> Any:
    """Page through the audit log, newest first, and link to its exports."""
    s = db.session()
    action = request.args.get("action", "").strip()[:80] or None
    page = audit.list_events(session=s, action=action, **_page_args())
    names = audit.actor_names(session=s, events=page.items)
    return render_template("admin/audit.html", page=page, names=names, action=action)
