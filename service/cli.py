"""The ``rankroom`` command line: the same domain functions the API and pages call."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup
from sqlmodel import Session

from service import accounts, db, importing, projects
from service.errors import DomainError
from service.stats_cli import stats_command


def _cli_app() -> Flask:
    from service import create_app

    # The CLI must run even on an old schema: it is how the schema gets upgraded.
    return create_app({"CHECK_SCHEMA": False})


@click.group(
    cls=FlaskGroup, create_app=_cli_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Rankroom: collect expert human preference data for RLHF."""


main.add_command(stats_command)


def _fail(exc: DomainError) -> None:
    click.secho(f"Error: {exc.message}", fg="red", err=True)
    for e in exc.errors[:50]:
        where = f"line {e['line']}: " if "line" in e else ""
        field = f"{e['field']}: " if e.get("field") else ""
        click.echo(f"  {where}{field}{e['message']}", err=True)
    if len(exc.errors) > 50:
        click.echo(f"  ... and {len(exc.errors) - 50} more", err=True)
    sys.exit(1)


@main.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migration to upgrade to.")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the database schema."""
    db.upgrade(db.engine(), revision)
    click.echo(
        f"Database at {db.current_revision(db.engine())} ({current_app.config['DATABASE_URL'].split('@')[-1]})."
    )


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", "slug", required=True, help="Slug of the project to import into.")
@click.option("--skip-invalid", is_flag=True, help="Import the good lines and report the bad ones.")
@click.option(
    "--update", is_flag=True, help="Replace items whose content changed (never judged ones)."
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the bad lines as JSON Lines here (default FILE.errors.jsonl).",
)
def import_cmd(
    file: Path, slug: str, skip_invalid: bool, update: bool, report: Path | None
) -> None:
    """Import a JSON Lines file of prompts and responses (gzip if it ends in .gz)."""
    hasher = hashlib.sha256()
    size = file.stat().st_size
    opener = _open_maybe_gzip(file)
    try:
        with Session(db.engine()) as s:
            project = projects.get_project(session=s, slug=slug)
        with (
            opener as stream,
            click.progressbar(length=size, label=f"Importing {file.name}", file=sys.stderr) as bar,
        ):
            raw = getattr(stream, "fileobj", stream)

            def progress(_: int) -> None:
                bar.update(raw.tell() - bar.pos)

            result = importing.import_items(
                engine=db.engine(),
                project=project,
                rows=importing.read_jsonl(
                    stream, hasher, importing.InputLimits.from_config(current_app.config)
                ),
                source=str(file.name),
                kind="file",
                skip_invalid=skip_invalid,
                update=update,
                checksum=hasher.hexdigest,
                max_chars=current_app.config["MAX_RESPONSE_CHARS"],
                progress=progress,
            )
    except DomainError as exc:
        _fail(exc)
    click.echo(
        f"Batch {result.batch_id}: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.error_count} bad line(s) skipped."
    )
    if result.errors:
        out = report or file.with_name(file.name + ".errors.jsonl")
        with out.open("w", encoding="utf-8") as fh:
            for e in result.errors:
                fh.write(json.dumps(e.as_dict()) + "\n")
        click.echo(f"Bad lines written to {out}.")


def _open_maybe_gzip(file: Path) -> Any:
    if file.suffix == ".gz":
        import gzip

        return gzip.open(file, "rb")
    return file.open("rb")


@main.group("users")
def users_group() -> None:
    """Manage accounts."""


@users_group.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["admin", "rater", "engineer"]),
    default="rater",
    show_default=True,
    help="What the user may do.",
)
@click.option("--expertise", default="", help="Comma-separated expertise tags, e.g. medicine,law.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password", default=None, help="Password (default: generate one and print it).")
def users_add(
    username: str, role: str, expertise: str, display_name: str, password: str | None
) -> None:
    """Add a user."""
    password = password or secrets.token_urlsafe(12)
    try:
        with db.write_session() as s:
            accounts.create_user(
                session=s,
                username=username,
                role=role,
                password=password,
                display_name=display_name,
                expertise=expertise.split(","),
            )
    except DomainError as exc:
        _fail(exc)
    click.echo(f"Added {role} {username} with password {password}")


@main.group("tokens")
def tokens_group() -> None:
    """Manage API tokens."""


@tokens_group.command("create")
@click.argument("username")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(list(accounts.TOKEN_SCOPES)),
    help="A scope to grant (repeatable).",
)
@click.option("--name", default="", help="What the token is for.")
@click.option("--days", default=90, show_default=True, help="Days until it expires (0: never).")
def tokens_create(username: str, scopes: tuple[str, ...], name: str, days: int) -> None:
    """Create an API token and print it (it is shown only once)."""
    try:
        with db.write_session() as s:
            user = accounts.get_user(session=s, username=username)
            _, secret = accounts.create_token(
                session=s, user=user, scopes=scopes, name=name, expires_in_days=days or None
            )
    except DomainError as exc:
        _fail(exc)
    click.echo(secret)


@main.group("projects")
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
        _fail(exc)
    click.echo(f"Created {project.mode} project {project.slug}.")


@main.command("serve")
@click.option("--demo", is_flag=True, help="Create the database, load demo projects and accounts.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--workers", type=int, default=None, help="gunicorn workers (default: RANKROOM_WORKERS)."
)
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Threads per worker; above 1 uses gthread workers (default: RANKROOM_THREADS).",
)
def serve(demo: bool, host: str, port: int, workers: int | None, threads: int | None) -> None:
    """Serve Rankroom with gunicorn."""
    if demo:
        from service.demo import load_demo

        db.upgrade(db.engine())
        for line in load_demo(prompts_dir=current_app.config["PROMPTS_DIR"]):
            click.echo(line)
    for line in importing.recover(db.engine()):  # a crashed import, finished or discarded
        click.echo(line)
    workers = workers or int(current_app.config["WORKERS"])
    threads = threads or int(current_app.config["THREADS"])
    env = dict(os.environ)
    env.setdefault("RANKROOM_INSTANCE_PATH", current_app.instance_path)
    env.setdefault("RANKROOM_DATABASE_URL", current_app.config["DATABASE_URL"])
    click.echo(f"Serving on http://{host}:{port} with {workers} worker(s).")
    sys.stdout.flush()
    args = [
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"{host}:{port}",
        "--access-logfile",
        "-",
        *(["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []),
        "service:create_app()",
    ]
    os.execvpe(sys.executable, [sys.executable, "-m", *args], env)


# Command groups kept in their own modules (accounts, tokens and audit; pull sources
# and the worker; dataset export) attach to `main` on import, so they are imported last.
from service import cli_accounts, cli_doctor, cli_export, cli_pull  # noqa: E402, F401
