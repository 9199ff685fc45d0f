"""Projects (rating campaigns) and the templates they start from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlmodel import Session, select

from service import audit
from service.errors import Conflict, InvalidInput, NotFound
from service.models import Project, utcnow
from service.paging import Page, paginate
from service.projects import guideline_versions
from service.schemas import ProjectSchema, flatten_messages


def _invalid(exc: ValidationError, what: str) -> InvalidInput:
    errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages)]
    return InvalidInput(f"Invalid {what}.", errors=errors)


def load_template(prompts_dir: str | Path, name: str) -> dict[str, Any]:
    """Read a project template (rubric, guidelines, settings) by name or path."""
    path = Path(name)
    if not path.suffix:
        path = Path(prompts_dir) / "templates" / f"{name}.json"
    if not path.is_file():
        available = sorted(p.stem for p in (Path(prompts_dir) / "templates").glob("*.json"))
        raise NotFound(f"No template {name!r}; available: {', '.join(available) or 'none'}.")
    return json.loads(path.read_text(encoding="utf-8"))


def create_project(*, session: Session, data: dict[str, Any]) -> Project:
    """Validate ``data`` and create the project; refuse a slug already taken."""
    try:
        values = ProjectSchema().load(data)
    except ValidationError as exc:
        raise _invalid(exc, "project") from exc
    if session.exec(select(Project).where(Project.slug == values["slug"])).first():
        raise Conflict(f"Project {values['slug']!r} already exists.")
    project = Project(**values)
    session.add(project)
    session.flush()
    guideline_versions.store(session=session, project=project, actor_id=None)
    return project


# Built once: every rater request looks its project up (see slots.py on why).
_BY_SLUG = select(Project).where(Project.slug == sa.bindparam("b_slug"))


def get_project(*, session: Session, slug: str) -> Project:
    """Return the project with ``slug`` or raise NotFound."""
    project = session.execute(_BY_SLUG, {"b_slug": slug}).scalars().first()
    if project is None:
        raise missing(slug)
    return project


def missing(slug: str) -> NotFound:
    """The error for a project that does not exist."""
    return NotFound(f"No project {slug!r}.")


def list_projects(*, session: Session) -> list[Project]:
    """Return every project, oldest first."""
    return list(session.exec(select(Project).order_by(Project.id)))


def update_guidelines(
    *,
    session: Session,
    project: Project,
    guidelines: str,
    actor_id: int | None = None,
    address: str | None = None,
) -> Project:
    """Save new guidelines as the next version (kept, so judgments name what they saw).

    The one way guidelines change, audited. Saving the same text again makes no version.
    """
    _check_guidelines(guidelines)
    if guidelines != project.guidelines:
        guideline_versions.ensure_current(session=session, project=project)
        project.guidelines = guidelines
        project.guideline_version += 1
        project.updated_at = utcnow()
        session.add(project)
        guideline_versions.store(session=session, project=project, actor_id=actor_id)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="project.guidelines",
            target=f"project:{project.slug}",
            details={"version": project.guideline_version},
            address=address,
        )
        session.flush()
    return project


def _check_guidelines(text: str) -> None:
    # The same limit as on creation (ProjectSchema.guidelines).
    try:
        ProjectSchema(only=("guidelines",)).load({"guidelines": text})
    except ValidationError as exc:
        raise _invalid(exc, "guidelines") from exc


def page_projects(*, session: Session, page: int, per_page: int) -> Page[Project]:
    """Return one page of projects, oldest first."""
    return paginate(
        session=session, query=select(Project).order_by(Project.id), page=page, per_page=per_page
    )
