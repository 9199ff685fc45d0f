"""annotation: rewrite the best response

``project.edit`` (off, preferred or any; off by default, existing projects too) lets
raters rewrite a response after the verdict. A judgment records the rewrite in
``rewrite_response_id`` (which response), ``rewrite_text`` (the new text) and
``rewrite_original_sha256`` (the hash of the original text shown); null without one.

Plain ``add_column``/``drop_column``: SQLite does both in place, so the judgment table
(and its append-only triggers) is never rebuilt.

Revision ID: ann_rewrite
Revises: ann_spans
Create Date: 2026-12-05 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "ann_rewrite"
down_revision: str | None = "ann_spans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "project",
        sa.Column(
            "edit",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
            server_default="off",
        ),
    )
    op.add_column(
        "judgment",
        sa.Column(
            "rewrite_response_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        ),
    )
    op.add_column(
        "judgment", sa.Column("rewrite_text", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
    )
    op.add_column(
        "judgment",
        sa.Column(
            "rewrite_original_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
    )


def downgrade() -> None:
    # In place on SQLite (3.35+) too: a batch copy of judgment would lose its triggers.
    op.drop_column("judgment", "rewrite_original_sha256")
    op.drop_column("judgment", "rewrite_text")
    op.drop_column("judgment", "rewrite_response_id")
    op.drop_column("project", "edit")
