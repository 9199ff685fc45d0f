"""``rankroom members``: project teams, project expertise and qualification resets."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from service import db
from service.accounts import memberships, users
from service.cli.common import fail
from service.errors import DomainError
from service.projects import projects
from service.rating import gold


@click.group("members", cls=AppGroup)
def members_group() -> None:
    """Manage project teams: who may rate a project, with which expertise."""


@members_group.command("list")
@click.argument("project")
def members_list(project: str) -> None:
    """List PROJECT's team; with none, every rater may rate it."""
    try:
        with db.write_session() as s:
            found = memberships.members_of(
                session=s, project=projects.get_project(session=s, slug=project)
            )
            lines = [
                f"{m.user.username}\t{'member' if m.active else 'removed'}\t"
                f"{','.join(m.expertise) if m.expertise is not None else '(own tags)'}"
                for m in found
            ]
    except DomainError as exc:
        fail(exc)
    click.echo("\n".join(lines) if lines else f"{project} has no team: open to every rater.")


@members_group.command("add")
@click.argument("project")
@click.argument("username")
@click.option(
    "--expertise",
    default=None,
    help="Expertise tags for this project, comma-separated (default: the user's own tags).",
)
def members_add(project: str, username: str, expertise: str | None) -> None:
    """Put USERNAME on PROJECT's team (a project with a team serves only its members)."""
    try:
        with db.write_session() as s:
            memberships.add_member(
                session=s,
                project=projects.get_project(session=s, slug=project),
                user=users.get_user(session=s, username=username),
                actor_id=None,
                expertise=expertise.split(",") if expertise is not None else None,
            )
    except DomainError as exc:
        fail(exc)
    click.echo(f"{username} is on the team of {project}.")


@members_group.command("remove")
@click.argument("project")
@click.argument("username")
def members_remove(project: str, username: str) -> None:
    """Take USERNAME off PROJECT: no more work there, their leases released."""
    try:
        with db.write_session() as s:
            released = memberships.remove_member(
                session=s,
                project=projects.get_project(session=s, slug=project),
                user=users.get_user(session=s, username=username),
                actor_id=None,
            )
    except DomainError as exc:
        fail(exc)
    click.echo(f"Removed {username} from {project}; {released} lease(s) released.")


@members_group.command("requalify")
@click.argument("project")
@click.argument("username")
def members_requalify(project: str, username: str) -> None:
    """Make USERNAME qualify for PROJECT again: earlier gold answers no longer count."""
    try:
        with db.write_session() as s:
            found = projects.get_project(session=s, slug=project)
            rater = users.get_user(session=s, username=username)
            gold.reset_qualification(session=s, project=found, rater=rater, actor_id=None)
            status = gold.qualification(session=s, project=found, rater=rater).status
    except DomainError as exc:
        fail(exc)
    click.echo(f"{username} qualifies for {project} again; now {status}.")
