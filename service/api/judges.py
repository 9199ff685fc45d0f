"""A project's model judges: attach, list, remove, run now (admins only).

Running a judge only queues it: the worker (``rankroom worker``) calls the endpoint, so
no request ever waits on a model.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service import db
from service.api.sources import RunSchema
from service.errors import Conflict
from service.http.auth import current_user, requires
from service.judging import config as judges
from service.judging.config import JudgeInputSchema
from service.projects import projects, sources

bp = Blueprint("judges", __name__, url_prefix="/api/v1", description="A project's model judges.")


class JudgeSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    config = fields.Dict()
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


@bp.route("/projects/<slug>/judges")
@bp.response(200, JudgeSchema(many=True))
@requires("admin", scope="admin")
def list_judges(slug: str) -> Any:
    """List the project's judges."""
    s = db.session()
    return judges.list_judges(session=s, project=projects.get_project(session=s, slug=slug))


@bp.route("/projects/<slug>/judges", methods=["POST"])
@bp.arguments(JudgeInputSchema, as_kwargs=False)
@bp.response(201, JudgeSchema)
@requires("admin", scope="admin")
def add(data: dict[str, Any], slug: str) -> Any:
    """Attach a judge: {name, config: {url, model, template, params, api_key_env, ...}}."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    judge = judges.add_judge(session=s, project=project, data=data, user_id=current_user().id)
    s.commit()
    return judge


@bp.route("/projects/<slug>/judges/<name>", methods=["DELETE"])
@bp.response(200, JudgeSchema)
@requires("admin", scope="admin")
def remove(slug: str, name: str) -> Any:
    """Stop a judge; its verdicts and attempts stay on record."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    judge = judges.remove_judge(session=s, project=project, name=name)
    s.commit()
    return judge


@bp.route("/projects/<slug>/judges/<name>/runs", methods=["POST"])
@bp.response(202, RunSchema)
@requires("admin", scope="admin")
def run_now(slug: str, name: str) -> Any:
    """Queue a run of the judge over what it has not judged yet (409 while one is queued)."""
    s = db.session()
    judge = judges.get_judge(
        session=s, project=projects.get_project(session=s, slug=slug), name=name
    )
    source = judges.source_of(session=s, judge=judge)
    if source is None:
        raise Conflict(
            f"Judge {name!r} has no endpoint to call (its verdicts are stored otherwise)."
        )
    run = sources.enqueue_run(session=s, source=source, user_id=current_user().id)
    s.commit()
    return run
