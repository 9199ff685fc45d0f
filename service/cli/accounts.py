"""``rankroom users`` and ``tokens``: accounts and API tokens.

Invites, memberships and erasure are imported by the commands that use them: they bring
the rating stack, which ``tokens list`` or ``users add`` need not load.
"""

from __future__ import annotations

import csv
import secrets
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import select

from service import db
from service.accounts import users
from service.cli.common import audit_cli, fail
from service.errors import DomainError
from service.models import User, utcnow


def _base_url() -> str:
    return current_app.config["PUBLIC_URL"] or "http://127.0.0.1:8000"


@click.group("users", cls=AppGroup)
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
            users.create_user(
                session=s,
                username=username,
                role=role,
                password=password,
                display_name=display_name,
                expertise=expertise.split(","),
            )
    except DomainError as exc:
        fail(exc)
    click.echo(f"Added {role} {username} with password {password}")


@click.group("tokens", cls=AppGroup)
def tokens_group() -> None:
    """Manage API tokens."""


@tokens_group.command("create")
@click.argument("username")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(list(users.TOKEN_SCOPES)),
    help="A scope to grant (repeatable).",
)
@click.option("--name", default="", help="What the token is for.")
@click.option("--days", default=90, show_default=True, help="Days until it expires (0: never).")
def tokens_create(username: str, scopes: tuple[str, ...], name: str, days: int) -> None:
    """Create an API token and print it (it is shown only once)."""
    try:
        with db.write_session() as s:
            user = users.get_user(session=s, username=username)
            _, secret = users.create_token(
                session=s, user=user, scopes=scopes, name=name, expires_in_days=days or None
            )
    except DomainError as exc:
        fail(exc)
    click.echo(secret)


@users_group.command("invite")
@click.argument("username")
@click.option("--email", default=None, help="Email address.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--expertise", default="", help="Expertise tags separated by ; or , (e.g. law;tax).")
@click.option(
    "--role",
    type=click.Choice(["rater", "engineer", "admin"]),
    default="rater",
    show_default=True,
    help="Role of a new account.",
)
@click.option(
    "--days", type=float, default=None, help="Days the link is valid (default INVITE_DAYS)."
)
def users_invite(
    username: str,
    email: str | None,
    display_name: str,
    expertise: str,
    role: str,
    days: float | None,
) -> None:
    """Invite USERNAME (creating the account if new) and print a one-time link."""
    from service.accounts import invites

    days = days or float(current_app.config["INVITE_DAYS"])
    try:
        with db.write_session() as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                data = {
                    "username": username,
                    "display_name": display_name,
                    "role": role,
                    "expertise": invites.split_tags(expertise),
                }
                if email:
                    data["email"] = email
                made = invites.invite_user(session=s, data=data, days=days)
            else:
                made = invites.create_invite(session=s, user=user, days=days)
            audit_cli(s, "user.invite", f"user:{made.user.id}", {"role": made.user.role})
    except DomainError as exc:
        fail(exc)
    click.echo(invites.invite_link(made.secret, _base_url()))


@users_group.command("import-csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--days", type=float, default=None, help="Days the links are valid (default INVITE_DAYS)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write username,display_name,invite_url as CSV here (default: standard output).",
)
def users_import_csv(file: Path, days: float | None, out: Path | None) -> None:
    """Add the raters of a CSV (username,email,display_name,expertise) and make invite links."""
    from service.accounts import invites

    days = days or float(current_app.config["INVITE_DAYS"])
    try:
        rows = invites.read_raters_csv(file.read_bytes())
        with db.write_session() as s:
            made = invites.import_raters(session=s, rows=rows, days=days)
            audit_cli(
                s, "user.import", "users", {"count": len(made), "ids": [m.user.id for m in made]}
            )
    except DomainError as exc:
        fail(exc)
    stream = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["username", "display_name", "invite_url"])
    for m in made:
        writer.writerow(
            [m.user.username, m.user.display_name, invites.invite_link(m.secret, _base_url())]
        )
    if out:
        stream.close()
        click.echo(f"Added {len(made)} rater(s); links written to {out}.", err=True)


