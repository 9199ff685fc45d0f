"""``rankroom audit``: read the audit log.

A module of its own: reading the log needs the log and the database, none of the
accounts stack that ``users`` and ``tokens`` load.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from service import audit, db
from service.cli.common import audit_cli


@click.group("audit", cls=AppGroup)
def audit_group() -> None:
    """Read the audit log."""


@audit_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(audit.EXPORT_FORMATS),
    default="jsonl",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--action", default=None, help="Only this action or prefix (login, user, token, export)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
def audit_export(fmt: str, action: str | None, out: Path | None) -> None:
    """Export the audit log, oldest first."""
    stream = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    with db.write_session() as s:
        audit_cli(s, "audit.export", "audit", {"format": fmt, "filters": {"action": action}})
    with db.write_session() as s:
        for chunk in audit.export_events(session=s, fmt=fmt, action=action):
            stream.write(chunk)
    if out:
        stream.close()
