"""``rankroom projects``: rating campaigns."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from service import db
from service.cli.common import fail
from service.errors import DomainError
from service.projects import projects


@click.group("projects", cls=AppGroup)
def projects_group() -> None:
    """Manage projects (rating campaigns)."""


@projects_group.command("create")
@click.argument("slug")
@click.option(
    "--from",
    "template",
    required=True,
    help="Template name in prompts/templates (pairwise, ranking, rating, ...) or a JSON file.",
)
@click.option("--name", default=None, help="Display name (default: the template's).")
@click.option("--overlap", type=int, default=None, help="Judgments wanted per item.")
def projects_create(slug: str, template: str, name: str | None, overlap: int | None) -> None:
    """Create a project from a template."""
    try:
        data = projects.load_template(current_app.config["PROMPTS_DIR"], template)
        data.update(slug=slug, name=name or data.get("name") or slug)
        if overlap is not None:
            data["overlap"] = overlap
        with db.write_session() as s:
            project = projects.create_project(session=s, data=data)
    except DomainError as exc:
        fail(exc)
    click.echo(f"Created {project.mode} project {project.slug}.")
