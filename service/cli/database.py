"""``rankroom db``: the schema."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from service import db


@click.group("db", cls=AppGroup)
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
