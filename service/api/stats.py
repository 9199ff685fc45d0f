"""Dashboard statistics as JSON and CSV, and adjudication, for admins and stats tokens.

Admins see raters by name; a stats token sees them by pseudonym (see
``service.dashboards.identities`` for what a report may reveal).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service import dashboards, db
from service.dashboards import identities
from service.dashboards.adjudication import adjudicate
from service.dashboards.cache import cache_in
from service.dashboards.judgment_lists import item_judgments, rater_judgments
from service.http.auth import acts_as_admin, current_user, requires
from service.projects import projects
from service.schemas import StrictBoolean

bp = Blueprint(
    "stats",
    __name__,
    url_prefix="/api/v1/projects/<slug>",
    description="Dashboard statistics (JSON and CSV) and adjudication.",
)

FILTER_DOC = (
    "Filters (query): from, to (YYYY-MM-DD, UTC, inclusive), expertise, dimension, "
    "tags (comma-separated, any of), gold (include | exclude | only). "
    "cost also takes rate.<group>=<hourly rate> and default_rate; items takes limit."
)


class AdjudicationInSchema(Schema):
    verdict = fields.Dict(
        required=True,
        metadata={"description": '{"preferred": id | null (tie)} or {"ranking": [[ids]...]}'},
    )
    note = fields.String(load_default="")
    promote_to_gold = StrictBoolean(load_default=False)
    confirm_override = StrictBoolean(
        load_default=False,
        metadata={"description": "Required (with a note) to overrule the raters' majority."},
    )


# Report bodies vary by report; they are documented as objects, pinned by the tests.
ANY_OBJECT = {"type": "object", "additionalProperties": True}
REPORT_LIST = {
    "type": "object",
    "properties": {
        "reports": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "title": {"type": "string"},
                    "csv_tables": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}


def _json_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ANY_OBJECT}}}


def _report(slug: str, name: str) -> tuple[dict[str, Any], bool]:
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    report, hit = dashboards.build_report(
        session=s,
        project=project,
        name=name,
        filters=dashboards.parse_filters(request.args, project=project),
        options=dashboards.parse_options(name, request.args),
        cache=cache_in(current_app.extensions),
    )
    if not acts_as_admin():
        report = identities.pseudonymous_report(report, secret_key=_secret())
    return report, hit


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


@bp.route("/stats")
@bp.doc(
    responses={
        "200": {
            "description": "The reports.",
            "content": {"application/json": {"schema": REPORT_LIST}},
        }
    }
)
@requires("admin", "engineer", scope="stats")
def index(slug: str) -> Any:
    """List the reports a project offers, with their CSV tables."""
    projects.get_project(session=db.session(), slug=slug)
    return jsonify(
        reports=[
            {"name": name, "title": spec.title, "csv_tables": list(spec.tables)}
            for name, spec in dashboards.REPORTS.items()
        ]
    )


@bp.route("/stats/<name>")
@bp.doc(description=FILTER_DOC)
@bp.doc(responses={"200": _json_doc("The report; its shape depends on the report.")})
@requires("admin", "engineer", scope="stats")
def show(slug: str, name: str) -> Any:
    """Return one report (progress, agreement, kappa, raters, items, cost, active-time, leaderboard)."""
    report, hit = _report(slug, name)
    return jsonify(report), 200, {"X-Stats-Cache": "hit" if hit else "miss"}


@bp.route("/stats/<name>.csv")
@bp.doc(description=FILTER_DOC + " table picks one of the report's CSV tables.")
@bp.doc(
    responses={
        "200": {
            "description": "One table.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
)
@requires("admin", "engineer", scope="stats")
def show_csv(slug: str, name: str) -> Any:
    """Return one table of a report as CSV."""
    report, hit = _report(slug, name)
    text, filename = dashboards.report_csv(report, request.args.get("table") or None)
    headers = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Stats-Cache": "hit" if hit else "miss",
    }
    return text, 200, headers


@bp.route("/stats/raters/<int:rater_id>/judgments")
@bp.doc(responses={"200": _json_doc("Judgments side by side.")})
@requires("admin", "engineer", scope="stats")
def rater(slug: str, rater_id: int) -> Any:
    """Return one rater's judgments beside what the other raters of each item said."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    filters = dashboards.parse_filters(request.args, project=project)
    data = rater_judgments(session=s, project=project, rater_id=rater_id, filters=filters)
    if not acts_as_admin():
        data = identities.pseudonymous_rater_judgments(data, secret_key=_secret())
    return jsonify(data)


@bp.route("/stats/items/<int:item_id>")
@bp.doc(responses={"200": _json_doc("Judgments side by side.")})
@requires("admin", "engineer", scope="stats")
def item(slug: str, item_id: int) -> Any:
    """Return an item with every judgment on it side by side, and its adjudications."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    data = item_judgments(session=s, project=project, item_id=item_id)
    if not acts_as_admin():
        data = identities.pseudonymous_item_judgments(data, secret_key=_secret())
    return jsonify(data)


@bp.route("/items/<int:item_id>/adjudications", methods=["POST"])
@bp.arguments(AdjudicationInSchema)
@requires("admin", scope="admin")
def create_adjudication(data: dict[str, Any], slug: str, item_id: int) -> Any:
    """Record an admin's final verdict on an item, optionally promoting it to gold."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    record = adjudicate(
        session=s,
        project=project,
        item_id=item_id,
        admin=current_user(),
        verdict=data["verdict"],
        note=data["note"],
        promote_to_gold=data["promote_to_gold"],
        confirm_override=data["confirm_override"],
    )
    s.commit()
    return {
        "id": record.id,
        "item_id": record.item_id,
        "verdict": record.verdict,
        "note": record.note,
        "promoted_to_gold": record.promoted_to_gold,
        "overrode_majority": record.overrode_majority,
    }, 201
