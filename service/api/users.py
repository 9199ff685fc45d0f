"""Accounts: invite people, bulk-add raters from CSV, deactivate, erase."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from service import db
from service.accounts import erasure, invites, users
from service.api.paging import PAGE_HEADERS, PageArgs, page_headers
from service.errors import Conflict
from service.http.auth import audit_here, current_user, requires
from service.http.hardening import large_body
from service.models import User
from service.schemas import NewUserSchema, StrictFloat, TextBoolean, TextFloat

bp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Accounts (admins).")


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()
    expertise = fields.List(fields.String())
    active = fields.Boolean()
    pending = fields.Function(
        lambda u: u.password_hash is None and u.erased_at is None,
        metadata={"description": "Invited but no password set yet."},
    )
    erased_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class UserListArgs(PageArgs):
    role = fields.String(validate=validate.OneOf(["admin", "rater", "engineer"]))
    active = TextBoolean()


class InviteArgs(NewUserSchema):
    days = StrictFloat(load_default=7, validate=validate.Range(0, 90, min_inclusive=False))


class DaysArgs(Schema):
    days = TextFloat(load_default=7, validate=validate.Range(0, 90, min_inclusive=False))


class InvitationSchema(Schema):
    user = fields.Nested(UserSchema)
    invite_url = fields.String(metadata={"description": "Shown once: send it to the person."})
    expires_at = fields.DateTime()


class DeactivationSchema(Schema):
    user = fields.Nested(UserSchema)
    tokens_revoked = fields.Integer()
    leases_released = fields.Integer()
    invites_revoked = fields.Integer()


class ErasureSchema(Schema):
    user = fields.Nested(UserSchema)
    tokens_deleted = fields.Integer()
    invites_deleted = fields.Integer()
    login_attempts_deleted = fields.Integer()
    leases_released = fields.Integer()
    audit_events_rewritten = fields.Integer()


def _base_url() -> str:
    return current_app.config["PUBLIC_URL"] or request.host_url


def _shown(invitation: invites.Invitation) -> dict[str, Any]:
    return {
        "user": invitation.user,
        "invite_url": invites.invite_link(invitation.secret, _base_url()),
        "expires_at": invitation.invite.expires_at,
    }


def _not_me(user: User, what: str) -> None:
    if user.id == current_user().id:
        raise Conflict(f"You cannot {what} your own account.")


@bp.route("")
@bp.arguments(UserListArgs, location="query")
@bp.response(200, UserSchema(many=True), headers=PAGE_HEADERS)
@requires("admin", scope="admin")
def list_users(args: dict[str, Any]) -> Any:
    """List accounts, oldest first, a page at a time."""
    page = users.page_users(session=db.session(), **args)
    return page.items, page_headers(page)


@bp.route("/invites", methods=["POST"])
@bp.arguments(InviteArgs)
@bp.response(201, InvitationSchema)
@requires("admin", scope="admin")
def invite(data: dict[str, Any]) -> Any:
    """Create an account without a password and return its one-time invite link."""
    s = db.session()
    days = data.pop("days")
    invitation = invites.invite_user(session=s, data=data, created_by=current_user().id, days=days)
    audit_here("user.invite", f"user:{invitation.user.id}", {"role": invitation.user.role})
    s.commit()
    return _shown(invitation)


@bp.route("/import", methods=["POST"])
@bp.arguments(DaysArgs, location="query")
@bp.response(201, InvitationSchema(many=True))
@bp.doc(
    requestBody={
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "CSV with a header: username, email, display_name, expertise.",
    }
)
@requires("admin", scope="admin")
@large_body
def import_csv(args: dict[str, Any]) -> Any:
    """Add and invite raters from a CSV; all or nothing, every bad line reported."""
    s = db.session()
    rows = invites.read_raters_csv(request.get_data(cache=False))
    made = invites.import_raters(
        session=s, rows=rows, created_by=current_user().id, days=args["days"]
    )
    audit_here("user.import", "users", {"count": len(made), "ids": [m.user.id for m in made]})
    s.commit()
    return [_shown(m) for m in made]


@bp.route("/<username>/invite", methods=["POST"])
@bp.arguments(DaysArgs, location="query")
@bp.response(201, InvitationSchema)
@requires("admin", scope="admin")
def reinvite(args: dict[str, Any], username: str) -> Any:
    """Issue a new invite link (also a password reset); older links stop working."""
    s = db.session()
    user = users.get_user(session=s, username=username)
    invitation = invites.create_invite(
        session=s, user=user, created_by=current_user().id, days=args["days"]
    )
    audit_here("user.reinvite", f"user:{user.id}")
    s.commit()
    return _shown(invitation)


@bp.route("/<username>/deactivate", methods=["POST"])
@bp.response(200, DeactivationSchema)
@requires("admin", scope="admin")
def deactivate(username: str) -> Any:
    """End the user's sessions, revoke their tokens, release their leases."""
    s = db.session()
    user = users.get_user(session=s, username=username)
    _not_me(user, "deactivate")
    counts = users.deactivate_user(session=s, user=user)
    audit_here("user.deactivate", f"user:{user.id}", counts)
    s.commit()
    return {"user": user, **counts}


@bp.route("/<username>/activate", methods=["POST"])
@bp.response(200, UserSchema)
@requires("admin", scope="admin")
def activate(username: str) -> Any:
    """Let a deactivated user sign in again."""
    s = db.session()
    user = users.activate_user(session=s, user=users.get_user(session=s, username=username))
    audit_here("user.activate", f"user:{user.id}")
    s.commit()
    return user


@bp.route("/<username>/erase", methods=["POST"])
@bp.response(200, ErasureSchema)
@requires("admin", scope="admin")
def erase(username: str) -> Any:
    """Pseudonymise the user everywhere (right to erasure); their judgments stay usable."""
    s = db.session()
    user = users.get_user(session=s, username=username)
    _not_me(user, "erase")
    counts = erasure.erase_user(session=s, user=user, secret_key=current_app.secret_key)
    audit_here("user.erase", f"user:{user.id}", counts)
    s.commit()
    return {"user": user, **counts}
