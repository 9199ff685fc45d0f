"""Users, passwords and API tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from service.errors import Conflict, InvalidInput, NotFound, Unauthorized
from service.models import ApiToken, Invite, LeaseStatus, Role, User, as_loaded, utcnow
from service.paging import Page, paginate
from service.rating import slots
from service.schemas import USERNAME, USERNAME_RULE

TOKEN_SCOPES = ("export", "stats", "import", "admin")
# Werkzeug's scrypt (n=2**15, r=8: 32 MiB and ~0.1 s a hash). Not a setting: only the
# test suite lowers it (tests/conftest.py), where hundreds of users are hashed. A hash
# records its own parameters, so checks follow whatever cost it was made with.
PASSWORD_METHOD = "scrypt"


def hash_password(password: str) -> str:
    """Hash a password with scrypt (memory-hard KDF)."""
    return generate_password_hash(password, method=PASSWORD_METHOD)


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash as costly to check as a real one, for sign-ins of unknown usernames."""
    return generate_password_hash("rankroom-timing-equaliser", method=method)


def create_user(
    *,
    session: Session,
    username: str,
    role: str = Role.RATER.value,
    password: str | None = None,
    display_name: str = "",
    email: str | None = None,
    expertise: Iterable[str] = (),
) -> User:
    """Create a user; refuse a taken username or an unknown role."""
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"Unknown role {role!r}; use admin, rater or engineer.")
    username = username.strip()
    if not USERNAME.match(username):
        # The same rule as the API's and the pages' forms: every way in creates the same users.
        raise InvalidInput(
            f"Username {username!r} is not valid: {USERNAME_RULE}.",
            errors=[{"field": "username", "message": USERNAME_RULE}],
        )
    # Case-insensitively, so "Alice" cannot sit beside "alice" and pass for her.
    same = sa.func.lower(User.username) == username.lower()
    if session.exec(select(User).where(same)).first():
        raise Conflict(f"User {username!r} already exists.")
    user = User(
        username=username,
        role=role,
        display_name=display_name or username,
        email=email,
        expertise=sorted({e.strip().lower() for e in expertise if e.strip()}),
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    return user


def get_user(*, session: Session, username: str) -> User:
    """Return the user with this username or raise NotFound."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"No user {username!r}.")
    return user


def verify_password(user: User | None, password: str) -> User:
    """Return ``user`` when active and ``password`` is theirs, or raise Unauthorized.

    Slow by design (scrypt): call it outside any database transaction.
    """
    # Hash even when the user is unknown, so timing does not reveal which usernames exist.
    stored = user.password_hash if user and user.password_hash else _dummy_hash(PASSWORD_METHOD)
    ok = check_password_hash(stored, password)
    if not ok or user is None or not user.active or not user.password_hash:
        raise Unauthorized("Wrong username or password.")
    return user


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    *,
    session: Session,
    user: User,
    scopes: Iterable[str],
    name: str = "",
    expires_in_days: int | None = 90,
) -> tuple[ApiToken, str]:
    """Create an API token; return the row and the secret, which is shown once only."""
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in TOKEN_SCOPES]
    if unknown:
        raise InvalidInput(f"Unknown scope(s) {', '.join(unknown)}; use {', '.join(TOKEN_SCOPES)}.")
    secret = "rr_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=_token_digest(secret),
        prefix=secret[:10],
        scopes=scopes,
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    return token, secret


_TOKENS, _USERS = ApiToken.__table__, User.__table__
# A bearer request's one read: the token by its digest and its owner, built once (as the
# cookie's user lookup is). The owner's columns are labelled ``owner_<name>``.
_TOKEN_AND_OWNER = (
    sa.select(*_TOKENS.c, *(c.label(f"owner_{c.name}") for c in _USERS.c))
    .select_from(_TOKENS.outerjoin(_USERS, _USERS.c.id == _TOKENS.c.user_id))
    .where(_TOKENS.c.token_hash == sa.bindparam("b_hash"))
)
# How stale ``last_used_at`` may get: refreshing it is a write, which on SQLite would
# take the write lock on every API call.
TOUCH_EVERY = timedelta(minutes=1)


def resolve_token(
    secret: str, *, lookup: Callable[[sa.Executable, dict[str, Any]], sa.Row | None]
) -> tuple[User, ApiToken]:
    """Return the user and token for a bearer secret; refuse revoked, expired or unknown ones.

    ``lookup`` runs one statement and returns its first row (``db.lookup`` in a request):
    resolving a token writes nothing (``touch_token`` does, once a minute at most).
    """
    row = lookup(_TOKEN_AND_OWNER, {"b_hash": _token_digest(secret)})
    if row is None:
        raise Unauthorized("Unknown API token.")
    values = row._mapping
    token = as_loaded(ApiToken, {c.name: values[c.name] for c in _TOKENS.c})
    if token.revoked_at is not None:
        raise Unauthorized("This API token was revoked.")
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise Unauthorized("This API token has expired.")
    if values["owner_id"] is None or not values["owner_active"]:
        raise Unauthorized("The API token's user is deactivated.")
    user = as_loaded(User, {c.name: values[f"owner_{c.name}"] for c in _USERS.c})
    return user, token


def token_stale(token: ApiToken) -> bool:
    """Whether the record of when ``token`` was last used is due a refresh."""
    return token.last_used_at is None or utcnow() - token.last_used_at >= TOUCH_EVERY


def touch_token(*, session: Session, token: ApiToken) -> None:
    """Record that ``token`` was used now."""
    now = utcnow()
    session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    token.last_used_at = now


MIN_PASSWORD = 10
MAX_PASSWORD = 1024


def check_password(password: str, *, username: str = "") -> None:
    """Refuse a password that is too short, too long or the username itself."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"Password must have at least {MIN_PASSWORD} characters.",
            errors=[{"field": "password", "message": f"at least {MIN_PASSWORD} characters"}],
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"Password must have at most {MAX_PASSWORD} characters.",
            errors=[{"field": "password", "message": f"at most {MAX_PASSWORD} characters"}],
        )
    if username and password.strip().lower() == username.strip().lower():
        raise InvalidInput(
            "Password must not be the username.",
            errors=[{"field": "password", "message": "must not be the username"}],
        )


