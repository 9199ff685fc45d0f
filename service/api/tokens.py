"""API tokens: created by admins for a user, shown once, listed without secrets, revoked."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from service import db
from service.accounts import users
from service.api.paging import PAGE_HEADERS, PageArgs, page_headers
from service.errors import Conflict
from service.http.auth import audit_here, current_token, requires
from service.models import User
from service.schemas import StrictInteger

bp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens", description="API tokens (admins).")


class TokenSchema(Schema):
    """A token as listed: never its secret nor its hash."""

    id = fields.Integer()
    user_id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "First characters of the secret."})
    scopes = fields.List(fields.String())
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)


class CreatedTokenSchema(TokenSchema):
    secret = fields.String(metadata={"description": "Shown this once; store it now."})


class NewTokenSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(1, 320))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(users.TOKEN_SCOPES)),
        required=True,
        validate=validate.Length(1, len(users.TOKEN_SCOPES)),
    )
    name = fields.String(load_default="", validate=validate.Length(max=200))
    expires_in_days = StrictInteger(
        load_default=90,
        allow_none=True,
        validate=validate.Range(1, 3650),
        metadata={"description": "Days until it expires; null for never."},
    )


class TokenListArgs(PageArgs):
    username = fields.String(validate=validate.Length(1, 320))


@bp.route("")
@bp.arguments(TokenListArgs, location="query")
@bp.response(200, TokenSchema(many=True), headers=PAGE_HEADERS)
@requires("admin", scope="admin")
def list_tokens(args: dict[str, Any]) -> Any:
    """List tokens, newest first: prefix, scopes, expiry and last use."""
    s = db.session()
    username = args.pop("username", None)
    user = users.get_user(session=s, username=username) if username else None
    page = users.page_tokens(session=s, user=user, **args)
    return page.items, page_headers(page)


@bp.route("", methods=["POST"])
@bp.arguments(NewTokenSchema)
@bp.response(201, CreatedTokenSchema)
@requires("admin", scope="admin")
def create(data: dict[str, Any]) -> Any:
    """Create a token for a user; its secret is in this answer only."""
    s = db.session()
    user: User = users.get_user(session=s, username=data.pop("username"))
    token, secret = users.create_token(session=s, user=user, **data)
    audit_here("token.create", f"token:{token.id}", {"user_id": user.id, "scopes": token.scopes})
    s.commit()
    return {**token.model_dump(), "secret": secret}


@bp.route("/<int:token_id>", methods=["DELETE"])
@bp.response(200, TokenSchema)
@requires("admin", scope="admin")
def revoke(token_id: int) -> Any:
    """Revoke a token: it stops working at once."""
    s = db.session()
    token = users.get_token(session=s, token_id=token_id)
    used = current_token()
    if used is not None and used.id == token.id:
        raise Conflict("You cannot revoke the token this request uses; use another.")
    users.revoke_token(session=s, token=token)
    audit_here("token.revoke", f"token:{token.id}", {"user_id": token.user_id})
    s.commit()
    return token
