"""``rankroom doctor``: check (and repair) the slot counters, leases and overlap."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from service import db
from service.cli.common import fail
from service.errors import DomainError
from service.projects import projects
from service.rating import doctor


@click.command("doctor")
@click.option(
    "--project", "slug", default=None, metavar="SLUG", help="Slug of one project (default: all)."
)
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild drifted counters from the leases, in one audited transaction.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@with_appcontext
def doctor_command(slug: str | None, repair: bool, as_json: bool) -> None:
    """Recount slots, leases and overlap; list any drift and exit 1 while some remains."""
    try:
        with db.write_session() as s:
            project = projects.get_project(session=s, slug=slug) if slug else None
            if repair:
                found = doctor.repair(session=s, project=project, address="cli")
            else:
                found = doctor.check(session=s, project=project)
    except DomainError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(doctor.as_dict(found), indent=2))
    else:
        if found.drift:
            click.echo("project\titem\tcounter\tstored\texpected\trater_id")
        for d in found.drift:
            rater = "" if d.rater_id is None else d.rater_id
            click.echo(f"{d.project}\t{d.item}\t{d.counter}\t{d.stored}\t{d.expected}\t{rater}")
        click.echo(doctor.summary(found))
    if not found.ok:
        sys.exit(1)
