"""Admin API over assignment: item states, leases, overlap, pause, flags, qualification, gold."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from service import db
from service.accounts import users
from service.api.paging import PAGE_HEADERS, PageArgs, page_headers
from service.http.auth import client_address, current_user, requires
from service.models import User
from service.paging import Page
from service.projects import projects
from service.rating import doctor, gold, leases, workload
from service.schemas import ProjectSchema, StrictBoolean, StrictInteger

bp = Blueprint(
    "workload", __name__, url_prefix="/api/v1", description="Who works on what (admins)."
)


class ItemStateArgs(PageArgs):
    state = fields.String(
        load_default=None, metadata={"description": ", ".join(workload.ITEM_STATES)}
    )


class LiveLeaseSchema(Schema):
    id = fields.Integer()
    rater = fields.String()
    expires_at = fields.String()


class ItemStateSchema(Schema):
    id = fields.Integer()
    external_id = fields.String()
    state = fields.String()
    priority = fields.Integer()
    expertise = fields.List(fields.String())
    is_gold = fields.Boolean()
    flagged = fields.Boolean()
    wanted = fields.Integer(allow_none=True)
    leased = fields.Integer()
    done = fields.Integer()
    skipped = fields.Integer()
    leases = fields.List(fields.Nested(LiveLeaseSchema))


class OverlapSchema(Schema):
    overlap = StrictInteger(required=True)


class StatusSchema(Schema):
    status = fields.String(required=True, metadata={"description": "active or paused"})


class ReassignSchema(Schema):
    rater = fields.String(required=True, metadata={"description": "username of the new rater"})


class QualificationSchema(Schema):
    passed = StrictBoolean(
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


class LeaseOutSchema(Schema):
    assignment = fields.Nested(LeaseSchema)


class ReassignOutSchema(Schema):
    released = fields.Nested(LeaseSchema)
    assignment = fields.Nested(LeaseSchema)


class UnflagOutSchema(Schema):
    id = fields.Integer()
    external_id = fields.String()
    flagged = fields.Boolean()


class RecountOutSchema(Schema):
    items_corrected = fields.Integer()


class DoctorArgs(Schema):
    project = fields.String(
        load_default=None, metadata={"description": "Slug of one project (default: all)."}
    )


class DriftSchema(Schema):
    project = fields.String()
    item = fields.String(metadata={"description": "The item's external id."})
    counter = fields.String(
        metadata={"description": "taken, skips, open, raters, judgments or active leases"}
    )
    stored = fields.Raw(metadata={"description": "What is stored (or found, for a rule)."})
    expected = fields.Raw(metadata={"description": "The recount (or the most allowed)."})
    rater_id = fields.Integer(allow_none=True)
    repairable = fields.Boolean()


class CheckupSchema(Schema):
    ok = fields.Boolean()
    projects = fields.List(fields.String())
    items = fields.Integer()
    repaired = fields.Integer()
    drift = fields.List(fields.Nested(DriftSchema))


class QualificationOutSchema(Schema):
    rater = fields.String()
    override = fields.Boolean(allow_none=True)
    status = fields.String()


class RaterGoldSchema(Schema):
    rater = fields.String()
    rater_id = fields.Integer()
    scored = fields.Integer()
    accuracy = fields.Float(allow_none=True)


class GoldAccuracyOutSchema(Schema):
    raters = fields.List(fields.Nested(RaterGoldSchema))


@bp.route("/projects/<slug>/item-states")
@bp.arguments(ItemStateArgs, location="query")
@bp.response(200, ItemStateSchema(many=True), headers=PAGE_HEADERS)
@requires("admin", scope="admin")
def item_states(args: dict[str, Any], slug: str) -> Any:
    """List items with their state and wanted, leased, done and skipped counts (paged)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    rows = workload.item_states(session=s, project=project, state=args["state"])
    page_no, per_page = args["page"], args["per_page"]
    start = (page_no - 1) * per_page
    page = Page(
        items=rows[start : start + per_page], total=len(rows), page=page_no, per_page=per_page
    )
    return page.items, page_headers(page)


