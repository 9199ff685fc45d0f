"""Pull sources and their runs: create, inspect, run now, retry (admins only).

Running a source only queues it: the worker (``rankroom worker``) does the pull,
so no request ever waits on a model or a remote file.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlmodel import Session

from service import db
from service.http.auth import current_user, requires
from service.models import Project, Source
from service.projects import projects, sources
from service.projects.source_config import SourceInputSchema, SourceUpdateSchema

bp = Blueprint(
    "sources", __name__, url_prefix="/api/v1", description="Pull sources and their runs."
)


def _project_slug(source: Source) -> str:
    return Session.object_session(source).get(Project, source.project_id).slug


def _source_name(run: Any) -> str:
    return Session.object_session(run).get(Source, run.source_id).name


class SourceSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    project = fields.Function(_project_slug)
    kind = fields.String()
    config = fields.Dict()
    interval_minutes = fields.Integer(allow_none=True)
    next_run_at = fields.DateTime(allow_none=True)
    etag = fields.String(allow_none=True)
    last_modified = fields.String(allow_none=True)
    last_run_at = fields.DateTime(allow_none=True)
    last_status = fields.String(allow_none=True)
    last_error = fields.String()
    created_at = fields.DateTime()


class RunSchema(Schema):
    id = fields.Integer()
    source = fields.Function(_source_name)
    status = fields.String()
    trigger = fields.String()
    mode = fields.String()
    retry_of = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    claimed_by = fields.String(allow_none=True)
    attempts = fields.Integer()
    progress = fields.Dict()
    batch_id = fields.Integer(allow_none=True)
    summary = fields.Dict()
    error = fields.String()
    errors = fields.List(fields.Dict())


class GenerationSchema(Schema):
    id = fields.Integer()
    prompt_id = fields.String()
    generator = fields.String()
    sample = fields.Integer()
    status = fields.String()
    error = fields.String()
    attempts = fields.Integer()
    meta = fields.Dict()
    run_id = fields.Integer(allow_none=True)
    updated_at = fields.DateTime()


class SourceListArgs(Schema):
    project = fields.String(metadata={"description": "Only this project's sources (slug)."})


class RunArgs(Schema):
    mode = fields.String(
        load_default="pull",
        validate=validate.OneOf(["pull", "retry"]),
        metadata={"description": "retry also re-asks generations that failed before."},
    )


class GenerationArgs(Schema):
    status = fields.String(validate=validate.OneOf(["ok", "failed"]))


@bp.route("/sources")
@bp.arguments(SourceListArgs, location="query")
@bp.response(200, SourceSchema(many=True))
@requires("admin", scope="admin")
def list_all(args: dict[str, Any]) -> Any:
    """List pull sources, with how their last pull went."""
    s = db.session()
    project = projects.get_project(session=s, slug=args["project"]) if "project" in args else None
    return sources.list_sources(session=s, project=project)


@bp.route("/sources", methods=["POST"])
@bp.arguments(SourceInputSchema, as_kwargs=False)
@bp.response(201, SourceSchema)
@requires("admin", scope="admin")
def create(data: dict[str, Any]) -> Any:
    """Create a source: {name, project, kind, config, interval_minutes}."""
    s = db.session()
    source = sources.create_source(session=s, data=data, user_id=current_user().id)
    s.commit()
    return source


@bp.route("/sources/<name>")
@bp.response(200, SourceSchema)
@requires("admin", scope="admin")
def show(name: str) -> Any:
    """Show one source."""
    return sources.get_source(session=db.session(), name=name)


@bp.route("/sources/<name>", methods=["PATCH"])
@bp.arguments(SourceUpdateSchema, as_kwargs=False)
@bp.response(200, SourceSchema)
@requires("admin", scope="admin")
def update(data: dict[str, Any], name: str) -> Any:
    """Change a source's config or schedule: {config?, interval_minutes?}."""
    s = db.session()
    source = sources.get_source(session=s, name=name)
    sources.update_source(session=s, source=source, data=data)
    s.commit()
    return source


@bp.route("/sources/<name>/runs")
@bp.response(200, RunSchema(many=True))
@requires("admin", scope="admin")
def runs(name: str) -> Any:
    """List the source's latest runs, newest first."""
    s = db.session()
    return sources.list_runs(session=s, source=sources.get_source(session=s, name=name))


@bp.route("/sources/<name>/runs", methods=["POST"])
@bp.arguments(RunArgs, location="query")
@bp.response(202, RunSchema)
@requires("admin", scope="admin")
def run_now(args: dict[str, Any], name: str) -> Any:
    """Queue a pull of the source now (409 while one is queued or running)."""
    s = db.session()
    source = sources.get_source(session=s, name=name)
    run = sources.enqueue_run(
        session=s, source=source, mode=args["mode"], user_id=current_user().id
    )
    s.commit()
    return run


@bp.route("/sources/<name>/generations")
@bp.arguments(GenerationArgs, location="query")
@bp.response(200, GenerationSchema(many=True))
@requires("admin", scope="admin")
def generations(args: dict[str, Any], name: str) -> Any:
    """List a generation source's generations (?status=failed for the failed ones)."""
    s = db.session()
    source = sources.get_source(session=s, name=name)
    return sources.list_generations(session=s, source=source, status=args.get("status"))


@bp.route("/runs/<int:run_id>")
@bp.response(200, RunSchema)
@requires("admin", scope="admin")
def show_run(run_id: int) -> Any:
    """Show one run, with its counts and errors."""
    return sources.get_run(session=db.session(), run_id=run_id)


@bp.route("/runs/<int:run_id>/retry", methods=["POST"])
@bp.response(202, RunSchema)
@requires("admin", scope="admin")
def retry(run_id: int) -> Any:
    """Queue a retry of a failed or partial run (failed generations are asked again)."""
    s = db.session()
    run = sources.retry_run(
        session=s, run=sources.get_run(session=s, run_id=run_id), user_id=current_user().id
    )
    s.commit()
    return run
