"""Project teams: who may rate a project, with which expertise; roles; qualification resets."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from service import db
from service.accounts import memberships, users
from service.http.auth import current_user, requires
from service.models import Role
from service.projects import projects
from service.rating import gold

bp = Blueprint(
    "members", __name__, url_prefix="/api/v1", description="Project teams and roles (admins)."
)


class MemberInSchema(Schema):
    expertise = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=50),
        metadata={"description": "Tags for this project; null: the user's own tags."},
    )


class MemberSchema(Schema):
    username = fields.String()
    user_id = fields.Integer()
    active = fields.Boolean(metadata={"description": "false: removed from the project"})
    expertise = fields.List(fields.String(), allow_none=True)


class RemovedSchema(MemberSchema):
    leases_released = fields.Integer()


class RoleInSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf([r.value for r in Role]))


class RoleSchema(Schema):
    username = fields.String()
    role = fields.String()


class ResetSchema(Schema):
    rater = fields.String()
    status = fields.String(metadata={"description": "qualifying, passed or failed from now on"})


def _member(member: memberships.Member) -> dict[str, Any]:
    return {
        "username": member.user.username,
        "user_id": member.user.id,
        "active": member.active,
        "expertise": member.expertise,
    }


@bp.route("/projects/<slug>/members")
@bp.response(200, MemberSchema(many=True))
@requires("admin", scope="admin")
def list_members(slug: str) -> Any:
    """List the project's team (removed raters too); an empty team means open to all raters."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    return [_member(m) for m in memberships.members_of(session=s, project=project)]


@bp.route("/projects/<slug>/members/<username>", methods=["PUT"])
@bp.arguments(MemberInSchema)
@bp.response(200, MemberSchema)
@requires("admin", scope="admin")
def put_member(data: dict[str, Any], slug: str, username: str) -> Any:
    """Add a rater to the project's team (closing it to non-members), with optional tags."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    user = users.get_user(session=s, username=username)
    row = memberships.add_member(
        session=s,
        project=project,
        user=user,
        actor_id=current_user().id,
        expertise=data["expertise"],
    )
    s.commit()
    return _member(memberships.Member(user=user, active=row.active, expertise=row.expertise))


@bp.route("/projects/<slug>/members/<username>", methods=["DELETE"])
@bp.response(200, RemovedSchema)
@requires("admin", scope="admin")
def remove_member(slug: str, username: str) -> Any:
    """Remove a rater from the project: no more work there, their leases released."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    user = users.get_user(session=s, username=username)
    released = memberships.remove_member(
        session=s, project=project, user=user, actor_id=current_user().id
    )
    s.commit()
    member = memberships.Member(user=user, active=False, expertise=None)
    return _member(member) | {"leases_released": released}


@bp.route("/projects/<slug>/qualifications/<username>/reset", methods=["POST"])
@bp.response(200, ResetSchema)
@requires("admin", scope="admin")
def reset_qualification(slug: str, username: str) -> Any:
    """Make a rater qualify again: earlier gold answers and any override stop counting."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    rater = users.get_user(session=s, username=username)
    gold.reset_qualification(session=s, project=project, rater=rater, actor_id=current_user().id)
    s.commit()
    return {
        "rater": rater.username,
        "status": gold.qualification(session=s, project=project, rater=rater).status,
    }


@bp.route("/users/<username>/role", methods=["PUT"])
@bp.arguments(RoleInSchema)
@bp.response(200, RoleSchema)
@requires("admin", scope="admin")
def set_role(data: dict[str, Any], username: str) -> Any:
    """Change a user's role (not your own)."""
    s = db.session()
    user = users.get_user(session=s, username=username)
    memberships.set_role(session=s, user=user, role=data["role"], actor_id=current_user().id)
    s.commit()
    return {"username": user.username, "role": user.role}
