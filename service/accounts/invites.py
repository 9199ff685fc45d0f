"""Invitations: one-time, expiring links with which people set their own password.

Inviting creates the account without a password; bulk-adding raters from a CSV
invites each of them. The secret in a link is shown once and stored only hashed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlmodel import Session, select

from service.accounts import users
from service.errors import Conflict, Gone, InvalidInput, NotFound
from service.models import Invite, User, utcnow
from service.schemas import NewUserSchema, flatten_messages

CSV_COLUMNS = ("username", "email", "display_name", "expertise")
MAX_CSV_ROWS = 5000
_TAG_SEPARATORS = (";", "|", ",")


@dataclass(frozen=True)
class Invitation:
    """A user, their invite, and the link secret (shown once, never stored)."""

    user: User
    invite: Invite
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_invite(
    *, session: Session, user: User, created_by: int | None = None, days: float = 7
) -> Invitation:
    """Issue a new link for ``user`` (earlier unused links stop working)."""
    if not user.active:
        raise Conflict(f"User {user.username!r} is deactivated; activate them first.")
    if days <= 0 or days > 90:
        raise InvalidInput("days must be more than 0 and at most 90.")
    now = utcnow()
    session.execute(
        sa.update(Invite)
        .where(Invite.user_id == user.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    secret = secrets.token_urlsafe(32)
    invite = Invite(
        user_id=user.id,
        token_hash=_digest(secret),
        created_by=created_by,
        expires_at=now + timedelta(days=days),
    )
    session.add(invite)
    session.flush()
    return Invitation(user=user, invite=invite, secret=secret)


def _load_user(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return NewUserSchema().load(data)
    except ValidationError as exc:
        errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages)]
        raise InvalidInput("Invalid user.", errors=errors) from exc


def invite_user(
    *, session: Session, data: dict[str, Any], created_by: int | None = None, days: float = 7
) -> Invitation:
    """Create an account without a password from ``data`` and invite its owner."""
    values = _load_user(data)
    user = users.create_user(session=session, **values)
    return create_invite(session=session, user=user, created_by=created_by, days=days)


def find_invite(*, session: Session, secret: str) -> Invite:
    """Return the usable invite behind a link, or say why it cannot be used."""
    invite = session.exec(select(Invite).where(Invite.token_hash == _digest(secret))).first()
    if invite is None:
        raise NotFound("This invite link is not valid. Ask your admin for a new one.")
    if invite.used_at is not None:
        raise Gone("This invite link was already used. Sign in, or ask for a new one.")
    if invite.revoked_at is not None:
        raise Gone("This invite link was replaced or withdrawn. Ask your admin for a new one.")
    if invite.expires_at <= utcnow():
        raise Gone("This invite link has expired. Ask your admin for a new one.")
    user = session.get(User, invite.user_id)
    if user is None or not user.active:
        raise Gone("This account is deactivated.")
    return invite


def accept_invite(*, session: Session, secret: str, password: str) -> User:
    """Set the invited user's password and use up the link."""
    invite = find_invite(session=session, secret=secret)
    user = session.get(User, invite.user_id)
    assert user is not None  # find_invite checked
    users.check_password(password, username=user.username)  # a refused one keeps the link
    # Use the link up in one conditional statement: of simultaneous accepts, PostgreSQL
    # lets one update the row and re-checks the others' condition once it commits, so
    # exactly one sets a password and signs in (a read-then-write let each of them).
    used = session.execute(
        sa.update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    if used != 1:
        raise Gone("This invite link was already used. Sign in, or ask for a new one.")
    users.set_password(session=session, user=user, password=password)
    session.refresh(invite)
    session.flush()
    return user


def split_tags(text: str) -> list[str]:
    """Split expertise tags written as "a; b", "a|b" or "a, b"."""
    for sep in _TAG_SEPARATORS:
        if sep in text:
            return [t for t in text.split(sep) if t.strip()]
    return [text] if text.strip() else []


def read_raters_csv(data: bytes | str) -> list[tuple[int, dict[str, Any]]]:
    """Parse a raters CSV (header: username, email, display_name, expertise) into rows."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"The CSV is not valid UTF-8 (byte {exc.start}).") from exc
    try:
        reader = csv.DictReader(io.StringIO(data, newline=""))
        header = [(h or "").strip().lower() for h in reader.fieldnames or []]
        unknown = sorted(set(header) - set(CSV_COLUMNS) - {""})
        if unknown or not {"username", "email"} & set(header):
            raise InvalidInput(
                f"CSV header must name columns among {', '.join(CSV_COLUMNS)} "
                f"(username or email required); unknown: {', '.join(unknown) or 'none'}."
            )
        reader.fieldnames = header
        rows = []
        for record in reader:
            if len(rows) >= MAX_CSV_ROWS:
                raise InvalidInput(f"At most {MAX_CSV_ROWS} raters per CSV; split the file.")
            values = {k: (v or "").strip() for k, v in record.items() if k in CSV_COLUMNS}
            if not any(values.values()):
                continue
            row: dict[str, Any] = {k: v for k, v in values.items() if v}
            row["expertise"] = split_tags(values.get("expertise", ""))
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise InvalidInput(f"The CSV cannot be read: {exc}.") from exc
    return rows


def import_raters(
    *,
    session: Session,
    rows: list[tuple[int, dict[str, Any]]],
    created_by: int | None = None,
    days: float = 7,
) -> list[Invitation]:
    """Create and invite every rater of ``rows``; all or nothing, every bad line reported."""
    errors: list[dict[str, Any]] = []
    loaded: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, row in rows:
        try:
            values = NewUserSchema().load({**row, "role": "rater"})
        except ValidationError as exc:
            errors += [
                {"line": line, "field": f, "message": m} for f, m in flatten_messages(exc.messages)
            ]
            continue
        if values["username"].lower() in seen:
            errors.append({"line": line, "field": "username", "message": "repeated in this file"})
        seen.add(values["username"].lower())
        loaded.append({**values, "line": line})
    taken = {
        u.lower()
        for u in session.exec(
            select(User.username).where(sa.func.lower(User.username).in_(list(seen)))
        )
    }
    errors += [
        {"line": v["line"], "field": "username", "message": f"{v['username']!r} already exists"}
        for v in loaded
        if v["username"].lower() in taken
    ]
    if errors:
        errors.sort(key=lambda e: e["line"])
        raise InvalidInput(f"{len(errors)} problem(s) in the CSV; nobody was added.", errors=errors)
    if not loaded:
        raise InvalidInput("The CSV lists no raters.")
    out = []
    for values in loaded:
        values.pop("line")
        user = users.create_user(session=session, **values)
        out.append(create_invite(session=session, user=user, created_by=created_by, days=days))
    return out


def invite_link(secret: str, base_url: str) -> str:
    """Return the page address where the invited person sets their password."""
    return f"{base_url.rstrip('/')}/invite/{secret}"
