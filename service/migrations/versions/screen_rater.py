"""rating screen: confirm verdicts that contradict the rubric

``project.confirm_contradictions`` (on by default, existing projects too) makes the
rating screen and the API ask a rater to confirm a verdict that ranks a response above
one they scored higher on every shared scale (service/rating/contradictions.py).
``judgment.contradiction_asked`` records that the rater was asked, and
``contradiction_rationale`` what they answered (empty: just confirmed).

Plain ``add_column``/``drop_column``: SQLite does both in place, so the judgment table
(and its append-only triggers) is never rebuilt.

Revision ID: screen_rater
Revises: integ_slot_overlap
Create Date: 2026-12-05 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "screen_rater"
down_revision: str | None = "integ_slot_overlap"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "project",
        sa.Column("confirm_contradictions", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "judgment",
        sa.Column("contradiction_asked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "judgment",
        sa.Column(
            "contradiction_rationale",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            server_default="",
        ),
    )


def downgrade() -> None:
    # In place on SQLite (3.35+) too: a batch copy of judgment would lose its triggers.
    op.drop_column("judgment", "contradiction_rationale")
    op.drop_column("judgment", "contradiction_asked")
    op.drop_column("project", "confirm_contradictions")
