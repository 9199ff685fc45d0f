"""Projects and their items: create campaigns and import prompt/response sets."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service import db
from service.api.paging import PAGE_HEADERS, PageArgs, page_headers
from service.http.auth import audit_here, current_user, requires
from service.http.hardening import large_body
from service.items import importing
from service.projects import projects
from service.schemas import ProjectSchema, TextBoolean

bp = Blueprint("projects", __name__, url_prefix="/api/v1/projects", description="Rating campaigns.")


class ImportArgs(Schema):
    skip_invalid = TextBoolean(
        load_default=False, metadata={"description": "Keep good lines; report bad ones."}
    )
    update = TextBoolean(
        load_default=False, metadata={"description": "Replace changed items (never judged ones)."}
    )
    source = fields.String(
        load_default="api", metadata={"description": "Where the data came from (provenance)."}
    )


class RowErrorSchema(Schema):
    line = fields.Integer()
    field = fields.String()
    message = fields.String()
    id = fields.String()


class ImportResultSchema(Schema):
    batch_id = fields.Integer(allow_none=True)
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    error_count = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))
    lines = fields.Integer()
    checksum = fields.String()


@bp.route("")
@bp.arguments(PageArgs, location="query")
@bp.response(200, ProjectSchema(many=True), headers=PAGE_HEADERS)
@requires("admin", scope="admin")
def list_all(args: dict[str, Any]) -> Any:
    """List projects, oldest first, a page at a time."""
    page = projects.page_projects(session=db.session(), **args)
    return page.items, page_headers(page)


@bp.route("", methods=["POST"])
@bp.arguments(ProjectSchema(unknown="raise"), as_kwargs=False)
@bp.response(201, ProjectSchema)
@requires("admin", scope="admin")
def create(data: dict[str, Any]) -> Any:
    """Create a project."""
    s = db.session()
    project = projects.create_project(session=s, data=data)
    audit_here("project.create", f"project:{project.slug}")
    s.commit()
    return project


@bp.route("/<slug>")
@bp.response(200, ProjectSchema)
@requires("admin", scope="admin")
def show(slug: str) -> Any:
    """Show one project."""
    return projects.get_project(session=db.session(), slug=slug)


@bp.route("/<slug>/items", methods=["POST"])
@bp.arguments(ImportArgs, location="query")
@bp.response(201, ImportResultSchema)
@bp.doc(
    requestBody={
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
)
@requires("admin", scope="import")
@large_body
def import_items(args: dict[str, Any], slug: str) -> Any:
    """Import items (a JSON array or JSON Lines body); all or nothing unless skip_invalid."""
    # Outside the request's transaction: the import writes in short ones of its own.
    with db.lookup_session() as s:
        project = projects.get_project(session=s, slug=slug)
    body = request.get_data(cache=False)
    result = importing.import_items(
        engine=db.engine(),
        project=project,
        rows=importing.read_body(body, importing.InputLimits.from_config(current_app.config)),
        source=args["source"],
        kind="api",
        user_id=current_user().id,
        skip_invalid=args["skip_invalid"],
        update=args["update"],
        checksum=lambda: hashlib.sha256(body).hexdigest(),
        max_chars=current_app.config["MAX_RESPONSE_CHARS"],
    )
    audit_here(
        "project.import",
        f"project:{project.slug}",
        {"batch_id": result.batch_id, "created": result.created, "updated": result.updated},
    )
    db.session().commit()
    return result.as_dict()
