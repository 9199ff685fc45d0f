"""Drive the assignment domain as raters do, for tests."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from service import db
from service.models import Assignment, Project, User, utcnow
from service.rating import assignment, judgments, leases


class Desk:
    """Drive the assignment domain as raters do, one short transaction per call."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def next(self, project: Project, rater: User) -> Assignment | assignment.NoWork:
        with self.app.app_context(), db.write_session() as s:
            return assignment.next_assignment(
                session=s, project=s.get(Project, project.id), rater=s.get(User, rater.id)
            )

    def submit(self, lease: Assignment, rater: User, verdict: dict[str, Any] | None = None) -> Any:
        payload = {"client_id": uuid.uuid4().hex, "verdict": verdict or {"choice": "A"}}
        with self.app.app_context(), db.write_session() as s:
            judgment, _ = judgments.record_judgment(
                session=s, assignment_id=lease.id, rater=s.get(User, rater.id), payload=payload
            )
            return judgment

    def skip(self, lease: Assignment, rater: User, reason: str = "broken") -> None:
        with self.app.app_context(), db.write_session() as s:
            locked = leases.lock_assignment(
                session=s, assignment_id=lease.id, rater=s.get(User, rater.id)
            )
            leases.skip(session=s, lease=locked, reason=reason)

    def rows(self, model: Any, *where: Any) -> list[Any]:
        with self.app.app_context():
            s = db.session()
            return list(s.exec(select(model).where(*where)))

    def expire(self, lease_id: int) -> None:
        """Travel in time: make a lease's expiry lie in the past."""
        with self.app.app_context(), db.write_session() as s:
            s.execute(
                sa.update(Assignment)
                .where(Assignment.id == lease_id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
