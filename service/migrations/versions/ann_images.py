"""images in items: one row per verified image file of a project

``image`` records each image an import kept (service/images.py): its project, sha256
(the file's name and the marker in the text), verified media type, size in bytes and,
when its header gives them, width and height. The files live under IMAGES_DIR.

Revision ID: ann_images
Revises: judges_triage
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.models

revision: str = "ann_images"
down_revision: str | None = "judges_triage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("sha256", _STR(length=64), nullable=False),
        sa.Column("media_type", _STR(length=32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "sha256"),
    )


def downgrade() -> None:
    op.drop_table("image")
