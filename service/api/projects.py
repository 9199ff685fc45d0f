"""Projects and their items: create campaigns and import prompt/response sets."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from service import db
from service.api.paging import PAGE_HEADERS, PageArgs, page_headers
from service.http.auth import audit_here, client_address, current_user, requires
from service.http.hardening import large_body
from service.images import ImageStore
from service.items import import_batches, importing
from service.projects import guideline_versions, projects
from service.rating import settings
from service.schemas import ProjectSchema, TextBoolean, TextInteger

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


class ProjectSettingsSchema(ProjectSchema):
    """A change of settings: any subset of them (``settings.SETTINGS``)."""


class GuidelinesArgs(Schema):
    guidelines = fields.String(required=True, metadata={"description": "The new text."})


class GuidelineVersionSchema(Schema):
    version = fields.Integer()
    text = fields.String()
    created_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


VERSIONS = validate.Range(1, guideline_versions.MAX_VERSION)


class DiffArgs(Schema):
    old = TextInteger(
        required=True, data_key="from", validate=VERSIONS, metadata={"description": "Version."}
    )
    new = TextInteger(
        required=True, data_key="to", validate=VERSIONS, metadata={"description": "Version."}
    )


class DiffLineSchema(Schema):
    kind = fields.String(metadata={"description": "' ' same, '+' added, '-' removed, '@' hunk"})
    text = fields.String()


class DiffSchema(Schema):
    old = fields.Integer(data_key="from")
    new = fields.Integer(data_key="to")
    lines = fields.List(fields.Nested(DiffLineSchema))


class ImportProgressSchema(Schema):
    batch_id = fields.Integer(allow_none=True)
    state = fields.String(allow_none=True, metadata={"description": "staging, publishing"})
    staged = fields.Integer(metadata={"description": "Lines read and validated so far."})


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


@bp.route("/<slug>", methods=["PATCH"])
@bp.arguments(
    ProjectSettingsSchema(only=settings.SETTINGS, partial=settings.SETTINGS), as_kwargs=False
)
@bp.response(200, ProjectSchema)
@requires("admin", scope="admin")
def update(data: dict[str, Any], slug: str) -> Any:
    """Change settings (overlap, lease, gold rate, qualification, caps, rubric, status...)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    settings.update_settings(
        session=s, project=project, data=data, actor_id=current_user().id, address=client_address()
    )
    s.commit()
    return project


@bp.route("/<slug>/guidelines")
@bp.response(200, GuidelineVersionSchema(many=True))
@requires("admin", scope="admin")
def guideline_history(slug: str) -> Any:
    """List every stored version of the guidelines, newest first."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    return guideline_versions.list_versions(session=s, project=project)


@bp.route("/<slug>/guidelines", methods=["PUT"])
@bp.arguments(GuidelinesArgs)
@bp.response(200, GuidelineVersionSchema)
@requires("admin", scope="admin")
def save_guidelines(args: dict[str, Any], slug: str) -> Any:
    """Save new guidelines as the next version (the same text again makes none)."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    projects.update_guidelines(
        session=s,
        project=project,
        guidelines=args["guidelines"],
        actor_id=current_user().id,
        address=client_address(),
    )
    s.commit()
    return guideline_versions.get_version(
        session=s, project=project, version=project.guideline_version
    )


@bp.route("/<slug>/guidelines/<int:version>")
@bp.response(200, GuidelineVersionSchema)
@requires("admin", scope="admin")
def guideline_version(slug: str, version: int) -> Any:
    """Show one stored version of the guidelines."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    return guideline_versions.get_version(session=s, project=project, version=version)


@bp.route("/<slug>/guidelines/diff")
@bp.arguments(DiffArgs, location="query")
@bp.response(200, DiffSchema)
@requires("admin", scope="admin")
def guideline_diff(args: dict[str, Any], slug: str) -> Any:
    """Show the line diff between two stored versions of the guidelines."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    lines = guideline_versions.diff_versions(session=s, project=project, **args)
    return {**args, "lines": lines}


@bp.route("/<slug>/import-progress")
@bp.response(200, ImportProgressSchema)
@requires("admin", scope="import")
def import_progress(slug: str) -> Any:
    """Show the project's import in flight, if any: its state and the lines staged so far."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    return import_batches.progress(session=s, project_id=project.id)


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
        images=ImageStore.from_config(current_app.config),
    )
    audit_here(
        "project.import",
        f"project:{project.slug}",
        {"batch_id": result.batch_id, "created": result.created, "updated": result.updated},
    )
    db.session().commit()
    return result.as_dict()
