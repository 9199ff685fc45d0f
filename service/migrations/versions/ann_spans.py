"""error spans: a project's span labels, and the spans each judgment marks

``project.span_labels`` (a JSON list, empty: spans off) and ``project.span_overlap``
(whether two spans of one response may overlap) are settings; ``judgment.spans`` holds
the spans a rater marked, each with character offsets into the response text shown and
that text's sha256 (service/rating/spans.py). Existing rows get no spans.

Plain ``add_column``/``drop_column``: SQLite does both in place, so the judgment table
(and its append-only triggers) is never rebuilt.

Revision ID: ann_spans
Revises: adapt_pairing
Create Date: 2026-12-05 20:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ann_spans"
down_revision: str | None = "adapt_pairing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "project",
        sa.Column("span_labels", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column(
        "project",
        sa.Column("span_overlap", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "judgment",
        sa.Column("spans", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    # In place on SQLite (3.35+) too: a batch copy of judgment would lose its triggers.
    op.drop_column("judgment", "spans")
    op.drop_column("project", "span_overlap")
    op.drop_column("project", "span_labels")
