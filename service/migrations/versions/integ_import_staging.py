"""import: stage batches outside the items, publish them in short transactions

A CLI import used to hold SQLite's write lock from its first line to its last (72 s
for 400k rows) while raters' submissions queued behind it. Lines are now validated
and staged in ``import_stage`` in short transactions, then published; the batch's
``state`` says how far it got, so a crashed import is finished or discarded later.

Revision ID: integ_import
Revises: integ_pairs
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.models

revision: str = "integ_import"
down_revision: str | None = "integ_pairs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = sa.text("state != 'done'")


def upgrade() -> None:
    with op.batch_alter_table("import_batch") as batch:
        batch.add_column(
            sa.Column(
                "state",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="done",
            )
        )
        batch.add_column(
            sa.Column(
                "owner",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch.add_column(
            sa.Column("heartbeat_at", service.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index(
        "ux_import_batch_in_flight",
        "import_batch",
        ["project_id"],
        unique=True,
        sqlite_where=IN_FLIGHT,
        postgresql_where=IN_FLIGHT,
    )
    op.create_table(
        "import_stage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("update", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["import_batch.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_import_stage_batch_id", "import_stage", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_import_stage_batch_id", table_name="import_stage")
    op.drop_table("import_stage")
    op.drop_index("ux_import_batch_in_flight", table_name="import_batch")
    # ALTER TABLE DROP COLUMN (SQLite 3.35+), not batch mode's copy of the table: items
    # reference import_batch, so dropping the old copy fails its foreign keys.
    with op.batch_alter_table("import_batch", recreate="never") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
        batch.drop_column("state")
