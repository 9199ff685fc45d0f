"""guidelines: keep every saved version, so the admin console can list and diff them

``project.guideline_version`` stays the current number (judgments keep recording the
version their rater saw); ``guideline_version`` holds the text of each. The current
text of every project is stored as its current version.

Revision ID: screen_admin
Revises: integ_import
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.models

revision: str = "screen_admin"
down_revision: str | None = "integ_import"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guideline_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "version"),
    )
    op.create_index(op.f("ix_guideline_version_project_id"), "guideline_version", ["project_id"])
    # Backfill: the text a project holds now is its current version; earlier texts
    # were overwritten before this table existed and cannot be recovered.
    op.execute(
        "INSERT INTO guideline_version (project_id, version, text, created_by, created_at) "
        "SELECT id, guideline_version, guidelines, NULL, updated_at FROM project"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_guideline_version_project_id"), table_name="guideline_version")
    op.drop_table("guideline_version")
