"""Sign-in attempts: throttled per account and per address, and audited.

Attempts live in the database (not process memory), so every gunicorn worker and
every host counts the same failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from service import accounts, audit
from service.errors import TooManyRequests, Unauthorized
from service.models import LoginAttempt, User, utcnow

# Attempts older than this are deleted as new failures arrive.
_KEEP = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    """How many failures within ``window`` an account or an address may have."""

    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: dict) -> Limits:
        """Read the LOGIN_* settings."""
        return cls(
            per_account=int(config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]),
            per_address=int(config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
            window=timedelta(minutes=float(config["LOGIN_WINDOW_MINUTES"])),
        )


def _key(username: str) -> str:
    return username.strip().lower()[:120]


def _failures(session: Session, column: sa.ColumnElement, value: str, since: datetime) -> list:
    query = (
        select(LoginAttempt.created_at)
        .where(column == value, LoginAttempt.created_at >= since)
        .where(LoginAttempt.succeeded == sa.false())
        .order_by(LoginAttempt.created_at)
    )
    return list(session.exec(query))


def check_allowed(
    *, session: Session, username: str, address: str, limits: Limits, now: datetime | None = None
) -> None:
    """Raise TooManyRequests (with seconds to wait) when the account or address is throttled."""
    now = now or utcnow()
    since = now - limits.window
    key = _key(username)
    # A success resets the account's count (but not the address's).
    last_ok = session.exec(
        select(sa.func.max(LoginAttempt.created_at)).where(
            LoginAttempt.username == key, LoginAttempt.succeeded == sa.true()
        )
    ).one()
    account_since = max(since, last_ok) if last_ok else since
    for failures, limit, what in (
        (
            _failures(session, LoginAttempt.username, key, account_since),
            limits.per_account,
            "account",
        ),
        (_failures(session, LoginAttempt.address, address, since), limits.per_address, "address"),
    ):
        if len(failures) >= limit:
            # Free again when enough of the counted failures have aged out of the window.
            frees_at = failures[len(failures) - limit] + limits.window
            wait = math.ceil((frees_at - now).total_seconds())
            raise TooManyRequests(
                f"Too many failed sign-ins for this {what}. Try again in {_minutes(wait)}.",
                retry_after=wait,
            )


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def record_attempt(
    *, session: Session, username: str, address: str, succeeded: bool, user: User | None = None
) -> None:
    """Remember one attempt, and log it in the audit log."""
    now = utcnow()
    session.add(LoginAttempt(username=_key(username), address=address[:64], succeeded=succeeded))
    if not succeeded:
        session.execute(sa.delete(LoginAttempt).where(LoginAttempt.created_at < now - _KEEP))
    audit.record(
        session=session,
        actor_id=user.id if user else None,
        action="login" if succeeded else "login.failed",
        # Name the account by id when it exists; an unknown name is kept as typed.
        target=f"user:{user.id}" if user else f"username:{_key(username)}",
        address=address,
    )


def attempt_sign_in(
    *, session: Session, username: str, password: str, address: str, limits: Limits
) -> User:
    """Check the throttle, then the password; record the attempt either way.

    Raises TooManyRequests (nothing recorded) or Unauthorized (failure recorded:
    the caller commits before reporting it).
    """
    check_allowed(session=session, username=username, address=address, limits=limits)
    try:
        user = accounts.authenticate(session=session, username=username, password=password)
    except Unauthorized:
        same = sa.func.lower(User.username) == _key(username)
        known = session.exec(select(User).where(same)).first()
        record_attempt(
            session=session, username=username, address=address, succeeded=False, user=known
        )
        raise
    record_attempt(session=session, username=username, address=address, succeeded=True, user=user)
    return user
