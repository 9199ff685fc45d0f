"""adaptive model pairing: project.pairing and project.pairing_uniform_share

``project.pairing`` says which replies a generated pairwise item compares: "all" (every
good reply, as before and for existing projects) or "adaptive" (two models, chosen to
narrow the leaderboard's intervals, service/pull/pairing.py); ``pairing_uniform_share``
is the share of those pairs chosen uniformly at random.

Plain ``add_column``/``drop_column``: SQLite does both in place.

Revision ID: adapt_pairing
Revises: screen_rater
Create Date: 2026-12-05 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "adapt_pairing"
down_revision: str | None = "screen_rater"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "project",
        sa.Column(
            "pairing",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
            server_default="all",
        ),
    )
    op.add_column(
        "project",
        sa.Column("pairing_uniform_share", sa.Float(), nullable=False, server_default="0.3"),
    )


def downgrade() -> None:
    op.drop_column("project", "pairing_uniform_share")
    op.drop_column("project", "pairing")
