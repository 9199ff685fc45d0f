"""``rankroom judges`` (add, list, remove) and ``rankroom judge``: model judges from the shell."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlmodel import Session

from service import db
from service.cli.common import fail
from service.cli.pull import _config_option
from service.errors import DomainError
from service.judging import config as judges
from service.models import RunStatus
from service.projects import projects
from service.pull import context, runs, worker


@click.group("judges", cls=AppGroup)
def judges_group() -> None:
    """Manage a project's model judges (OpenAI-compatible endpoints)."""


@judges_group.command("add")
@click.argument("name")
@click.option("--project", "slug", required=True, help="Slug of the project the judge judges.")
@click.option(
    "--config",
    "config_value",
    required=True,
    help="The judge's config as JSON, or a JSON file (url, model, template...; see the README).",
)
def judges_add(name: str, slug: str, config_value: str) -> None:
    """Attach a model judge to a project."""
    try:
        with db.write_session() as s:
            project = projects.get_project(session=s, slug=slug)
            data = {"name": name, "config": _config_option(config_value)}
            judge = judges.add_judge(session=s, project=project, data=data)
    except DomainError as exc:
        fail(exc)
    click.echo(f"Added judge {judge.name} ({judge.config['model']}) to {slug}.")


@judges_group.command("list")
@click.option("--project", "slug", required=True, help="Slug of the project.")
def judges_list(slug: str) -> None:
    """List a project's judges."""
    with Session(db.engine()) as s:
        try:
            project = projects.get_project(session=s, slug=slug)
        except DomainError as exc:
            fail(exc)
        for judge in judges.list_judges(session=s, project=project):
            # A judge without an endpoint (the demo's simulated one) stores its verdicts itself.
            c = judge.config
            template = c.get("template", "-")
            template = template if template in (*judges.SHIPPED_TEMPLATES, "-") else "inline"
            click.echo(
                f"{judge.name:<24} {c.get('model', '-'):<32} {template:<10} {c.get('url', '-')}"
            )


@judges_group.command("remove")
@click.argument("name")
@click.option("--project", "slug", required=True, help="Slug of the project.")
def judges_remove(name: str, slug: str) -> None:
    """Stop a judge; its verdicts stay on record."""
    try:
        with db.write_session() as s:
            project = projects.get_project(session=s, slug=slug)
            judges.remove_judge(session=s, project=project, name=name)
    except DomainError as exc:
        fail(exc)
    click.echo(f"Removed judge {name} from {slug}; its verdicts stay.")


@click.command("judge")
@click.option("--project", "slug", required=True, help="Slug of the project to judge.")
@with_appcontext
def judge_cmd(slug: str) -> None:
    """Run every judge of a project over the items it has not judged yet, in this process."""
    ctx = context.from_config(engine=db.engine(), config=current_app.config)
    try:
        with db.write_session() as s:
            worker.requeue_stale(session=s, stale_seconds=ctx.stale_seconds)
            project = projects.get_project(session=s, slug=slug)
            claimed = []
            for judge in judges.list_judges(session=s, project=project):
                source = judges.source_of(session=s, judge=judge)
                if source is None:
                    click.echo(f"Judge {judge.name} has no endpoint to call; skipped.")
                    continue
                run = worker.claim_source(session=s, source=source, worker_id=ctx.worker_id)
                claimed.append((judge.name, run.id))
    except DomainError as exc:
        fail(exc)
    if not claimed:
        click.echo(f"{slug} has no judges to run (rankroom judges add).")
    failed = False
    for name, run_id in claimed:
        try:
            run = runs.execute(ctx, run_id)
        except KeyboardInterrupt:
            runs.abandon(ctx, run_id, "interrupted (Ctrl-C) while judging from the command line")
            click.secho(f"Judge {name} interrupted (run {run_id}).", fg="red", err=True)
            sys.exit(130)
        counts = ", ".join(f"{k} {v}" for k, v in run.summary.items())
        colour = {RunStatus.FAILED.value: "red", RunStatus.PARTIAL.value: "yellow"}.get(run.status)
        click.secho(f"Judge {name}: {run.status}. {counts}", fg=colour)
        if run.error:
            click.secho(run.error, fg=colour, err=True)
        failed = failed or run.status == RunStatus.FAILED.value
    if failed:
        sys.exit(1)
