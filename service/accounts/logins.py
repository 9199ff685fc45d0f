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

from service import audit
from service.accounts import users
from service.errors import TooManyRequests, Unauthorized
from service.models import LoginAttempt, User, utcnow

# Failures older than this are deleted as new failures arrive.
_KEEP = timedelta(days=1)
# First keys of the PostgreSQL advisory locks that serialise attempts (see _lock).
_ACCOUNT_LOCKS, _ADDRESS_LOCKS = 0x4C41, 0x4C42


@dataclass(frozen=True)
class Limits:
    """When failed sign-ins start to cost a wait, and how long the wait grows.

    ``per_account`` failures on an account within ``window`` are free; each further one
    doubles the wait before the next attempt, from ``first_delay`` up to ``window``. An
    address that signed in to the account within ``trusted`` counts only its own
    failures there, so guesses from elsewhere never keep the owner out (OWASP ASVS
    2.2.1: throttle, do not lock an account for anyone who knows its name).
    ``per_address`` failures from one address, over all accounts, refuse that address
    until they age out of the window.
    """

    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    first_delay: timedelta = timedelta(seconds=30)
    trusted: timedelta = timedelta(days=30)

    @classmethod
    def from_config(cls, config: dict) -> Limits:
        """Read the LOGIN_* settings."""
        return cls(
            per_account=int(config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]),
            per_address=int(config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
            window=timedelta(minutes=float(config["LOGIN_WINDOW_MINUTES"])),
            first_delay=timedelta(seconds=float(config["LOGIN_FIRST_DELAY_SECONDS"])),
            trusted=timedelta(days=float(config["LOGIN_TRUSTED_DAYS"])),
        )

    def account_wait(self, failures: int) -> timedelta:
        """Return the wait after the latest of ``failures`` counted failures on an account."""
        if failures < self.per_account:
            return timedelta(0)
        doublings = min(failures - self.per_account, 32)
        return min(self.first_delay * 2**doublings, self.window)


def _key(username: str) -> str:
    return username.strip().lower()[:120]


def _failures(session: Session, since: datetime, *where: sa.ColumnElement[bool]) -> list:
    query = (
        select(LoginAttempt.created_at)
        .where(*where, LoginAttempt.created_at >= since)
        .where(LoginAttempt.succeeded == sa.false())
        .order_by(LoginAttempt.created_at)
    )
    return list(session.exec(query))


def _last_success(session: Session, *where: sa.ColumnElement[bool]) -> datetime | None:
    query = select(sa.func.max(LoginAttempt.created_at)).where(
        *where, LoginAttempt.succeeded == sa.true()
    )
    return session.exec(query).one()


def check_allowed(
    *, session: Session, username: str, address: str, limits: Limits, now: datetime | None = None
) -> None:
    """Raise TooManyRequests (with seconds to wait) when the account or address is throttled."""
    now = now or utcnow()
    since = now - limits.window
    key = _key(username)
    mine = LoginAttempt.username == key
    here = LoginAttempt.address == address
    from_here = _last_success(session, mine, here)
    trusted = from_here is not None and from_here >= now - limits.trusted
    # A success resets the count for its own address only: the owner signing in from
    # home must not hand a guesser elsewhere a fresh set of free failures.
    account_since = max(since, from_here) if from_here else since
    failures = _failures(session, account_since, mine, *([here] if trusted else []))
    delay = limits.account_wait(len(failures))
    wait = failures[-1] + delay - now if delay else timedelta(0)
    if wait > timedelta(0):
        seconds = math.ceil(wait.total_seconds())
        raise TooManyRequests(
            f"Too many failed sign-ins for this account. Try again in {_duration(seconds)}.",
            retry_after=seconds,
        )
    by_address = _failures(session, since, here)
    if len(by_address) >= limits.per_address:
        # Free again when enough of the counted failures have aged out of the window.
        frees_at = by_address[len(by_address) - limits.per_address] + limits.window
        seconds = math.ceil((frees_at - now).total_seconds())
        raise TooManyRequests(
            f"Too many failed sign-ins for this address. Try again in {_duration(seconds)}.",
            retry_after=seconds,
        )


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
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
        user = users.verify_password(
            known if known is not None and known.username == username else None, password
        )
    except Unauthorized:
        with begin() as s:
            old = utcnow() - _KEEP
            # Successes are kept as long as they make their address trusted.
            stale = sa.or_(
                sa.and_(LoginAttempt.created_at < old, LoginAttempt.succeeded == sa.false()),
                LoginAttempt.created_at < utcnow() - limits.trusted,
            )
            s.execute(sa.delete(LoginAttempt).where(stale))
            _audit(s, username, address, known, ok=False)
        raise
    with begin() as s:
        s.execute(
            sa.update(LoginAttempt).where(LoginAttempt.id == attempt.id).values(succeeded=True)
        )
        _audit(s, username, address, user, ok=True)
    return user
