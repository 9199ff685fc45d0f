"""A rater's right to erasure: pseudonymise their identity, keep their judgments usable.

Judgments point at the user row by id, so replacing what identifies the person
(username, display name, email, password, tokens, invites, sign-in records) leaves
every judgment, agreement figure and export intact under a stable pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from sqlmodel import Session

from service import slots
from service.errors import Conflict
from service.models import ApiToken, AuditEvent, Invite, LoginAttempt, User, utcnow


def pseudonym(*, user_id: int, secret_key: str) -> str:
    """Return the stable, non-reversible name an erased user gets."""
    digest = hmac.new(secret_key.encode(), f"erased:{user_id}".encode(), hashlib.sha256)
    return f"erased-{digest.hexdigest()[:12]}"


def erase_user(*, session: Session, user: User, secret_key: str) -> dict[str, int]:
    """Pseudonymise ``user`` everywhere; return what was removed or rewritten."""
    if user.erased_at is not None:
        raise Conflict(f"User {user.username!r} was already erased.")
    old_name = user.username.strip().lower()
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
            slots.end_leases(session=session, status="released", rater_id=user.id).lease_ids
        ),
        # Failed sign-ins under the typed name (before the account was known) name the person.
        "audit_events_rewritten": session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.target == f"username:{old_name}")
            .values(target=f"user:{user.id}")
        ).rowcount,
    }
    session.flush()
    return counts
