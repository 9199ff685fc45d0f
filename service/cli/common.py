"""What every command shares: how a refused command ends, and who the audit log says acted."""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlmodel import Session

from service import audit
from service.errors import DomainError

# The audit log's address for what an operator did at the command line.
CLI_ADDRESS = "cli"


def fail(exc: DomainError) -> None:
    click.secho(f"Error: {exc.message}", fg="red", err=True)
    for e in exc.errors[:50]:
        where = f"line {e['line']}: " if "line" in e else ""
        field = f"{e['field']}: " if e.get("field") else ""
        click.echo(f"  {where}{field}{e['message']}", err=True)
    if len(exc.errors) > 50:
        click.echo(f"  ... and {len(exc.errors) - 50} more", err=True)
    sys.exit(1)


def audit_cli(s: Session, action: str, target: str, details: dict[str, Any] | None = None) -> None:
    """Record in the audit log what an operator did at the command line."""
    audit.record(
        session=s,
        actor_id=None,
        action=action,
        target=target,
        details={**(details or {}), "via": "cli"},
        address=CLI_ADDRESS,
    )
