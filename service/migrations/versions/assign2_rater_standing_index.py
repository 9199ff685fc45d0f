"""A rater's standing in a project from one index: their leases by project and state.

"Next item" counts the rater's live and submitted leases in the project (caps, gold
rate) and looks for their live lease. With only (rater_id, status) and (project_id)
indexes, the database scanned every lease of the project: a cost growing with the
campaign (1.3 ms per request after 6,000 judgments on SQLite). This covering index
makes those reads proportional to the rater's own work.

Revision ID: assign2
Revises: assign1
Create Date: 2026-11-29 02:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "assign2"
down_revision: str | None = "assign1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["rater_id", "project_id", "status", "expires_at", "is_gold", "created_at"]


def upgrade() -> None:
    op.drop_index("ix_assignment_rater_status", table_name="assignment")
    op.create_index("ix_assignment_rater_project", "assignment", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_assignment_rater_project", table_name="assignment")
    op.create_index("ix_assignment_rater_status", "assignment", ["rater_id", "status"])
