"""A rater's right to erasure: pseudonymise their identity, keep their judgments usable.

Judgments point at the user row by id, so replacing what identifies the person
(username, display name, email, password, tokens, invites, sign-in records) leaves
every judgment, agreement figure and export intact under a stable pseudonym.

The audit log keeps every event, but no event may keep the person's name: this module
is the one place that knows where the log can hold one (see ``_scrub_audit``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.errors import Conflict
from service.models import ApiToken, AuditEvent, Invite, LeaseStatus, LoginAttempt, User, utcnow
from service.rating import slots


def pseudonym(*, user_id: int, secret_key: str) -> str:
    """Return the stable, non-reversible name an erased user gets."""
    digest = hmac.new(secret_key.encode(), f"erased:{user_id}".encode(), hashlib.sha256)
    return f"erased-{digest.hexdigest()[:12]}"


def erase_user(*, session: Session, user: User, secret_key: str) -> dict[str, int]:
    """Pseudonymise ``user`` everywhere; return what was removed or rewritten."""
    if user.erased_at is not None:
        raise Conflict(f"User {user.username!r} was already erased.")
    old_name = user.username.strip().lower()
    old_email = (user.email or "").strip().lower()
    now = utcnow()
    name = pseudonym(user_id=user.id, secret_key=secret_key)
    user.username = name
    user.display_name = name
    user.email = None
    user.password_hash = None
    user.hourly_rate = None
    user.active = False
    user.session_epoch += 1
    user.erased_at = now
    session.add(user)
    counts = {
        "tokens_deleted": session.execute(
            sa.delete(ApiToken).where(ApiToken.user_id == user.id)
        ).rowcount,
        "invites_deleted": session.execute(
            sa.delete(Invite).where(Invite.user_id == user.id)
        ).rowcount,
        "login_attempts_deleted": session.execute(
            sa.delete(LoginAttempt).where(LoginAttempt.username == old_name)
        ).rowcount,
        "leases_released": len(
            slots.end_leases(
                session=session, status=LeaseStatus.RELEASED, rater_id=user.id
            ).lease_ids
        ),
        "audit_events_rewritten": _scrub_audit(
            session=session,
            user_id=user.id,
            names=[n for n in (old_name, old_email) if n],
            pseudonym=name,
        ),
    }
    session.flush()
    return counts


# Where an audit event's details can name a person (see the callers of audit.record):
# keys whose values are usernames (an export's ``raters`` filter), and free text an
# admin typed (a qualification override's ``note``). Matching by key, not anywhere, keeps
# a project, tag or model that happens to share the name from being rewritten.
NAME_KEYS = frozenset({"raters"})
FREE_TEXT_KEYS = frozenset({"note"})
# What may surround a name in free text: anything but the characters usernames are made
# of (schemas.USERNAME); a final full stop ends a sentence, not the name.
_BEFORE = r"(?<![A-Za-z0-9._@+-])"
_AFTER = r"(?![A-Za-z0-9_@+-]|\.[A-Za-z0-9_@+-])"


def _scrub_audit(*, session: Session, user_id: int, names: list[str], pseudonym: str) -> int:
    """Rewrite the audit events that name the person; return how many changed.

    Targets name people by id, except a failed sign-in under a name no account had
    yet: that becomes ``user:<id>``. Details are rewritten in place, so the event, its
    actor, time and address stay as they were.
    """
    rewritten = session.execute(
        sa.update(AuditEvent)
        .where(AuditEvent.target.in_([f"username:{n}" for n in names]))
        .values(target=f"user:{user_id}")
    ).rowcount
    text = sa.func.lower(sa.cast(AuditEvent.details, sa.Text))
    # A cheap pre-filter in the database (the JSON text mentions a name), exact in Python.
    mentions = [
        text.contains(form, autoescape=True)
        for n in names
        for form in {n, json.dumps(n)[1:-1].lower()}
    ]
    scrubber = _Scrubber.for_names(names, pseudonym)
    found = session.execute(sa.select(AuditEvent.id, AuditEvent.details).where(sa.or_(*mentions)))
    for event_id, details in found.all():
        scrubbed = scrubber.scrub(details)
        if scrubbed != details:
            session.execute(
                sa.update(AuditEvent).where(AuditEvent.id == event_id).values(details=scrubbed)
            )
            rewritten += 1
    return rewritten


@dataclass(frozen=True)
class _Scrubber:
    """Replaces a person's names (lower case) by their pseudonym in audit details."""

    names: frozenset[str]
    mention: re.Pattern[str]
    pseudonym: str

    @classmethod
    def for_names(cls, names: list[str], pseudonym: str) -> _Scrubber:
        # Longest first, so an email is replaced whole before a username inside it.
        alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
        mention = re.compile(f"{_BEFORE}(?:{alternatives}){_AFTER}", re.IGNORECASE)
        return cls(frozenset(names), mention, pseudonym)

    def scrub(self, value: Any, key: str | None = None) -> Any:
        """Return ``value`` with the names replaced under NAME_KEYS and FREE_TEXT_KEYS."""
        if isinstance(value, dict):
            return {k: self.scrub(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v, key) for v in value]
        if isinstance(value, str) and key in NAME_KEYS and value.strip().lower() in self.names:
            return self.pseudonym
        if isinstance(value, str) and key in FREE_TEXT_KEYS:
            return self.mention.sub(self.pseudonym, value)
        return value
