"""Admin API over assignment: item states, leases, overlap, pause, flags, qualification, gold."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from service import accounts, assignment, db, gold, leases, projects, slots, workload
from service.auth import current_user, requires
from service.models import User
from service.schemas import ProjectSchema

bp = Blueprint(
    "workload", __name__, url_prefix="/api/v1", description="Who works on what (admins)."
)


class ItemStateArgs(Schema):
    state = fields.String(
        load_default=None, metadata={"description": ", ".join(workload.ITEM_STATES)}
    )
    limit = fields.Integer(load_default=1000, validate=validate.Range(1, 10_000))
    offset = fields.Integer(load_default=0, validate=validate.Range(0))


class OverlapSchema(Schema):
    overlap = fields.Integer(required=True, strict=True)


class StatusSchema(Schema):
    status = fields.String(required=True, metadata={"description": "active or paused"})


class ReassignSchema(Schema):
    rater = fields.String(required=True, metadata={"description": "username of the new rater"})


class QualificationSchema(Schema):
    passed = fields.Boolean(
        required=True, allow_none=True, metadata={"description": "null: automatic rule"}
    )
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class LeaseSchema(Schema):
    id = fields.Integer()
    item_id = fields.Integer()
    rater_id = fields.Integer()
    status = fields.String()
    is_gold = fields.Boolean()
    shown_order = fields.List(fields.String())
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


@bp.route("/projects/<slug>/item-states")
@bp.arguments(ItemStateArgs, location="query")
@requires("admin", scope="admin")
def item_states(args: dict[str, Any], slug: str) -> Any:
    """List items with their state and wanted, leased, done and skipped counts."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    rows = workload.item_states(session=s, project=project, state=args["state"])
    page = rows[args["offset"] : args["offset"] + args["limit"]]
    return {"total": len(rows), "items": page}


@bp.route("/assignments/<int:assignment_id>/release", methods=["POST"])
@requires("admin", scope="admin")
def release(assignment_id: int) -> Any:
    """End an active lease; its slot returns to the pool."""
    s = db.session()
    lease = assignment.lock_assignment(session=s, assignment_id=assignment_id, rater=None)
    leases.release(session=s, lease=lease, admin=current_user())
    s.commit()
    return {"assignment": LeaseSchema().dump(lease)}


@bp.route("/assignments/<int:assignment_id>/reassign", methods=["POST"])
@bp.arguments(ReassignSchema)
@requires("admin", scope="admin")
def reassign(args: dict[str, Any], assignment_id: int) -> Any:
    """Move an active lease to another rater."""
    s = db.session()
    lease = assignment.lock_assignment(session=s, assignment_id=assignment_id, rater=None)
    rater = accounts.get_user(session=s, username=args["rater"])
    moved = leases.reassign(session=s, lease=lease, rater=rater, admin=current_user())
    s.commit()
    return {"released": LeaseSchema().dump(lease), "assignment": LeaseSchema().dump(moved)}, 201


@bp.route("/projects/<slug>/overlap", methods=["PUT"])
@bp.arguments(OverlapSchema)
@requires("admin", scope="admin")
def overlap(args: dict[str, Any], slug: str) -> Any:
    """Change how many raters each item wants (only upwards once judgments exist)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    workload.set_overlap(session=s, project=project, overlap=args["overlap"], admin=current_user())
    s.commit()
    return ProjectSchema().dump(project)


@bp.route("/projects/<slug>/status", methods=["PUT"])
@bp.arguments(StatusSchema)
@requires("admin", scope="admin")
def status(args: dict[str, Any], slug: str) -> Any:
    """Pause or resume a project."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    workload.set_status(session=s, project=project, status=args["status"], admin=current_user())
    s.commit()
    return ProjectSchema().dump(project)


@bp.route("/projects/<slug>/items/<int:item_id>/unflag", methods=["POST"])
@requires("admin", scope="admin")
def unflag(slug: str, item_id: int) -> Any:
    """Clear an item's skip flag so it is handed out again."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    item = workload.unflag(session=s, project=project, item_id=item_id, admin=current_user())
    s.commit()
    return {"id": item.id, "external_id": item.external_id, "flagged": item.flagged}


@bp.route("/projects/<slug>/recount", methods=["POST"])
@requires("admin", scope="admin")
def recount(slug: str) -> Any:
    """Rebuild the project's slot counters from its assignments (a repair tool)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    changed = slots.recount(session=s, project=project)
    s.commit()
    return {"items_corrected": changed}


@bp.route("/projects/<slug>/qualifications/<username>", methods=["PUT"])
@bp.arguments(QualificationSchema)
@requires("admin", scope="admin")
def qualification(args: dict[str, Any], slug: str, username: str) -> Any:
    """Let a rater in (passed true), keep them out (false), or return to the gold rule (null)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    rater = accounts.get_user(session=s, username=username)
    gold.override_qualification(
        session=s,
        project=project,
        rater=rater,
        passed=args["passed"],
        admin=current_user(),
        note=args["note"],
    )
    s.commit()
    q = gold.qualification(session=s, project=project, rater=rater)
    return {"rater": rater.username, "override": args["passed"], "status": q.status}


@bp.route("/projects/<slug>/gold-accuracy")
@requires("admin", scope="admin")
def gold_accuracy(slug: str) -> Any:
    """Each rater's agreement with the gold answers, for the dashboards."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    found = gold.gold_accuracy(session=s, project=project)
    names = dict(s.execute(sa.select(User.id, User.username).where(User.id.in_(found))).all())
    return {
        "raters": [
            {
                "rater": names[a.rater_id],
                "rater_id": a.rater_id,
                "scored": a.scored,
                "accuracy": a.accuracy,
            }
            for a in sorted(found.values(), key=lambda a: names[a.rater_id])
        ]
    }
