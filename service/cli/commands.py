"""The ``rankroom`` command: the same domain functions the API and pages call.

Each command (or group) lives in its own module, imported only when it runs: a command
module brings the models and its domain packages, and ``rankroom --help`` needs neither.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

# name: (module in service.cli, attribute, the command's short help). The short help is
# shown by ``rankroom --help`` without importing the module; tests/test_cli.py checks
# that it is each command's own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "audit": ("audit_log", "audit_group", "Read the audit log."),
    "db": ("database", "db_group", "Manage the database schema."),
    "doctor": (
        "doctor",
        "doctor_command",
        "Recount slots, leases and overlap; list any drift and exit 1 while some remains.",
    ),
    "export": (
        "export",
        "export_command",
        "Export judgments as a trainer-ready preference dataset (JSON Lines or a Parquet folder).",
    ),
    "import": (
        "items",
        "import_cmd",
        "Import a JSON Lines file of prompts and responses (gzip if it ends in .gz).",
    ),
    "judge": (
        "judges",
        "judge_cmd",
        "Run every judge of a project over the items it has not judged yet, in this process.",
    ),
    "judges": (
        "judges",
        "judges_group",
        "Manage a project's model judges (OpenAI-compatible endpoints).",
    ),
    "members": (
        "members",
        "members_group",
        "Manage project teams: who may rate a project, with which expertise.",
    ),
    "projects": ("projects", "projects_group", "Manage projects (rating campaigns)."),
    "pull": ("pull", "pull_cmd", "Pull a source now, in this process, with a progress bar."),
    "report": (
        "report",
        "report_command",
        "Write the record of how a project's data was made as a standalone HTML page.",
    ),
    "serve": ("serve", "serve", "Serve Rankroom with gunicorn."),
    "sources": (
        "pull",
        "sources_group",
        "Manage pull sources: remote files, watched folders, generation.",
    ),
    "stats": (
        "stats",
        "stats_command",
        "Print a dashboard report: the same figures the stats API and the pages show.",
    ),
    "tokens": ("accounts", "tokens_group", "Manage API tokens."),
    "users": ("accounts", "users_group", "Manage accounts."),
    "worker": (
        "pull",
        "worker_cmd",
        "Run scheduled and queued pulls; stop gracefully on SIGTERM or Ctrl-C.",
    ),
}


# Commands that serve HTTP; the others run in an app without the API and the pages.
SERVE_HTTP = frozenset({"serve"})


def _cli_app() -> Flask:
    from service import create_app

    # The CLI must run even on an old schema: it is how the schema gets upgraded.
    return create_app({"CHECK_SCHEMA": False}, routes=_command_name() in SERVE_HTTP)


def _command_name() -> str | None:
    """Return the name of the command running, as ``rankroom NAME ...`` gave it."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None and ctx.parent.parent is not None:
        ctx = ctx.parent
    return ctx.info_name if ctx is not None else None


class _Commands(FlaskGroup):
    """Flask's group (app context, ``--app``-free) with its commands loaded on use.

    FlaskGroup would build the app to list commands an app may add; Rankroom's app adds
    none, so listing and help never build it.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(
            importlib.import_module(f"service.cli.{module}"), attribute
        )
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in self.list_commands(ctx)])


@click.group(
    cls=_Commands, create_app=_cli_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Rankroom: collect expert human preference data for RLHF."""
