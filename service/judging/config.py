"""A project's model judges: their config, validated like a pull source's, and their lifecycle.

A judge is an OpenAI-compatible chat-completions endpoint, a model and a prompt
template (a shipped one by name, or inline text; see prompts.py). Its config is loaded
through ``JudgeConfigSchema`` and stored with the defaults filled in, so what an admin
sees is what the worker uses. Keys are never stored: only the name of the environment
variable that holds one on the worker.

Each judge owns a pull source of kind ``judge`` (``source_config.JUDGE_KIND``), so its
runs are ordinary jobs of the pull worker: queued, claimed once, kept alive by a
heartbeat, taken over when a worker dies, and listed with the other runs.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema
from sqlmodel import Session, select

from service.errors import Conflict, InvalidInput, NotFound
from service.models import Judge, Mode, Project, Source, utcnow
from service.projects.source_config import (
    _HTTP_URL,
    ENV_NAME,
    JUDGE_KIND,
    RESERVED_PARAMS,
    _RefuseStoredKeys,
)
from service.rating import settings
from service.schemas import Strict, StrictFloat, StrictInteger, flatten_messages

JUDGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")
# The shipped templates, one per project mode (prompts/judges/<name>.txt).
SHIPPED_TEMPLATES = tuple(m.value for m in Mode)
# Rankroom builds the structured-output request itself.
JUDGE_RESERVED_PARAMS = (*RESERVED_PARAMS, "response_format")
# Every placeholder a template may use; an inline one must at least show the responses.
PLACEHOLDERS = ("guidelines", "guideline_version", "rubric", "conversation", "responses", "answer")


class JudgeConfigSchema(_RefuseStoredKeys):
    """How to call one judge: endpoint, model, template, parameters and limits."""

    url = fields.Url(required=True, **_HTTP_URL)
    model = fields.String(required=True, validate=validate.Length(1, 200))
    template = fields.String(required=True, validate=validate.Length(1, 100_000))
    params = fields.Dict(keys=fields.String(), load_default=dict)
    api_key_env = fields.String(
        validate=validate.Regexp(ENV_NAME, error="must be an environment variable name")
    )
    concurrency = StrictInteger(load_default=4, validate=validate.Range(1, 64))
    timeout = StrictFloat(load_default=60.0, validate=validate.Range(0.01, 3600))
    max_attempts = StrictInteger(load_default=3, validate=validate.Range(1, 10))
    backoff = StrictFloat(load_default=1.0, validate=validate.Range(0, 600))
    max_backoff = StrictFloat(load_default=30.0, validate=validate.Range(0, 3600))

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        taken = sorted(set(data.get("params") or {}) & set(JUDGE_RESERVED_PARAMS))
        if taken:
            raise ValidationError(
                f"{', '.join(taken)} cannot be set here (Rankroom sends them itself)", "params"
            )
        template = data.get("template", "")
        if template not in SHIPPED_TEMPLATES and "$responses" not in template:
            raise ValidationError(
                f"name a shipped template ({', '.join(SHIPPED_TEMPLATES)}) or give the "
                "template's text, which must include $responses",
                "template",
            )


class JudgeInputSchema(Strict):
    """A new judge as the API and the CLI give it."""

    name = fields.String(
        required=True,
        validate=validate.Regexp(JUDGE_NAME, error="letters, digits, dot, dash, underscore"),
    )
    config = fields.Dict(required=True)


def _invalid(exc: ValidationError, what: str, prefix: str = "") -> InvalidInput:
    errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages, prefix)]
    return InvalidInput(f"Invalid {what}.", errors=errors)


def load_config(project: Project, config: Any) -> dict[str, Any]:
    """Return a judge's config with its defaults; raise InvalidInput naming each bad field."""
    try:
        loaded = JudgeConfigSchema().load(config)
    except ValidationError as exc:
        raise _invalid(exc, "judge config", "config") from exc
    if loaded["template"] in SHIPPED_TEMPLATES and loaded["template"] != project.mode:
        raise InvalidInput(
            "Invalid judge config.",
            errors=[
                {
                    "field": "config.template",
                    "message": f"{project.slug} is a {project.mode} project; "
                    f"use the {project.mode} template",
                }
            ],
        )
    return loaded


def add_judge(
    *, session: Session, project: Project, data: Any, user_id: int | None = None
) -> Judge:
    """Validate ``data`` (name, config) and attach the judge to the project.

    A removed judge of the same name comes back with the new config; its verdicts stay.
    """
    try:
        values = JudgeInputSchema().load(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        raise _invalid(exc, "judge") from exc
    config = load_config(project, values["config"])
    judge = _find(session, project, values["name"])
    if judge is not None and judge.active:
        raise Conflict(f"Project {project.slug!r} already has a judge {values['name']!r}.")
    now = utcnow()
    if judge is None:
        judge = Judge(project_id=project.id, name=values["name"], created_by=user_id)
    judge.config, judge.active, judge.updated_at = config, True, now
    session.add(judge)
    session.flush()
    if source_of(session=session, judge=judge) is None:
        session.add(
            Source(
                name=f"judge:{judge.id}:{judge.name}",
                project_id=project.id,
                kind=JUDGE_KIND,
                config={"judge_id": judge.id},
                created_by=user_id,
            )
        )
        session.flush()
    settings.after_judges_changed(session=session, project=project)
    return judge


def _find(session: Session, project: Project, name: str) -> Judge | None:
    return session.exec(
        select(Judge).where(Judge.project_id == project.id, Judge.name == name)
    ).first()


def get_judge(*, session: Session, project: Project, name: str) -> Judge:
    """Return the project's active judge called ``name`` or raise NotFound."""
    judge = _find(session, project, name)
    if judge is None or not judge.active:
        raise NotFound(f"Project {project.slug!r} has no judge {name!r}.")
    return judge


def list_judges(*, session: Session, project: Project) -> list[Judge]:
    """Return the project's active judges, oldest first."""
    return list(
        session.exec(
            select(Judge).where(Judge.project_id == project.id, Judge.active).order_by(Judge.id)
        )
    )


def remove_judge(*, session: Session, project: Project, name: str) -> Judge:
    """Stop a judge: it is no longer run; its verdicts and attempts stay on record."""
    judge = get_judge(session=session, project=project, name=name)
    judge.active, judge.updated_at = False, utcnow()
    session.add(judge)
    session.flush()
    settings.after_judges_changed(session=session, project=project)
    return judge


def source_of(*, session: Session, judge: Judge) -> Source | None:
    """Return the pull source whose runs run this judge."""
    return session.exec(
        select(Source).where(
            Source.kind == JUDGE_KIND, Source.name.startswith(f"judge:{judge.id}:")
        )
    ).first()
