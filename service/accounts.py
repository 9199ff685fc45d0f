"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from service.errors import Conflict, InvalidInput, NotFound, Unauthorized
from service.models import ApiToken, Role, User, utcnow

TOKEN_SCOPES = ("export", "stats", "import", "admin")
_DUMMY_HASH = generate_password_hash("rankroom-timing-equaliser", method="scrypt")


def hash_password(password: str) -> str:
    """Hash a password with scrypt (memory-hard KDF)."""
    return generate_password_hash(password, method="scrypt")


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
    if not username:
        raise InvalidInput("Username must not be empty.")
    if session.exec(select(User).where(User.username == username)).first():
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


def authenticate(*, session: Session, username: str, password: str) -> User:
    """Return the active user whose password matches, or raise Unauthorized."""
    user = session.exec(select(User).where(User.username == username)).first()
    # Hash even when the user is unknown, so timing does not reveal which usernames exist.
    stored = user.password_hash if user and user.password_hash else _DUMMY_HASH
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


def resolve_token(*, session: Session, secret: str) -> tuple[User, ApiToken]:
    """Return the user and token for a bearer secret; refuse revoked, expired or unknown ones."""
    token = session.exec(
        select(ApiToken).where(ApiToken.token_hash == _token_digest(secret))
    ).first()
    if token is None:
        raise Unauthorized("Unknown API token.")
    now = utcnow()
    if token.revoked_at is not None:
        raise Unauthorized("This API token was revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthorized("This API token has expired.")
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthorized("The API token's user is deactivated.")
    return user, token


def touch_token(*, session: Session, token: ApiToken) -> None:
    """Record when a token was last used (at most once a minute, to spare the database)."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < timedelta(minutes=1):
        return
    session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    token.last_used_at = now
