"""The ``rankroom`` command: the same domain functions the API and pages call.

Each command group lives in its own module; this one only builds the app and adds them.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from service.cli import accounts, database, doctor, export, items, projects, pull, serve, stats


def _cli_app() -> Flask:
    from service import create_app

    # The CLI must run even on an old schema: it is how the schema gets upgraded.
    return create_app({"CHECK_SCHEMA": False})


@click.group(
    cls=FlaskGroup, create_app=_cli_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Rankroom: collect expert human preference data for RLHF."""


for command in (
    database.db_group,
    items.import_cmd,
    accounts.users_group,
    accounts.tokens_group,
    accounts.audit_group,
    projects.projects_group,
    serve.serve,
    pull.sources_group,
    pull.pull_cmd,
    pull.worker_cmd,
    export.export_command,
    doctor.doctor_command,
    stats.stats_command,
):
    main.add_command(command)
