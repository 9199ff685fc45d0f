"""``rankroom report``: the record of how a project's data was made, as one HTML page."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from service import db
from service.cli.common import fail
from service.dashboards.record import build_record
from service.errors import DomainError
from service.export.record_html import render_record_html
from service.models import utcnow
from service.projects import projects


@click.command("report")
@click.option("--project", "slug", required=True, help="Slug of the project.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="HTML file to write (standalone: inline CSS and SVG charts, no scripts).",
)
@with_appcontext
def report_command(slug: str, out: Path) -> None:
    """Write the record of how a project's data was made as a standalone HTML page."""
    try:
        s = db.session()
        record = build_record(session=s, project=projects.get_project(session=s, slug=slug))
    except DomainError as exc:
        fail(exc)
    html = render_record_html(record, generated_at=utcnow().isoformat(timespec="seconds"))
    # Written beside the target, then renamed: a failed write leaves no half page.
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(out)
    click.echo(f"Report of {slug} -> {out}", err=True)
