"""model judges: judges, their verdicts and attempts; a project's judge settings

``judge`` holds a project's model judges (config owned by service/judging/).
``judge_verdict`` holds their verdicts, apart from human judgments, one row per item
and order shown (unique per judge and request hash: the cache). ``judge_attempt`` keeps
every call, failed ones with their reason. ``project.judge_*`` hold the display to
raters, the token budget, triage and budget mode; ``judgment.judge_view`` records what
the rater was shown of the judges.

Plain ``add_column``/``drop_column``: SQLite does both in place, so the judgment table
(and its append-only triggers) is never rebuilt.

Revision ID: judges_schema
Revises: adapt_overlap
Create Date: 2026-12-05 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.models

revision: str = "judges_schema"
down_revision: str | None = "adapt_overlap"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = service.models.UTCDateTime(timezone=True)


def _project_columns() -> list[sa.Column]:
    return [
        sa.Column("judge_display", _STR(length=16), nullable=False, server_default="hidden"),
        sa.Column("judge_token_budget", sa.BigInteger(), nullable=True),
        sa.Column("judge_triage", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("judge_budget", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("judge_budget_overlap", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("judge_audit_share", sa.Float(), nullable=False, server_default="0.1"),
    ]


def upgrade() -> None:
    op.create_table(
        "judge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", _STR(length=80), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_index("ix_judge_project_id", "judge", ["project_id"])
    op.create_table(
        "judge_verdict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("judge_id", sa.Integer(), nullable=False),
        sa.Column("shown_order", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=False),
        sa.Column("rubric", sa.JSON(), nullable=False),
        sa.Column("rationale", _STR(), nullable=False),
        sa.Column("guideline_version", sa.Integer(), nullable=False),
        sa.Column("shown_sha256", _STR(length=64), nullable=False),
        sa.Column("request_sha256", _STR(length=64), nullable=False),
        sa.Column("served_model", _STR(length=200), nullable=False),
        sa.Column("usage", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["judge_id"], ["judge.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("judge_id", "request_sha256"),
    )
    op.create_index("ix_judge_verdict_project_id", "judge_verdict", ["project_id"])
    op.create_index("ix_judge_verdict_item", "judge_verdict", ["item_id", "judge_id"])
    op.create_table(
        "judge_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("judge_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("shown_order", sa.JSON(), nullable=False),
        sa.Column("request_sha256", _STR(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("reason", _STR(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("verdict_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["judge_id"], ["judge.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["verdict_id"], ["judge_verdict.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_judge_attempt_project_id", "judge_attempt", ["project_id"])
    op.create_index("ix_judge_attempt_judge_item", "judge_attempt", ["judge_id", "item_id"])
    for column in _project_columns():
        op.add_column("project", column)
    op.add_column(
        "judgment",
        sa.Column("judge_view", _STR(length=16), nullable=False, server_default="hidden"),
    )


def downgrade() -> None:
    # In place on SQLite (3.35+) too: a batch copy of judgment would lose its triggers.
    op.drop_column("judgment", "judge_view")
    for column in reversed(_project_columns()):
        op.drop_column("project", column.name)
    op.drop_index("ix_judge_attempt_judge_item", table_name="judge_attempt")
    op.drop_index("ix_judge_attempt_project_id", table_name="judge_attempt")
    op.drop_table("judge_attempt")
    op.drop_index("ix_judge_verdict_item", table_name="judge_verdict")
    op.drop_index("ix_judge_verdict_project_id", table_name="judge_verdict")
    op.drop_table("judge_verdict")
    op.drop_index("ix_judge_project_id", table_name="judge")
    op.drop_table("judge")
