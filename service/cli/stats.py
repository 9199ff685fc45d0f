"""``rankroom stats``: print a dashboard report as JSON or CSV, as the API serves it."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask.cli import with_appcontext

from service import dashboards, db
from service.errors import DomainError
from service.projects import projects


@click.command("stats")
@click.argument("report", type=click.Choice(list(dashboards.REPORTS)))
@click.option("--project", "slug", required=True, help="Slug of the project.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="JSON (the whole report) or CSV (one table of it).",
)
@click.option("--table", default=None, help="With --format csv: which table (default: the first).")
@click.option("--from", "date_from", default=None, help="First day included (YYYY-MM-DD, UTC).")
@click.option("--to", "date_to", default=None, help="Last day included (YYYY-MM-DD, UTC).")
@click.option("--expertise", default=None, help="Only raters with this expertise.")
@click.option("--dimension", default=None, help="Compare raters on this rubric dimension.")
@click.option("--tags", default=None, help="Only items with any of these comma-separated tags.")
@click.option(
    "--gold",
    type=click.Choice(["include", "exclude", "only"]),
    default="include",
    show_default=True,
    help="Gold items: include, exclude, or only them.",
)
@click.option(
    "--rate", "rates", multiple=True, help="cost: hourly rate of a group, GROUP=RATE (repeatable)."
)
@click.option("--default-rate", default=None, help="cost: hourly rate of everyone else.")
@click.option("--limit", default=None, help="items: rows per list (default 50).")
@with_appcontext
def stats_command(
    report: str, slug: str, fmt: str, table: str | None, rates: tuple[str, ...], **given: Any
) -> None:
    """Print a dashboard report: the same figures the stats API and the pages show."""
    args = {
        "from": given["date_from"],
        "to": given["date_to"],
        "expertise": given["expertise"],
        "dimension": given["dimension"],
        "tags": given["tags"],
        "gold": given["gold"],
        "default_rate": given["default_rate"],
        "limit": given["limit"],
    }
    for pair in rates:
        group, _, value = pair.partition("=")
        args[f"rate.{group.strip()}"] = value
    try:
        s = db.session()
        project = projects.get_project(session=s, slug=slug)
        body, _ = dashboards.build_report(
            session=s,
            project=project,
            name=report,
            filters=dashboards.parse_filters(args, project=project),
            options=dashboards.parse_options(report, args),
        )
        text = (
            json.dumps(body, indent=2, ensure_ascii=False) + "\n"
            if fmt == "json"
            else dashboards.report_csv(body, table)[0]
        )
    except DomainError as exc:
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        for e in exc.errors:
            click.echo(f"  {e.get('field', '')}: {e['message']}", err=True)
        sys.exit(1)
    click.echo(text, nl=False)
