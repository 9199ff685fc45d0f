"""an export reads a project's judgments in item order from an index, not a sort

The export streams current judgments ordered by (item_id, id) for its projects
(service/export/source.py). With only (project_id, created_at) to filter on, SQLite
sorted every judgment of the project in a temporary B-tree before returning the first
row (1.1 s of CPU and more wall time at a million judgments); this index hands them
over in order. PostgreSQL can walk it the same way.

Revision ID: judgment_project_item
Revises: item_images
Create Date: 2026-12-06 04:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "judgment_project_item"
down_revision: str | None = "item_images"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_judgment_project_item", "judgment", ["project_id", "item_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_judgment_project_item", table_name="judgment")
