"""Project teams and roles: add or remove a rater, give project-specific expertise, set roles.

The rule of who may rate lives in ``service.projects.members``; this module writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from service import audit
from service.errors import Conflict, InvalidInput
from service.models import Assignment, LeaseStatus, Project, ProjectMember, Role, User, utcnow
from service.rating import assignment, slots


@dataclass(frozen=True)
class Member:
    """A rater as a project's team sees them."""

    user: User
    active: bool
    expertise: list[str] | None


def _tags(expertise: Iterable[str] | None) -> list[str] | None:
    if expertise is None:
        return None
    return sorted({e.strip().lower() for e in expertise if e.strip()})


def _row(session: Session, project: Project, user: User) -> ProjectMember | None:
    return session.exec(
        select(ProjectMember).where(
            ProjectMember.project_id == project.id, ProjectMember.user_id == user.id
        )
    ).first()


def add_member(
    *,
    session: Session,
    project: Project,
    user: User,
    actor_id: int | None,
    expertise: Iterable[str] | None = None,
) -> ProjectMember:
    """Put a rater on the project's team (again), with project-specific expertise or None."""
    if user.role != Role.RATER.value:
        raise InvalidInput(
            f"{user.username!r} is {user.role}; only raters join a project's team.",
            errors=[{"field": "username", "message": "not a rater"}],
        )
    if user.erased_at is not None:
        raise Conflict(f"User {user.username!r} was erased.")
    row = _row(session, project, user) or ProjectMember(project_id=project.id, user_id=user.id)
    row.active, row.expertise, row.updated_at = True, _tags(expertise), utcnow()
    session.add(row)
    audit.record(
        session=session,
        actor_id=actor_id,
        action="project.member.add",
        target=f"project:{project.slug}/rater:{user.id}",
        details={"expertise": row.expertise},
    )
    session.flush()
    return row


def remove_member(*, session: Session, project: Project, user: User, actor_id: int | None) -> int:
    """Take a rater off the project: no more work there, their leases released.

    Returns how many leases were released. Their judgments stay.
    """
    # Wait for the rater's own request for work, if one is running: otherwise it could
    # lease an item after the removal, having checked membership before it.
    assignment.lock_rater(session=session, rater=user)
    row = _row(session, project, user) or ProjectMember(project_id=project.id, user_id=user.id)
    row.active, row.updated_at = False, utcnow()
    session.add(row)
    session.flush()
    held = session.execute(
        sa.select(Assignment.id).where(
            Assignment.project_id == project.id,
            Assignment.rater_id == user.id,
            Assignment.status == LeaseStatus.ACTIVE,
        )
    ).scalars()
    released = len(
        slots.end_leases(session=session, status=LeaseStatus.RELEASED, ids=list(held)).lease_ids
    )
    audit.record(
        session=session,
        actor_id=actor_id,
        action="project.member.remove",
        target=f"project:{project.slug}/rater:{user.id}",
        details={"leases_released": released},
    )
    return released


def members_of(*, session: Session, project: Project) -> list[Member]:
    """Return the project's team rows (active and removed), by username."""
    query = (
        sa.select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project.id)
        .order_by(User.username)
    )
    return [
        Member(user=u, active=m.active, expertise=m.expertise) for m, u in session.execute(query)
    ]


def memberships_of(*, session: Session, user: User) -> dict[int, ProjectMember]:
    """Return the user's membership rows by project id."""
    rows = session.exec(select(ProjectMember).where(ProjectMember.user_id == user.id))
    return {m.project_id: m for m in rows}


def set_role(*, session: Session, user: User, role: str, actor_id: int | None) -> User:
    """Change a user's role; an admin cannot change their own (someone must stay admin)."""
    if role not in {r.value for r in Role}:
        raise InvalidInput(
            f"Unknown role {role!r}; use admin, rater or engineer.",
            errors=[{"field": "role", "message": "one of admin, rater, engineer"}],
        )
    if user.id == actor_id and role != user.role:
        raise Conflict("You cannot change your own role.")
    if user.erased_at is not None:
        raise Conflict(f"User {user.username!r} was erased.")
    before = user.role
    if before != role:
        user.role = role
        session.add(user)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="user.role",
            target=f"user:{user.id}",
            details={"from": before, "to": role},
        )
        session.flush()
    return user