def set_password(*, session: Session, user: User, password: str) -> User:
    """Set a new password and end the user's other sessions."""
    check_password(password, username=user.username)
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    session.add(user)
    session.flush()
    return user


def page_users(
    *,
    session: Session,
    page: int = 1,
    per_page: int = 50,
    role: str | None = None,
    active: bool | None = None,
) -> Page[User]:
    """Return one page of users, oldest first, optionally of one role or activity."""
    query = select(User)
    if role:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(User.active == active)
    return paginate(session=session, query=query.order_by(User.id), page=page, per_page=per_page)


def deactivate_user(*, session: Session, user: User) -> dict[str, int]:
    """End a user's sessions, revoke their tokens and release their leases; keep judgments."""
    now = utcnow()
    user.active = False
    user.session_epoch += 1
    session.add(user)
    tokens = session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    leases = len(
        slots.end_leases(session=session, status=LeaseStatus.RELEASED, rater_id=user.id).lease_ids
    )
    invites = session.execute(
        sa.update(Invite)
        .where(Invite.user_id == user.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    session.flush()
    return {"tokens_revoked": tokens, "leases_released": leases, "invites_revoked": invites}


def activate_user(*, session: Session, user: User) -> User:
    """Let a deactivated user sign in again (erased users stay out)."""
    if user.erased_at is not None:
        raise Conflict(f"User {user.username!r} was erased and cannot be reactivated.")
    user.active = True
    session.add(user)
    session.flush()
    return user


def page_tokens(
    *, session: Session, page: int = 1, per_page: int = 50, user: User | None = None
) -> Page[ApiToken]:
    """Return one page of API tokens, newest first, optionally of one user."""
    query = select(ApiToken)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    query = query.order_by(ApiToken.id.desc())
    return paginate(session=session, query=query, page=page, per_page=per_page)


def get_token(*, session: Session, token_id: int) -> ApiToken:
    """Return the token with this id or raise NotFound."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No API token {token_id}.")
    return token


def find_token(*, session: Session, ref: str) -> ApiToken:
    """Return the token named by its id or its prefix (as `tokens list` shows it)."""
    if ref.isdigit():
        return get_token(session=session, token_id=int(ref))
    matches = list(session.exec(select(ApiToken).where(ApiToken.prefix == ref)).all())
    if len(matches) != 1:
        raise NotFound(f"No single API token with prefix {ref!r}; give its id instead.")
    return matches[0]


def revoke_token(*, session: Session, token: ApiToken) -> ApiToken:
    """Revoke a token from now on (revoking twice keeps the first time)."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        session.flush()
    return token
