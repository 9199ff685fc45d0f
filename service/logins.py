"""Sign-in attempts: throttled per account and per address, and audited.

Attempts live in the database (not process memory), so every gunicorn worker and
every host counts the same failures.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from service import accounts, audit
from service.errors import TooManyRequests, Unauthorized
from service.models import LoginAttempt, User, utcnow

# Attempts older than this are deleted as new failures arrive.
_KEEP = timedelta(days=1)
# First keys of the PostgreSQL advisory locks that serialise attempts (see _lock).
_ACCOUNT_LOCKS, _ADDRESS_LOCKS = 0x4C41, 0x4C42


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


def _lock(session: Session, key: str, address: str) -> None:
    """Serialise attempts on one account, and on one address, until the transaction ends.

    On SQLite the write transaction (BEGIN IMMEDIATE) already runs alone. Accounts are
    always locked before addresses, so two attempts never wait on each other in a cycle.
    """
    if session.get_bind().dialect.name == "sqlite":
        return
    for space, value in ((_ACCOUNT_LOCKS, key), (_ADDRESS_LOCKS, address)):
        # A stable 32-bit key (PostgreSQL's advisory locks take two int4 keys).
        lock_key = zlib.crc32(value.encode()) - 2**31
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(space, lock_key)))


def _audit(session: Session, username: str, address: str, user: User | None, ok: bool) -> None:
    audit.record(
        session=session,
        actor_id=user.id if user else None,
        action="login" if ok else "login.failed",
        # Name the account by id when it exists; an unknown name is kept as typed.
        target=f"user:{user.id}" if user else f"username:{_key(username)}",
        address=address,
    )


def attempt_sign_in(
    *,
    begin: Callable[[], AbstractContextManager[Session]],
    username: str,
    password: str,
    address: str,
    limits: Limits,
) -> User:
    """Check the throttle, then the password; record the attempt either way.

    ``begin`` opens a short write transaction (``db.write_session``); two are used, so
    the password is checked (scrypt, tens of milliseconds) while no lock is held. The
    attempt is recorded as a failure, under a lock, before the password is checked:
    parallel guesses each take one of the throttle's places, so no burst of requests
    gets more guesses than the limit. A right password then turns it into a success.

    Raises TooManyRequests (nothing recorded) or Unauthorized (the failure recorded).
    """
    key = _key(username)
    address = address[:64]
    with begin() as s:
        _lock(s, key, address)
        check_allowed(session=s, username=username, address=address, limits=limits)
        attempt = LoginAttempt(username=key, address=address, succeeded=False)
        s.add(attempt)
        same = sa.func.lower(User.username) == key
        known = s.exec(select(User).where(same)).first()
        s.flush()
    try:
        # The account is looked up by exact name; the case-insensitive match above only
        # names the account in the audit log.
        user = accounts.verify_password(
            known if known is not None and known.username == username else None, password
        )
    except Unauthorized:
        with begin() as s:
            s.execute(sa.delete(LoginAttempt).where(LoginAttempt.created_at < utcnow() - _KEEP))
            _audit(s, username, address, known, ok=False)
        raise
    with begin() as s:
        s.execute(
            sa.update(LoginAttempt).where(LoginAttempt.id == attempt.id).values(succeeded=True)
        )
        _audit(s, username, address, user, ok=True)
    return user
