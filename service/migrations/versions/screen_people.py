"""people: per-project membership and expertise; adjudications that overrule a majority

``qualification_reset`` lets a rater qualify again from their next gold answer.
``project_member`` says which raters a project is for (a project with no active
member stays open to every rater) and may give a rater project-specific expertise.
``adjudication.overrode_majority`` records that an admin overruled the raters'
majority, which the service allows only with a reason and an explicit confirm.

Revision ID: screen_people
Revises: screen_admin
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "screen_people"
down_revision: str | None = "screen_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "project_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("expertise", sa.JSON(), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "user_id"),
    )
    op.create_index("ix_project_member_user_id", "project_member", ["user_id"])
    op.create_table(
        "qualification_reset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("rater_id", sa.Integer(), nullable=False),
        sa.Column("after_judgment_id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["admin_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["rater_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "rater_id"),
    )
    with op.batch_alter_table("adjudication") as batch:
        batch.add_column(
            sa.Column("overrode_majority", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("adjudication") as batch:
        batch.drop_column("overrode_majority")
    op.drop_table("qualification_reset")
    op.drop_index("ix_project_member_user_id", table_name="project_member")
    op.drop_table("project_member")
