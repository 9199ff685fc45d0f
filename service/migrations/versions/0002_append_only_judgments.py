"""Judgments are append-only: the database refuses UPDATE and DELETE on them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 23:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "judgments are append-only: record a new version instead"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER judgment_no_{event.lower()} BEFORE {event} ON judgment "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION judgment_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER judgment_append_only BEFORE UPDATE OR DELETE ON judgment "
        "FOR EACH ROW EXECUTE FUNCTION judgment_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER judgment_no_update")
        op.execute("DROP TRIGGER judgment_no_delete")
        return
    op.execute("DROP TRIGGER judgment_append_only ON judgment")
    op.execute("DROP FUNCTION judgment_append_only()")