@bp.route("/assignments/<int:assignment_id>/release", methods=["POST"])
@bp.response(200, LeaseOutSchema)
@requires("admin", scope="admin")
def release(assignment_id: int) -> Any:
    """End an active lease; its slot returns to the pool."""
    s = db.session()
    lease = leases.lock_assignment(session=s, assignment_id=assignment_id, rater=None)
    leases.release(session=s, lease=lease, admin=current_user())
    s.commit()
    return {"assignment": lease}


@bp.route("/assignments/<int:assignment_id>/reassign", methods=["POST"])
@bp.arguments(ReassignSchema)
@bp.response(201, ReassignOutSchema)
@requires("admin", scope="admin")
def reassign(args: dict[str, Any], assignment_id: int) -> Any:
    """Move an active lease to another rater."""
    s = db.session()
    lease = leases.lock_assignment(session=s, assignment_id=assignment_id, rater=None)
    rater = users.get_user(session=s, username=args["rater"])
    moved = leases.reassign(session=s, lease=lease, rater=rater, admin=current_user())
    s.commit()
    return {"released": lease, "assignment": moved}


@bp.route("/projects/<slug>/overlap", methods=["PUT"])
@bp.arguments(OverlapSchema)
@bp.response(200, ProjectSchema)
@requires("admin", scope="admin")
def overlap(args: dict[str, Any], slug: str) -> Any:
    """Change how many raters each item wants (only upwards once judgments exist)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    workload.set_overlap(session=s, project=project, overlap=args["overlap"], admin=current_user())
    s.commit()
    return project


@bp.route("/projects/<slug>/status", methods=["PUT"])
@bp.arguments(StatusSchema)
@bp.response(200, ProjectSchema)
@requires("admin", scope="admin")
def status(args: dict[str, Any], slug: str) -> Any:
    """Pause or resume a project."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    workload.set_status(session=s, project=project, status=args["status"], admin=current_user())
    s.commit()
    return project


@bp.route("/projects/<slug>/items/<int:item_id>/unflag", methods=["POST"])
@bp.response(200, UnflagOutSchema)
@requires("admin", scope="admin")
def unflag(slug: str, item_id: int) -> Any:
    """Clear an item's skip flag so it is handed out again."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    item = workload.unflag(session=s, project=project, item_id=item_id, admin=current_user())
    s.commit()
    return {"id": item.id, "external_id": item.external_id, "flagged": item.flagged}


@bp.route("/projects/<slug>/recount", methods=["POST"])
@bp.response(200, RecountOutSchema)
@requires("admin", scope="admin")
def recount(slug: str) -> Any:
    """Rebuild the project's slot counters from its assignments (``rankroom doctor --repair``)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    found = doctor.repair(
        session=s, project=project, actor_id=current_user().id, address=client_address()
    )
    s.commit()
    return {"items_corrected": found.repaired}


@bp.route("/doctor")
@bp.arguments(DoctorArgs, location="query")
@bp.response(200, CheckupSchema)
@requires("admin", scope="admin")
def checkup(args: dict[str, Any]) -> Any:
    """Recount slots, leases and overlap (``rankroom doctor``); list any drift."""
    s = db.session()
    project = projects.get_project(session=s, slug=args["project"]) if args["project"] else None
    return doctor.as_dict(doctor.check(session=s, project=project))


@bp.route("/projects/<slug>/qualifications/<username>", methods=["PUT"])
@bp.arguments(QualificationSchema)
@bp.response(200, QualificationOutSchema)
@requires("admin", scope="admin")
def qualification(args: dict[str, Any], slug: str, username: str) -> Any:
    """Let a rater in (passed true), keep them out (false), or return to the gold rule (null)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    rater = users.get_user(session=s, username=username)
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
@bp.response(200, GoldAccuracyOutSchema)
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
