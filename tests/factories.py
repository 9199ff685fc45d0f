"""Test data built through the same domain functions the service uses."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from service import db
from service.accounts import users
from service.items import importing
from service.models import ApiToken, Item, Judgment, Project, User, utcnow
from service.projects import projects
from service.rating import slots
from service.rating.shown import of_item as shown_of_item

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def item_row(ext_id: str | None = None, n_responses: int = 2, **overrides: Any) -> dict[str, Any]:
    """Return a valid native import row."""
    ext_id = ext_id or f"item-{next(_counter)}"
    row: dict[str, Any] = {
        "id": ext_id,
        "prompt": f"Question {ext_id}?",
        "responses": [
            {"id": chr(ord("a") + i), "model": f"model-{i}", "content": f"Answer {i} to {ext_id}."}
            for i in range(n_responses)
        ],
    }
    row.update(overrides)
    return row


class Factory:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def user(self, role: str = "rater", username: str | None = None, **kwargs: Any) -> User:
        with self.app.app_context(), db.write_session() as s:
            return users.create_user(
                session=s,
                username=username or f"{role}{next(_counter)}",
                role=role,
                password=PASSWORD,
                **kwargs,
            )

    def token(self, user: User, scopes: list[str], **kwargs: Any) -> tuple[ApiToken, str]:
        with self.app.app_context(), db.write_session() as s:
            return users.create_token(session=s, user=s.get(User, user.id), scopes=scopes, **kwargs)

    def project(self, slug: str | None = None, **data: Any) -> Project:
        data.setdefault("name", "Test project")
        with self.app.app_context(), db.write_session() as s:
            return projects.create_project(
                session=s, data={"slug": slug or f"p{next(_counter)}", **data}
            )

    def items(self, project: Project, rows: list[dict[str, Any]]) -> list[Item]:
        with self.app.app_context():
            result = importing.import_items(
                engine=db.engine(),
                project=project,
                rows=list(enumerate(rows, start=1)),
                source="factory",
            )
            assert result.error_count == 0, result.errors
            from sqlmodel import select

            with db.write_session() as s:
                return list(
                    s.exec(select(Item).where(Item.batch_id == result.batch_id).order_by(Item.id))
                )

    def judgment(
        self,
        item: Item,
        rater: User,
        *,
        mode: str = "pairwise",
        shown: list[str] | None = None,
        preferred: str | None = None,
        strength: int | None = None,
        scale_value: int | None = None,
        ranking: list[list[str]] | None = None,
        rubric: dict[str, Any] | None = None,
        supersedes: Judgment | None = None,
        created_at: datetime | None = None,
        **fields: Any,
    ) -> Judgment:
        """Insert one judgment row in the stored shape (until record_judgment lands)."""
        if mode == "pairwise":
            verdict: dict[str, Any] = {
                "preferred": preferred,
                "strength": strength,
                "scale_value": scale_value,
            }
        elif mode == "ranking":
            verdict = {"ranking": ranking or []}
            shown = shown or [r for group in ranking or [] for r in group]
        else:
            verdict = {}
        row = Judgment(
            client_id=uuid.uuid4().hex,
            project_id=item.project_id,
            item_id=item.id,
            rater_id=rater.id,
            mode=mode,
            shown_order=shown or ["a", "b"],
            verdict=verdict,
            rubric=rubric or {"response": {}, "item": {}},
            supersedes_id=supersedes.id if supersedes else None,
            version=supersedes.version + 1 if supersedes else 1,
            is_gold=item.is_gold,
            created_at=created_at or utcnow(),
            **fields,
        )
        with self.app.app_context(), db.write_session() as s:
            row.shown_sha256 = shown_of_item(
                session=s,
                item_id=item.id,
                shown_order=row.shown_order,
                guideline_version=row.guideline_version,
            )
            s.add(row)
            s.flush()
            return row


def lease_and_judgment(app: Flask, project: Project, items: list[Item], rater: User) -> None:
    """Give ``rater`` an active lease on items[0] and a submitted judgment on items[1]."""
    from datetime import timedelta

    from service.models import Assignment, Judgment, utcnow

    with app.app_context(), db.write_session() as s:
        s.add(
            Assignment(
                project_id=project.id,
                item_id=items[0].id,
                rater_id=rater.id,
                shown_order=["a", "b"],
                expires_at=utcnow() + timedelta(minutes=30),
            )
        )
        done = Assignment(
            project_id=project.id,
            item_id=items[1].id,
            rater_id=rater.id,
            status="submitted",
            shown_order=["b", "a"],
            expires_at=utcnow() + timedelta(minutes=30),
            finished_at=utcnow(),
        )
        s.add(done)
        s.flush()
        # Both leases hold a slot, as if handed out (slots.take_next): counters stay true.
        for item in items[:2]:
            slots.change(session=s, item_id=item.id, taken=1)
        s.add(
            Judgment(
                client_id=f"c-{rater.id}",
                project_id=project.id,
                item_id=items[1].id,
                rater_id=rater.id,
                assignment_id=done.id,
                mode="pairwise",
                shown_order=["b", "a"],
                verdict={"preferred": "a", "strength": 2, "scale_value": 1},
                rationale="A is clearer.",
                shown_sha256=shown_of_item(
                    session=s, item_id=items[1].id, shown_order=["b", "a"], guideline_version=1
                ),
            )
        )


_SQLITE_GUARD = (
    "CREATE TRIGGER judgment_no_update BEFORE UPDATE ON judgment BEGIN SELECT "
    "RAISE(ABORT, 'judgments are append-only: record a new version instead'); END"
)


@contextmanager
def rewriting_history(session: Any) -> Iterator[None]:
    """Lift the database's append-only guard on judgments, only to back-date test data.

    Tests made in seconds sometimes need a campaign spread over days; nothing in the
    service itself may ever update a judgment.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text("DROP TRIGGER judgment_no_update"))
        yield
        session.execute(sa.text(_SQLITE_GUARD))
    else:
        session.execute(sa.text("ALTER TABLE judgment DISABLE TRIGGER judgment_append_only"))
        yield
        session.execute(sa.text("ALTER TABLE judgment ENABLE TRIGGER judgment_append_only"))