@users_group.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """End USERNAME's sessions, revoke their tokens and release their leases."""
    try:
        with db.write_session() as s:
            user = users.get_user(session=s, username=username)
            counts = users.deactivate_user(session=s, user=user)
            audit_cli(s, "user.deactivate", f"user:{user.id}", counts)
    except DomainError as exc:
        fail(exc)
    click.echo(
        f"Deactivated {username}: {counts['tokens_revoked']} token(s) revoked, "
        f"{counts['leases_released']} lease(s) released."
    )


@users_group.command("activate")
@click.argument("username")
def users_activate(username: str) -> None:
    """Let a deactivated USERNAME sign in again."""
    try:
        with db.write_session() as s:
            user = users.activate_user(session=s, user=users.get_user(session=s, username=username))
            audit_cli(s, "user.activate", f"user:{user.id}")
    except DomainError as exc:
        fail(exc)
    click.echo(f"Activated {username}.")


@users_group.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(["admin", "rater", "engineer"]))
def users_role(username: str, role: str) -> None:
    """Give USERNAME a new ROLE."""
    from service.accounts import memberships

    try:
        with db.write_session() as s:
            user = users.get_user(session=s, username=username)
            memberships.set_role(session=s, user=user, role=role, actor_id=None)
    except DomainError as exc:
        fail(exc)
    click.echo(f"{username} is now {role}.")


@users_group.command("erase")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def users_erase(username: str, yes: bool) -> None:
    """Pseudonymise USERNAME everywhere (right to erasure); their judgments stay usable."""
    from service.accounts import erasure

    if not yes:
        click.confirm(f"Erase {username}'s identity for good?", abort=True)
    try:
        with db.write_session() as s:
            user = users.get_user(session=s, username=username)
            counts = erasure.erase_user(session=s, user=user, secret_key=current_app.secret_key)
            audit_cli(s, "user.erase", f"user:{user.id}", counts)
            new_name = user.username
    except DomainError as exc:
        fail(exc)
    click.echo(f"Erased {username}; now {new_name}.")


@tokens_group.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@click.option("--all", "show_all", is_flag=True, help="Include revoked and expired tokens.")
def tokens_list(username: str | None, show_all: bool) -> None:
    """List tokens: id, prefix, user, scopes, expiry, last use (never secrets)."""
    now = utcnow()
    with db.write_session() as s:
        user = users.get_user(session=s, username=username) if username else None
        names = dict(s.exec(select(User.id, User.username)).all())
        page, number = None, 1
        click.echo("id\tprefix\tuser\tscopes\texpires\tlast_used\tstate")
        while page is None or page.links()["next"]:
            page = users.page_tokens(session=s, user=user, page=number, per_page=200)
            for t in page.items:
                expired = t.expires_at is not None and t.expires_at <= now
                state = "revoked" if t.revoked_at else "expired" if expired else "live"
                if state != "live" and not show_all:
                    continue
                click.echo(
                    f"{t.id}\t{t.prefix}\t{names.get(t.user_id, t.user_id)}\t{','.join(t.scopes)}\t"
                    f"{_day(t.expires_at)}\t{_day(t.last_used_at)}\t{state}"
                )
            number += 1


def _day(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"  # type: ignore[attr-defined]


@tokens_group.command("revoke")
@click.argument("token")
def tokens_revoke(token: str) -> None:
    """Revoke TOKEN, given by its id or prefix (as `tokens list` shows)."""
    try:
        with db.write_session() as s:
            row = users.revoke_token(session=s, token=users.find_token(session=s, ref=token))
            audit_cli(s, "token.revoke", f"token:{row.id}", {"user_id": row.user_id})
    except DomainError as exc:
        fail(exc)
    click.echo(f"Revoked token {row.id} ({row.prefix}).")
