"""one judge run per project at a time: the lease row that holds the token budget

``judge_run_lease`` holds, per project, the pull run of the judge that may spend the
judges' token budget now (service/judging/lease.py), so two judge runs of one project
cannot each read the same budget and together overspend it.

Revision ID: judge_run_lease
Revises: ann_tools
Create Date: 2026-12-06 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.models

revision: str = "judge_run_lease"
down_revision: str | None = "ann_tools"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "judge_run_lease",
        sa.Column("project_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("judge_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("taken_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["judge_id"], ["judge.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["pull_run.id"]),
        sa.PrimaryKeyConstraint("project_id"),
    )


def downgrade() -> None:
    op.drop_table("judge_run_lease")