def insert_as_of(session: Any, row: Any) -> Any:
    """Insert a model row into its table as the database has it now (an older migration).

    Only the columns the table has are written, so a test can build data at an old
    revision with today's models; the row gets its id.
    """
    table = sa.Table(row.__tablename__, sa.MetaData(), autoload_with=session.connection())
    model = type(row).__table__
    values = {}
    for name in (column.key for column in table.columns):
        value = getattr(row, name, None)
        if value is None and model.c[name].default is not None:
            value = model.c[name].default.arg
            value = value(None) if callable(value) else value
        if value is not None:
            values[name] = value
    row.id = session.execute(table.insert().values(**values).returning(table.c.id)).scalar()
    return row


def add_judge(app: Flask, project: Project, name: str = "judge-1") -> Any:
    """Insert a model judge on ``project`` (its config is the judging package's business)."""
    from service.models import Judge

    with app.app_context(), db.write_session() as s:
        judge = Judge(project_id=project.id, name=name, config={"model": "fake"})
        s.add(judge)
        s.flush()
        return judge


def add_verdict(
    app: Flask,
    item: Item,
    judge: Any,
    shown: list[str],
    *,
    preferred: str | None = None,
    verdict: dict[str, Any] | None = None,
    rubric: dict[str, Any] | None = None,
) -> Any:
    """Insert one judge verdict on ``item`` in the order ``shown``, as the runner stores it,
    and settle the item's triage and budget capacity in the same transaction."""
    from service.models import JudgeVerdict
    from service.rating import judged

    with app.app_context(), db.write_session() as s:
        row = JudgeVerdict(
            project_id=item.project_id,
            item_id=item.id,
            judge_id=judge.id,
            shown_order=shown,
            verdict=verdict if verdict is not None else {"preferred": preferred, "strength": None},
            rubric=rubric or {"response": {}, "item": {}},
            shown_sha256=shown_of_item(
                session=s, item_id=item.id, shown_order=shown, guideline_version=1
            ),
            request_sha256=uuid.uuid4().hex * 2,
        )
        s.add(row)
        s.flush()
        judged.after_verdicts(session=s, project=s.get(Project, item.project_id), item_id=item.id)
        return row
